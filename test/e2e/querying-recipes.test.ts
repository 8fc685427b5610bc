// e2e: every recipe of docs/querying.md, run as written against releases that the real handlers published
// into the real local S3 server (the convention is in the doc's "How these recipes are tested").
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitFiles } from '../../cli/submit.ts';
import { athenaDdl } from '../../schemas/athena.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { fetchObject, listKeys, publishOk, removeDir, retract, sha256, source, sqlString, withDuckDb, type Json } from '../support/release.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC_PATH = join(ROOT, 'docs', 'querying.md');
/** The placeholders the doc uses for the dataset's address and for two release ids (an earlier one, the next). */
const PUBLIC_URL = 'https://<bucket>.s3.<region>.amazonaws.com';
const DOC_FIRST = '20260118T120000Z';
const DOC_SECOND = '20260125T120000Z';

type Kind = 'cli' | 'duckdb' | 'athena' | 'shell';
interface Recipe {
  name: string;
  kind: Kind;
  code: string;
}

/**
 * The recipes of a Markdown text: a fenced block right after `<!-- recipe: NAME (KIND) -->`; and the
 * outputs shown after `<!-- output: NAME -->` (`(prefix)`: the first lines, then a line `…`).
 * A recipe comment that does not parse is an error, so a typo cannot leave a recipe untested.
 */
function parseRecipes(markdown: string): { recipes: Map<string, Recipe>; outputs: Map<string, { text: string; prefix: boolean }> } {
  const recipes = new Map<string, Recipe>();
  const outputs = new Map<string, { text: string; prefix: boolean }>();
  const marker = /^<!--\s*(recipe|output)\b[^>]*-->$/gm;
  for (const m of markdown.matchAll(marker)) {
    const rest = markdown.slice(m.index);
    const recipe = /^<!-- recipe: ([a-z0-9-]+) \((cli|duckdb|athena|shell)\) -->\n```(sh|sql)\n([\s\S]*?)\n```\n/.exec(rest);
    const output = /^<!-- output: ([a-z0-9-]+)( \(prefix\))? -->\n```text\n([\s\S]*?)\n```\n/.exec(rest);
    if (m[1] === 'recipe' && recipe) {
      const [, name, kind, lang, code] = recipe as unknown as [string, string, Kind, string, string];
      if (recipes.has(name)) throw new Error(`recipe ${name} appears twice`);
      if ((lang === 'sql') !== (kind === 'duckdb' || kind === 'athena')) throw new Error(`recipe ${name}: a ${kind} recipe in a \`\`\`${lang} block`);
      recipes.set(name, { name, kind, code });
    } else if (m[1] === 'output' && output) {
      outputs.set(output[1]!, { text: output[3]!, prefix: output[2] !== undefined });
    } else {
      throw new Error(`cannot read ${JSON.stringify(m[0])}: write <!-- recipe: NAME (cli|duckdb|athena|shell) --> or <!-- output: NAME -->, then a fenced block`);
    }
  }
  return { recipes, outputs };
}

