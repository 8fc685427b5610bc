import { z } from 'zod';
import { duplicatesOf } from './duplicate-keys.ts';
import { toPointer } from './json-pointer.ts';
import { CONTROL_FREE } from './primitives.ts';
import { RECORD_KINDS, RECORD_SCHEMAS, SERVER_FIELDS, type LedgerRecord, type RecordKind } from './records.ts';

/** One problem with one record: a JSON Pointer into the record, a stable code, a sentence. */
export interface FieldError {
  path: string;
  code: string;
  message: string;
}

export type Validation =
  | { ok: true; record: LedgerRecord }
  | { ok: false; kind?: RecordKind; id?: string; errors: FieldError[] };

/** Deeper than any record the contract allows (Location inside an event is depth 3). */
export const MAX_DEPTH = 16;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const SERVER_FIELD_SET = new Set<string>(SERVER_FIELDS);

export { toPointer };

/** At most this many errors are reported per record; then one `too_many_errors` says how many more. */
export const MAX_ERRORS_PER_RECORD = 20;


function textProblem(s: string): string | undefined {
  if (LONE_SURROGATE.test(s)) return 'text must be valid Unicode (an unpaired surrogate was found)';
  if (!CONTROL_FREE.test(s)) return 'text may not contain control characters other than tab, LF and CR';
  return undefined;
}

/**
 * Any character that needs a closer look: a control character, a surrogate, or anything from U+0300 on
 * (every code point below U+0300 is NFC_Quick_Check=Yes with combining class 0, so a string without
 * this is already NFC). Most text is plain: one scan of it instead of three (surrogates, controls, NFC).
 */
const NEEDS_LOOK = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u0300-\uFFFF]/;

/** One record's pre-pass state: the path walked (a stack, turned into a pointer only for an error) and the errors. */
class Sanitizer {
  readonly errors: FieldError[] = [];
  // Past the cap, errors are only counted: a record of a million bad strings costs no more to answer.
  extra = 0;
  private readonly path: string[] = [];

  private report(code: string, message: string, key?: string): void {
    if (this.errors.length < MAX_ERRORS_PER_RECORD + 1) this.errors.push({ path: toPointer(key === undefined ? this.path : [...this.path, key]), code, message });
    else this.extra++;
  }

  walk(v: unknown): unknown {
    if (typeof v === 'string') {
      if (!NEEDS_LOOK.test(v)) return v;
      const problem = textProblem(v);
      if (problem) {
        this.report('invalid_text', problem);
        return v;
      }
      return v.normalize('NFC');
    }
    if (v === null || typeof v !== 'object') return v;
    const path = this.path;
    if (path.length >= MAX_DEPTH) {
      this.report('too_deep', `nesting deeper than ${MAX_DEPTH} levels is not allowed`);
      return undefined;
    }
    if (Array.isArray(v)) {
      return v.map((item, i) => {
        path.push(String(i));
        const out = this.walk(item);
        path.pop();
        return out;
      });
    }
    const out: Record<string, unknown> = {};
    const top = path.length === 0;
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) {
        this.report('forbidden_key', `the key "${key}" is not allowed`, key);
        continue;
      }
      let name = key;
      if (NEEDS_LOOK.test(key)) {
        const keyProblem = textProblem(key);
        if (keyProblem) {
          this.report('invalid_text', `field name: ${keyProblem}`, key);
          continue;
        }
        name = key.normalize('NFC');
      }
      const item = (v as Record<string, unknown>)[key];
      // null is "absent" (DATA.md: a count that is not known is absent/null), so published records,
      // which carry nulls, can be submitted back as they are.
      if (item === null && !(top && SERVER_FIELD_SET.has(key))) continue;
      path.push(key);
      const value = this.walk(item);
      path.pop();
      // A name that only normalises to "__proto__" must stay a plain member: assigning it would set the prototype.
      if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
      else out[name] = value;
    }
    return out;
  }
}

/**
 * The pre-pass every record goes through before zod: refuses prototype-polluting keys, overly deep
 * nesting and bad text anywhere (also in fields zod would reject as unknown), NFC-normalises every
 * string, and drops object members that are null (absent). Returns a fresh value; the input is kept.
 */
