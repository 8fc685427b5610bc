import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `npm start` as a newcomer runs it: the real CLI in a child process, its own DynamoDB Local and S3
 * server on free ports, data in a temp dir. Slow-ish (a JVM per start), so few starts, many checks each.
 */
const BIN = join(process.cwd(), 'bin/rights-ledger.mjs');
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function ports() {
  return { LEDGER_PORT: String(await freePort()), LEDGER_DYNAMODB_PORT: String(await freePort()), LEDGER_S3_PORT: String(await freePort()) };
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('npm start', () => {
  it('loads the example dataset, publishes the first release, stops on Ctrl-C, and keeps its data across a restart', async () => {
    const env = { ...(await ports()), LEDGER_DATA_DIR: await mkdtemp(join(tmpdir(), 'ledger-start-')), LEDGER_BOOTSTRAP_KEY: `rl_${randomBytes(24).toString('base64url')}` };
    const api = `http://127.0.0.1:${env.LEDGER_PORT}`;
    const bucket = `http://127.0.0.1:${env.LEDGER_S3_PORT}/rights-ledger-public`;

    const first = start(env);
    await until('ready', () => first.out().includes('ready.'), 120_000);
    expect(first.out()).toContain('59 records accepted');
    expect(first.out()).toContain(`catalog: ${bucket}/catalog.json`);
    expect(first.out()).toContain('npm run ledger -- query --from');
    // The printed query runs as printed, with the project's DuckDB (nothing else installed).
    const printed = /npm run ledger -- query --from (\S+) "([^"]+)"/.exec(first.out());
    expect(printed?.[1]).toBe(bucket);
    const answer = execFileSync(process.execPath, ['bin/rights-ledger.mjs', 'query', '--from', bucket, '--format', 'json', printed![2]!], {
      env: { ...process.env, XDG_CACHE_HOME: env.LEDGER_DATA_DIR },
      encoding: 'utf8',
    });
    expect((JSON.parse(answer) as unknown[]).length).toBeGreaterThan(0);
    // The master key: made in the data folder, owner-only, and said where it is.
    const masterKey = join(env.LEDGER_DATA_DIR, 'master.key');
    expect((await stat(masterKey)).mode & 0o777).toBe(0o600);
    expect(first.out()).toContain(`master key: ${masterKey} (made now, mode 0600)`);
    expect(first.out()).toContain('firewall port');
    expect(await (await fetch(`${api}/`)).json()).toEqual({ name: 'rights-ledger', version: '0.1.0', public_base_url: bucket, catalog_url: `${bucket}/catalog.json` });
    const catalog = (await (await fetch(`${bucket}/catalog.json`)).json()) as { versions: Array<{ record_counts: Record<string, number> }> };
    expect(catalog.versions).toHaveLength(1);
    expect(catalog.versions[0]!.record_counts).toMatchObject({ sources: 5, events: 27, claims: 22, persons: 5 });
    // The loader's key was disabled after use; the bootstrap key is an editor.
    const read = await fetch(`${api}/records/source/src-ncri-uprising-day7-malekshahi-2026-01-03`, { headers: { authorization: `Bearer ${env.LEDGER_BOOTSTRAP_KEY}` } });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ kind: 'source', review_status: 'approved', revision: 1 });

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.out()).toContain('SIGINT: stopping');
    await expect(fetch(`${api}/health`)).rejects.toThrow();

    const second = start(env);
    await until('ready again', () => second.out().includes('ready.'), 120_000);
    expect(second.out()).not.toContain('loading the example dataset');
    const again = (await (await fetch(`${bucket}/catalog.json`)).json()) as { versions: unknown[] };
    expect(again.versions).toHaveLength(1);
    // The bootstrap message tells the truth: already registered, and, once the key is disabled, that it answers 401.
    const keyId = /bootstrap editor key registered \((key_[a-z0-9_]+)\)/.exec(first.out())![1]!;
    expect(second.out()).toContain(`bootstrap editor key already registered (${keyId})`);
    const disable = await fetch(`${api}/keys/${keyId}/disable`, { method: 'POST', headers: { authorization: `Bearer ${env.LEDGER_BOOTSTRAP_KEY}` } });
    expect(disable.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const third = start(env);
    await until('ready a third time', () => third.out().includes('ready.'), 120_000);
    expect(third.out()).toContain(`LEDGER_BOOTSTRAP_KEY is the key ${keyId}, which was disabled: it answers 401`);
    expect(third.out()).not.toContain('bootstrap editor key registered');
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 300_000);

  it('starts empty with LEDGER_EXAMPLE=0 and publishes on the schedule of LEDGER_PUBLISH_INTERVAL', async () => {
    const env = { ...(await ports()), LEDGER_DATA_DIR: await mkdtemp(join(tmpdir(), 'ledger-start-')), LEDGER_BOOTSTRAP_KEY: `rl_${randomBytes(24).toString('base64url')}`, LEDGER_EXAMPLE: '0', LEDGER_PUBLISH_INTERVAL: '1' };
    const api = `http://127.0.0.1:${env.LEDGER_PORT}`;
    const bucket = `http://127.0.0.1:${env.LEDGER_S3_PORT}/rights-ledger-public`;
    const s = start(env);
    try {
      await until('ready', () => s.out().includes('ready.'), 120_000);
      expect(s.out()).not.toContain('loading the example dataset');
      expect((await fetch(`${bucket}/catalog.json`)).status).toBe(404);
      const submitted = await fetch(`${api}/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.LEDGER_BOOTSTRAP_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records: [{ id: 'src-scheduled', kind: 'source', title: 'T', publisher: 'P', publisher_type: 'ngo' }] }),
      });
      expect(submitted.status).toBe(200);
      await until('a scheduled release', async () => (await fetch(`${bucket}/catalog.json`)).status === 200, 30_000);
      const catalog = (await (await fetch(`${bucket}/catalog.json`)).json()) as { versions: Array<{ record_counts: Record<string, number> }> };
      expect(catalog.versions[0]!.record_counts.sources).toBe(1);
    } finally {
      s.child.kill('SIGINT');
      await s.exited;
    }
  }, 300_000);

  it('names the fix in one sentence when the API port is taken (and starts nothing)', async () => {
    const env = { ...(await ports()), LEDGER_DATA_DIR: await mkdtemp(join(tmpdir(), 'ledger-start-')) };
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(Number(env.LEDGER_PORT), '127.0.0.1', () => r()));
    try {
      const s = start(env);
      expect(await s.exited).toBe(1);
      expect(s.err()).toContain(`Port ${env.LEDGER_PORT} is already in use`);
      expect(s.err()).toContain('LEDGER_PORT');
      noStackTrace(s.err());
    } finally {
      blocker.close();
    }
  });

  it('names the fix in one sentence when Java is missing', async () => {
    const env = { ...(await ports()), LEDGER_DATA_DIR: await mkdtemp(join(tmpdir(), 'ledger-start-')), PATH: '/nonexistent' };
    const s = start(env);
    expect(await s.exited).toBe(1);
    expect(s.err()).toMatch(/Java 17 or newer is needed.*install it/);
    noStackTrace(s.err());
  });
});