const { recipes, outputs } = parseRecipes(readFileSync(DOC_PATH, 'utf8'));
const EXAMPLES = readFileSync(join(ROOT, 'examples', 'records.ndjson'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Json);
const exampleClaims = EXAMPLES.filter((r) => r.kind === 'claim');
const exampleEvents = EXAMPLES.filter((r) => r.kind === 'event');

// What the second release changes, against the first (the example dataset as published by npm start).
const MODIFIED = 'clm-ihr-killed-6000';
const ADDED_TAG = 'cross-checked';
const RETRACTED = 'clm-arrests-per-year-2-million';
const RETRACTION_REASON = 'an annual rate, not a count of arrests during the uprising';
const ADDED_SOURCE = 'src-querying-recipes-added';

let stack: TestStack;
let first: string;
let second: string;
/** A copy of the bucket, every object fetched over plain HTTP, under the same keys. */
let mirror: string;
/** HOME (and the query cache) of the shell recipes. */
let home: string;

const withIds = (code: string) => code.replaceAll(DOC_FIRST, first).replaceAll(DOC_SECOND, second);
const forHttp = (code: string) => withIds(code).replaceAll(PUBLIC_URL, stack.publicBaseUrl);
const forMirror = (code: string) => withIds(code).replaceAll(PUBLIC_URL, mirror);

function recipe(name: string, kind: Kind): Recipe {
  const r = recipes.get(name);
  expect(r, `docs/querying.md has no recipe ${name}`).toBeDefined();
  expect(r!.kind).toBe(kind);
  return r!;
}

/** Runs a cli/shell recipe in bash from the project's folder, as a reader would, with a throw-away HOME. */
async function runShell(code: string): Promise<{ code: number; out: string; err: string }> {
  const env = {
    ...process.env,
    HOME: home,
    XDG_CACHE_HOME: join(home, '.cache'),
    // npx must find this project's own bin, never ask a registry.
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_update_notifier: 'false',
  };
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', ['-eo', 'pipefail', '-c', code], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

const runDuckDb = (sql: string): Promise<Json[]> => withDuckDb((q) => q(sql));

interface DdlTable {
  name: string;
  columns: Array<{ name: string; type: string }>;
  partitioned: boolean;
  /** LOCATION, or the projection's storage.location.template. */
  location: string;
}

/** The tables of schemas/athena.ts's DDL, read from the DDL text itself. */
function ddlTables(bucket: string): { database: string; tables: Map<string, DdlTable> } {
  const ddl = athenaDdl(bucket);
  const database = /CREATE DATABASE IF NOT EXISTS (\w+);/.exec(ddl)![1]!;
  const tables = new Map<string, DdlTable>();
  const statement = /CREATE EXTERNAL TABLE IF NOT EXISTS (\w+)\.(\w+) \(\n([\s\S]*?)\n\)\n(PARTITIONED BY \(`v` string\)\n)?STORED AS PARQUET\nLOCATION '([^']+)'(?:\nTBLPROPERTIES \(([\s\S]*?)\n\))?;/g;
  for (const m of ddl.matchAll(statement)) {
    expect(m[1]).toBe(database);
    const columns = m[3]!.split(',\n').map((line) => {
      const c = /^\s+`(\w+)` (.+)$/.exec(line);
      expect(c, `DDL column line ${line}`).not.toBeNull();
      return { name: c![1]!, type: c![2]! };
    });
    const template = m[6] ? /'storage\.location\.template' = '([^']+)'/.exec(m[6])?.[1] : undefined;
    tables.set(m[2]!, { name: m[2]!, columns, partitioned: m[4] !== undefined, location: template ?? m[5]! });
  }
  expect(tables.size).toBeGreaterThan(0);
  return { database, tables };
}

const DUCK_TYPE: Record<string, string> = { string: 'VARCHAR', bigint: 'BIGINT', double: 'DOUBLE', date: 'DATE', timestamp: 'TIMESTAMP', 'array<string>': 'VARCHAR[]' };

/**
 * Runs an Athena recipe in DuckDB over views named like the Glue tables, each with exactly the DDL's
 * columns (and `v` for the history tables, one release per value), reading the locations the DDL names.
 * Checks first that every table the recipe names is in the DDL, and that it names a release for each
 * history table it reads (Athena's injected projection refuses a query without one).
 */
