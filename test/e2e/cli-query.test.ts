// e2e: `query` (RUN.md) over releases published by the real handlers into the real local S3 server: SQL
// with the project's own DuckDB, each table a view by its name, the release downloaded and verified once.
import { appendFile, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatResult, runQueryCommand } from '../../cli/query.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { claim, event, source, submitOk } from '../support/release.ts';

let stack: TestStack;
let cacheDir: string;
let first: string;
let second: string;
const dirs: string[] = [];

async function publish(): Promise<string> {
  const p = await call(stack, 'POST', '/publish', { key: stack.editorKey });
  expect(p.status, p.text).toBe(200);
  return p.body.version as string;
}

/** Runs the command as a user would (arguments only), capturing stdout and stderr. */
async function query(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runQueryCommand(argv, { out: (t) => out.push(t), err: (l) => err.push(l) }, { cacheDir });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  stack = await startTestStack();
  cacheDir = await mkdtemp(join(tmpdir(), 'ledger-query-cache-'));
  dirs.push(cacheDir);
  await submitOk(stack, stack.editorKey, [source('src-q-1'), source('src-q-2', { title: 'Comma, "quoted" title' }), event('evt-q-1', ['src-q-1']), claim('clm-q-1', ['src-q-1', 'src-q-2'])]);
  first = await publish();
  await submitOk(stack, stack.editorKey, [event('evt-q-2', ['src-q-2'])]);
  second = await publish();
});
afterAll(async () => {
  await stack?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('rights-ledger query', () => {
  it('runs SQL over the latest release, each table a view by its name; JSON output', async () => {
    const r = await query('--from', stack.publicBaseUrl, '--format', 'json', 'SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM sources) AS sources, (SELECT count(*) FROM changes) AS changes');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual([{ events: '2', sources: '2', changes: '1' }]);
    expect(r.err).toContain(`release ${second}: downloading and verifying`);
  });

  it('downloads a release once: the next query reads the cache (keyed by version and manifest hash)', async () => {
    const r = await query('--from', stack.publicBaseUrl, 'SELECT id FROM events ORDER BY id');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`release ${second}: from the cache`);
    expect((await readdir(cacheDir)).filter((d) => !d.startsWith('.'))).toEqual([expect.stringMatching(new RegExp(`^${second}-[0-9a-f]{16}$`))]);
    expect(r.out.split('\n')).toEqual(['id', '───────', 'evt-q-1', 'evt-q-2', '(2 rows)']);
  });

  it('a version pinned for citation: the first release, and a join of claims with their sources (CSV quoted per RFC 4180)', async () => {
    const r = await query('--from', stack.publicBaseUrl, '--version', first, '--format', 'csv', `SELECT c.id, s.title FROM claims c, unnest(c.source_ids) AS u(sid) JOIN sources s ON s.id = u.sid ORDER BY s.id`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('id,title\nclm-q-1,Report src-q-1\nclm-q-1,"Comma, ""quoted"" title"');
    const events = await query('--from', stack.publicBaseUrl, '--version', first, '--format', 'json', 'SELECT count(*) AS n FROM events');
    expect(JSON.parse(events.out)).toEqual([{ n: '1' }]);
  });

  it('--dir reads a downloaded folder, after checking its Parquet against its manifest; a tampered file is refused', async () => {
    // A copy of the cached folder, so that the cache itself stays good for the other tests.
    const folder = await mkdtemp(join(tmpdir(), 'ledger-query-dir-'));
    dirs.push(folder);
    await cp(join(cacheDir, (await readdir(cacheDir)).find((d) => d.startsWith(second))!), folder, { recursive: true });
    const ok = await query('--dir', folder, '--format', 'json', 'SELECT count(*) AS n FROM claims');
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toEqual([{ n: '1' }]);
    await appendFile(join(folder, 'tables', 'claims', 'part-00000.parquet'), 'x');
    const bad = await query('--dir', folder, 'SELECT 1');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/tables\/claims\/part-00000\.parquet .* does not match its manifest's hash: download the release again/);
  });

  it('errors say what to do: bad SQL names the views; an unknown version lists the ones there are; usage errors exit 2', async () => {
    const sql = await query('--from', stack.publicBaseUrl, 'SELECT * FROM nowhere');
    expect(sql.code).toBe(1);
    expect(sql.err).toMatch(/nowhere/);
    expect(sql.err).toMatch(/the tables are views named .*events/);
    expect(sql.err).not.toMatch(/\n\s+at /);
    const v = await query('--from', stack.publicBaseUrl, '--version', '20200101T000000Z', 'SELECT 1');
    expect(v.code).toBe(1);
    expect(v.err).toContain(`ask for one of ${second}, ${first}`);
    expect((await query()).code).toBe(2);
    expect((await query('--format', 'xml', 'SELECT 1')).code).toBe(2);
    const down = await query('--from', 'http://127.0.0.1:9', 'SELECT 1');
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/could not reach .* check --from, or that npm start is running/);
  });

  it('formats a table with aligned columns, cut at 60 characters, one line per row', () => {
    const text = formatResult({ columns: ['id', 'note'], rows: [['a', 'x'.repeat(80)], ['bb', 'two\nlines']] }, 'table');
    const lines = text.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[2]).toBe(`a  │ ${'x'.repeat(59)}…`);
    expect(lines[3]).toBe('bb │ two lines');
  });
});
