// The official Frictionless v2 profiles, compiled with ajv (draft-07), to validate release manifests.
// They live beside the checkout (../shared/reference/frictionless-2.0, present in CI); a user's clone has
// no ../shared, so tests that use this are skipped there (see FRICTIONLESS_DIR).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv and ajv-formats are CommonJS; under NodeNext their classes are the `default` of the module object
// (which both packages also set at runtime).
const Ajv = AjvModule.default;
const addFormats = addFormatsModule.default;

export const FRICTIONLESS_DIR = resolve(process.cwd(), '../shared/reference/frictionless-2.0');
export const frictionlessAvailable = (): boolean => existsSync(join(FRICTIONLESS_DIR, 'datapackage.json'));

const load = (file: string): Record<string, unknown> => JSON.parse(readFileSync(join(FRICTIONLESS_DIR, file), 'utf8')) as Record<string, unknown>;

/** Every `$ref` of a schema that points outside it (a URL or a file name, not `#…`). */
function externalRefs(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const v of node) externalRefs(v, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) out.add(v.split('#')[0]!);
      else externalRefs(v, out);
    }
  }
  return out;
}

/**
 * A validator for datapackage.json. The profile's non-standard annotation keywords (`propertyOrder`,
 * `context`, …) are tolerated (strict: false) and its `textarea` format is an annotation; any schema it
 * references by URL is loaded from the same folder and registered under that URL.
 */
export function datapackageValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addFormat('textarea', true);
  const main = load('datapackage.json');
  const local = new Set(readdirSync(FRICTIONLESS_DIR).filter((f) => f.endsWith('.json')));
  const pending = [...externalRefs(main)];
  const added = new Set<string>();
  while (pending.length > 0) {
    const url = pending.pop()!;
    if (added.has(url)) continue;
    const file = basename(new URL(url, 'https://datapackage.org/profiles/2.0/').pathname);
    if (!local.has(file)) throw new Error(`datapackage.json refers to ${url}, which is not in ${FRICTIONLESS_DIR}`);
    const schema = load(file);
    ajv.addSchema(schema, url);
    added.add(url);
    pending.push(...externalRefs(schema));
  }
  return ajv.compile(main);
}