async function runAthena(sql: string): Promise<Json[]> {
  const bucket = 'rights-ledger-public-bucket';
  const { database, tables } = ddlTables(bucket);
  const named = [...sql.matchAll(new RegExp(`\\b${database}\\.(\\w+)`, 'g'))].map((m) => m[1]!);
  expect(named.length, 'an Athena recipe names its tables with the database').toBeGreaterThan(0);
  for (const t of named) {
    expect([...tables.keys()], `table ${database}.${t}`).toContain(t);
    if (tables.get(t)!.partitioned) expect(sql, `${database}.${t} is read without naming a release (v = '…')`).toMatch(/\bv = '\d{8}T\d{6}Z'/);
  }
  const local = (location: string) => `${location.replace(`s3://${bucket}`, mirror)}*.parquet`;
  const views = [`CREATE SCHEMA ${database};`];
  for (const t of tables.values()) {
    const cols = t.columns.map((c) => {
      const type = DUCK_TYPE[c.type];
      expect(type, `Athena type ${c.type}`).toBeDefined();
      return `CAST("${c.name}" AS ${type}) AS "${c.name}"`;
    });
    const from = t.partitioned
      ? [first, second].map((v) => `SELECT *, ${sqlString(v)} AS v FROM read_parquet(${sqlString(local(t.location.replace('${v}', v)))})`).join(' UNION ALL BY NAME ')
      : `SELECT * FROM read_parquet(${sqlString(local(t.location))})`;
    views.push(`CREATE VIEW ${database}.${t.name} AS SELECT ${cols.join(', ')}${t.partitioned ? ', v' : ''} FROM (${from});`);
  }
  return withDuckDb(async (q) => {
    await q(views.join('\n'));
    return q(sql);
  });
}

/** The tolls that the doc's WHERE keeps: killed, everyone, a period that covers 8–9 January 2026. */
const comparableTolls = exampleClaims
  .filter((c) => c.metric === 'killed' && (c.population ?? 'all') === 'all' && c.period_start <= '2026-01-09' && (c.period_end ?? c.period_start) >= '2026-01-08')
  .sort((a, b) => (a.value.best ?? a.value.low ?? a.value.high) - (b.value.best ?? b.value.low ?? b.value.high) || (a.claimant < b.claimant ? -1 : a.claimant > b.claimant ? 1 : 0));

const str = (n: number | undefined) => (n === undefined ? null : String(n));

beforeAll(async () => {
  stack = await startTestStack();
  // As a contributor loads it (the CLI's client retries a busy store's 503; resending is safe).
  const loaded = await submitFiles([join(ROOT, 'examples', 'records.ndjson')], { endpoint: stack.url, key: stack.editorKey, progress: false });
  expect(loaded.rejections).toEqual([]);
  expect(loaded.created).toBe(EXAMPLES.length);
  first = (await publishOk(stack)).version;
  const modified = EXAMPLES.find((x) => x.id === MODIFIED)!;
  home = await mkdtemp(join(tmpdir(), 'ledger-recipes-home-'));
  const edits = join(home, 'second-release.ndjson');
  await writeFile(edits, [{ ...modified, tags: [...modified.tags, ADDED_TAG] }, source(ADDED_SOURCE)].map((x) => JSON.stringify(x)).join('\n'));
  const sent = await submitFiles([edits], { endpoint: stack.url, key: stack.editorKey, progress: false });
  expect(sent).toMatchObject({ updated: 1, created: 1, rejected: 0 });
  await retract(stack, 'claim', RETRACTED, RETRACTION_REASON);
  const p = await publishOk(stack);
  second = p.version;
  expect(p.changes).toEqual({ add: 1, modify: 1, delete: 1 });
  // The doc's placeholder ids must not collide with real ones (the rewrite would be ambiguous).
  for (const placeholder of [DOC_FIRST, DOC_SECOND]) expect([first, second]).not.toContain(placeholder);

  mirror = await mkdtemp(join(tmpdir(), 'ledger-recipes-bucket-'));
  for (const key of await listKeys(stack.ctx.objects)) {
    await mkdir(dirname(join(mirror, key)), { recursive: true });
    await writeFile(join(mirror, key), await fetchObject(stack.publicBaseUrl, key));
  }
});

afterAll(async () => {
  await stack?.close();
  if (mirror) await removeDir(mirror);
  if (home) await removeDir(home);
});