export function sanitize(input: unknown): { value: unknown; errors: FieldError[]; extra: number } {
  const s = new Sanitizer();
  const value = s.walk(input);
  return { value, errors: s.errors, extra: s.extra };
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Maps zod issues to the contract's errors: JSON Pointer paths and stable codes. */
export function toFieldErrors(issues: ReadonlyArray<z.core.$ZodIssue>, input: unknown): FieldError[] {
  const out: FieldError[] = [];
  const bounds = new Map<string, number>();
  for (const issue of issues) {
    const path = issue.path;
    // zod reports a missing enum or literal as a wrong value: for a client it is a missing field.
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && valueAt(input, path) === undefined) {
      out.push({ path: toPointer(path), code: 'required', message: 'this field is required' });
      continue;
    }
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const server = SERVER_FIELD_SET.has(key) && path.length === 0;
          out.push({
            path: toPointer([...path, key]),
            code: server ? 'server_field' : 'unknown_field',
            message: server ? `"${key}" is set by the server and may not be submitted` : `unknown field "${key}"`,
          });
        }
        break;
      case 'invalid_type':
        out.push({ path: toPointer(path), code: 'invalid_type', message: `expected ${issue.expected}` });
        break;
      case 'invalid_value':
        out.push({ path: toPointer(path), code: 'invalid_value', message: `must be one of: ${issue.values.map(String).join(', ')}` });
        break;
      case 'too_small':
      case 'too_big': {
        // z.int() has its own ±(2^53−1) bound beside .min/.max: report one error, with the tighter bound.
        const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
        const pointer = toPointer(path);
        const key = `${pointer} ${issue.code}`;
        const tighter = issue.code === 'too_small' ? bound > (bounds.get(key) ?? -Infinity) : bound < (bounds.get(key) ?? Infinity);
        if (!tighter) break;
        const what = issue.origin === 'string' ? 'length' : issue.origin === 'array' ? 'number of items' : 'value';
        const error = { path: pointer, code: issue.code, message: `${what} must be ${issue.code === 'too_small' ? 'at least' : 'at most'} ${bound}` };
        const at = out.findIndex((e) => e.path === pointer && e.code === issue.code);
        if (at >= 0) out[at] = error;
        else out.push(error);
        bounds.set(key, bound);
        break;
      }
      case 'invalid_format':
        out.push({ path: toPointer(path), code: issue.format === 'regex' && issue.message.includes('control') ? 'invalid_text' : 'invalid_format', message: issue.message });
        break;
      case 'custom': {
        const code = (issue.params as { code?: string } | undefined)?.code ?? 'invalid';
        out.push({ path: toPointer(path), code, message: issue.message });
        break;
      }
      default:
        out.push({ path: toPointer(path), code: issue.code, message: issue.message });
    }
  }
  return out;
}

/**
 * Validates one submitted record against DATA.md. On success the record is normalised: strings NFC,
 * defaults filled in. `expected_revision` is kept (the ingest use case strips it before storing).
 */
export function validateRecord(input: unknown): Validation {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '', code: 'invalid_type', message: 'a record must be a JSON object' }] };
  }
  const { value, errors: sanitized, extra } = sanitize(input);
  // Duplicate member names (recorded by the parser): JSON.parse kept the last, another reader the first.
  const pre = [
    ...duplicatesOf(input).map((path) => ({ path, code: 'duplicate_key', message: 'this member name appears more than once in its object: send it once' })),
    ...sanitized,
  ];
  const obj = value as Record<string, unknown>;
  const id = typeof obj.id === 'string' ? obj.id : undefined;
  const kind = obj.kind;
  const failed = (errors: FieldError[], k?: RecordKind): Validation => {
    const total = errors.length + extra;
    const shown = errors.slice(0, MAX_ERRORS_PER_RECORD);
    if (total > MAX_ERRORS_PER_RECORD) shown.push({ path: '', code: 'too_many_errors', message: `${total - MAX_ERRORS_PER_RECORD} more error(s) not shown: fix these and submit again` });
    return { ok: false, ...(k ? { kind: k } : {}), id, errors: shown };
  };
  if (kind === undefined) return failed([...pre, { path: '/kind', code: 'required', message: `kind is required: one of ${RECORD_KINDS.join(', ')}` }]);
  if (typeof kind !== 'string' || !(RECORD_KINDS as readonly string[]).includes(kind)) {
    return failed([...pre, { path: '/kind', code: 'unknown_kind', message: `kind must be one of ${RECORD_KINDS.join(', ')}` }]);
  }
  const k = kind as RecordKind;
  const parsed = RECORD_SCHEMAS[k].safeParse(value);
  const seen = new Set(pre.map((e) => e.path));
  const errors = [...pre, ...(parsed.success ? [] : toFieldErrors(parsed.error.issues, value).filter((e) => !seen.has(e.path)))];
  if (errors.length > 0 || !parsed.success) return failed(errors, k);
  return { ok: true, record: parsed.data as LedgerRecord };
}