/** One check per recipe of the doc, named as the recipe. */
const CHECKS: Record<string, () => Promise<void>> = {
  'cli-events-by-type': async () => {
    const r = await runShell(forHttp(recipe('cli-events-by-type', 'cli').code));
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    const shown = outputs.get('cli-events-by-type');
    expect(shown?.prefix).toBe(true);
    const shownLines = shown!.text.split('\n');
    expect(shownLines.at(-1)).toBe('…');
    expect(lines.slice(0, shownLines.length - 1)).toEqual(shownLines.slice(0, -1));
    const rows = lines.slice(2, -1).map((l) => l.split(' │ ').map((s) => s.trim()));
    expect(rows.reduce((n, [, count]) => n + Number(count), 0)).toBe(exampleEvents.length);
    expect(lines.at(-1)).toBe(`(${new Set(exampleEvents.map((e) => e.event_type)).size} rows)`);
    expect(r.err).toContain(`release ${second}: downloading and verifying`);
  },

  'cli-tolls-csv': async () => {
    const r = await runShell(forHttp(recipe('cli-tolls-csv', 'cli').code));
    expect(r.code, r.err).toBe(0);
    expect(r.out.trimEnd()).toBe(outputs.get('cli-tolls-csv')!.text);
    const rows = r.out.trimEnd().split('\n').slice(1);
    expect(rows.map((l) => l.split(',')[0])).toEqual(comparableTolls.map((c) => c.claimant));
    expect(r.out).not.toContain('2019-11');
    expect(r.err).toContain(`release ${first}: downloading and verifying`);
  },

  'cli-persons-json': async () => {
    const r = await runShell(forHttp(recipe('cli-persons-json', 'cli').code));
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as Json[];
    expect(rows).toHaveLength(EXAMPLES.filter((x) => x.kind === 'person').length);
    expect(rows).toContainEqual({ name: 'Morteza Heshmati', fate: 'killed', admin1: 'Kermanshah', first_published: first });
    expect(rows.map((p) => p.first_published)).toEqual(rows.map(() => first));
    expect(r.err).toContain(`release ${second}`);
  },

  'duckdb-one-part': async () => {
    expect(await runDuckDb(forMirror(recipe('duckdb-one-part', 'duckdb').code))).toEqual([{ events: String(exampleEvents.length) }]);
  },

  'duckdb-parts-from-manifest': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-parts-from-manifest', 'duckdb').code));
    const latest = exampleClaims.filter((c) => c.id !== RETRACTED);
    const counts = new Map<string, number>();
    for (const c of latest) counts.set(c.metric, (counts.get(c.metric) ?? 0) + 1);
    expect(Object.fromEntries(rows.map((x) => [x.metric, Number(x.claims)]))).toEqual(Object.fromEntries(counts));
    expect(rows.find((x) => x.metric === 'arrested')?.claims).toBe('1');
  },

  'duckdb-claims-with-sources': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-claims-with-sources', 'duckdb').code));
    const pairs = exampleClaims.filter((c) => c.metric === 'killed').flatMap((c) => c.source_ids);
    expect(rows).toHaveLength(pairs.length);
    expect(rows[0]).toMatchObject({ value_low: '120000' });
    expect(rows).toContainEqual(expect.objectContaining({ claimant: 'Iran International', qualifier: 'at_least', value_low: '12000', publisher: 'All Israel News', publisher_type: 'independent_media', reliability: 'likely' }));
  },

  'duckdb-conflicting-tolls': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-conflicting-tolls', 'duckdb').code));
    expect(rows.map((x) => x.claimant)).toEqual(comparableTolls.map((c) => c.claimant));
    expect(rows.map((x) => [x.qualifier, x.value_low, x.value_best, x.value_high, x.quote])).toEqual(comparableTolls.map((c) => [c.qualifier, str(c.value.low), str(c.value.best), str(c.value.high), c.quote ?? null]));
    expect(rows).toContainEqual(expect.objectContaining({ claimant: 'Iran International', qualifier: 'at_least', value_low: '12000', value_best: null }));
  },

  'duckdb-pinned-version': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-pinned-version', 'duckdb').code));
    expect(rows.map((x) => x.id)).toEqual(exampleClaims.map((c) => c.id).sort());
    // Retracted in the next release, still in the cited one.
    expect(rows).toContainEqual(expect.objectContaining({ id: RETRACTED, value_best: '2000000', first_published: first }));
    expect(new Set(rows.map((x) => x.first_published))).toEqual(new Set([first]));
  },

  'duckdb-changes': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-changes', 'duckdb').code));
    expect(rows).toEqual([
      { op: 'delete', table_name: 'claims', id: RETRACTED, previous_revision: '1', revision: null, reason: RETRACTION_REASON },
      { op: 'modify', table_name: 'claims', id: MODIFIED, previous_revision: '1', revision: '2', reason: null },
      { op: 'add', table_name: 'sources', id: ADDED_SOURCE, previous_revision: null, revision: '1', reason: null },
    ]);
  },

  'duckdb-before-after': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-before-after', 'duckdb').code));
    const tags = EXAMPLES.find((x) => x.id === MODIFIED)!.tags;
    expect(rows).toEqual([{ id: MODIFIED, before_revision: '1', before_tags: tags, after_revision: '2', after_tags: [...tags, ADDED_TAG] }]);
  },

  'duckdb-nested-json': async () => {
    const rows = await runDuckDb(forMirror(recipe('duckdb-nested-json', 'duckdb').code));
    const expected = exampleEvents
      .filter((e) => e.location.admin2 === 'Khoy')
      .flatMap((e) => e.actors.map((a: Json) => ({ key: [e.date_start, e.id, a.name], row: { date_start: e.date_start, event_type: e.event_type, city: 'Khoy', actor: a.name, role: a.role } })))
      .sort((x, y) => (x.key.join('\u0000') < y.key.join('\u0000') ? -1 : 1))
      .map((x) => x.row);
    expect(expected.length).toBeGreaterThan(3);
    expect(rows).toEqual(expected);
  },

  'athena-conflicting-tolls': async () => {
    const athena = await runAthena(withIds(recipe('athena-conflicting-tolls', 'athena').code));
    expect(athena.map((x) => x.claimant)).toEqual(comparableTolls.map((c) => c.claimant));
    expect(athena).toEqual(await runDuckDb(forMirror(recipe('duckdb-conflicting-tolls', 'duckdb').code)));
  },

  'athena-claims-with-sources': async () => {
    const athena = await runAthena(withIds(recipe('athena-claims-with-sources', 'athena').code));
    expect(athena).toContainEqual(expect.objectContaining({ claimant: 'Iran International', publisher: 'All Israel News', reliability: 'likely' }));
    expect(athena).toEqual(await runDuckDb(forMirror(recipe('duckdb-claims-with-sources', 'duckdb').code)));
  },

  'athena-pinned-version': async () => {
    const athena = await runAthena(withIds(recipe('athena-pinned-version', 'athena').code));
    expect(athena).toHaveLength(exampleClaims.length);
    expect(athena).toContainEqual(expect.objectContaining({ id: RETRACTED, first_published: first }));
    expect(athena).toEqual(await runDuckDb(forMirror(recipe('duckdb-pinned-version', 'duckdb').code)));
  },

  'athena-changes': async () => {
    const athena = await runAthena(withIds(recipe('athena-changes', 'athena').code));
    expect(athena.map((x) => [x.op, x.id])).toEqual([['delete', RETRACTED], ['modify', MODIFIED], ['add', ADDED_SOURCE]]);
    expect(athena).toEqual(await runDuckDb(forMirror(recipe('duckdb-changes', 'duckdb').code)));
  },

  'athena-before-after': async () => {
    const athena = await runAthena(withIds(recipe('athena-before-after', 'athena').code));
    expect(athena).toHaveLength(1);
    expect(athena[0]).toMatchObject({ id: MODIFIED, before_revision: '1', after_revision: '2' });
    expect(athena).toEqual(await runDuckDb(forMirror(recipe('duckdb-before-after', 'duckdb').code)));
  },

  'athena-events-per-day': async () => {
    const athena = await runAthena(withIds(recipe('athena-events-per-day', 'athena').code));
    const expected = new Map<string, number>();
    for (const e of exampleEvents) expected.set(`${e.date_start} ${e.event_type}`, (expected.get(`${e.date_start} ${e.event_type}`) ?? 0) + 1);
    expect(Object.fromEntries(athena.map((x) => [`${x.date_start} ${x.event_type}`, Number(x.events)]))).toEqual(Object.fromEntries(expected));
    expect(athena.map((x) => `${x.date_start} ${x.event_type}`)).toEqual([...expected.keys()].sort());
  },

  'shell-download-verify': async () => {
    const r = await runShell(forHttp(recipe('shell-download-verify', 'shell').code));
    expect(r.code, r.err).toBe(0);
    const sums = (await readFile(join(home, 'ledger-releases', first, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    expect(sums.length).toBeGreaterThan(10);
    // download's summary, then one line per file from sha256sum -c.
    expect(r.out).toContain(`all hashes verified, chain verified back to ${first}`);
    const checked = r.out.split('\n').filter((l) => /: (OK|FAILED.*)$/.test(l));
    expect(checked.sort()).toEqual(sums.map((l) => `${l.slice(66)}: OK`).sort());
    expect(r.out).toContain('manifest.json: OK');
    expect(r.out).toContain('tables/claims/part-00000.parquet: OK');
  },

  'shell-chain-link': async () => {
    const code = recipe('shell-chain-link', 'shell').code;
    const r = await runShell(forHttp(code));
    expect(r.code, r.err).toBe(0);
    const firstManifest = await fetchObject(stack.publicBaseUrl, `releases/${first}/manifest.json`);
    expect(r.out.trim()).toBe(`chain link OK: ${sha256(firstManifest)}`);
    // The same recipe against a link that does not hold (the newer manifest against itself) fails.
    const broken = await runShell(forHttp(code.replaceAll(DOC_FIRST, DOC_SECOND)));
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('CHAIN BROKEN');
  },

  'duckdb-verify-chain': async () => {
    const sql = forMirror(recipe('duckdb-verify-chain', 'duckdb').code);
    expect(await runDuckDb(sql)).toEqual([
      { version: first, previous_version: null, ok: null },
      { version: second, previous_version: first, ok: true },
    ]);
    // A rewritten past manifest (one byte more) breaks the link to it.
    const path = join(mirror, 'releases', first, 'manifest.json');
    const original = await readFile(path);
    await writeFile(path, Buffer.concat([original, Buffer.from('\n')]));
    try {
      expect((await runDuckDb(sql)).map((x) => x.ok)).toEqual([null, false]);
    } finally {
      await writeFile(path, original);
    }
  },
};

describe('docs/querying.md', () => {
  it('every recipe has a check here, and every check a recipe (a recipe added to the doc without a test fails)', () => {
    expect([...recipes.keys()].sort()).toEqual(Object.keys(CHECKS).sort());
    for (const name of outputs.keys()) expect([...recipes.keys()], `output ${name}`).toContain(name);
  });

  it('recipes use the placeholders the test rewrites, not a real address', () => {
    for (const r of recipes.values()) {
      if (r.kind !== 'athena') expect(r.code, r.name).toContain(PUBLIC_URL);
      expect(r.code, r.name).not.toMatch(/127\.0\.0\.1|localhost/);
    }
  });

  for (const [name, check] of Object.entries(CHECKS)) it(`recipe ${name}`, check);
});
