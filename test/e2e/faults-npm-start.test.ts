import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../support/hardening-report.ts';
import { source, uid } from '../support/release.ts';

/**
 * `npm start` killed outright (SIGKILL: no shutdown of its own; its DynamoDB Local and S3 server are
 * ended by their watchdogs) while batches are being written, then started again on the same data
 * folder: every record it acknowledged is there, and its key still works.
 */
const SOURCE = 'test/e2e/faults-npm-start.test.ts';
const BIN = join(process.cwd(), 'bin/rights-ledger.mjs');
const children = new Set<ChildProcess>();
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function start(env: Record<string, string>): Promise<{ child: ChildProcess; exited: Promise<unknown>; api: string }> {
  const ports = { LEDGER_PORT: String(await freePort()), LEDGER_DYNAMODB_PORT: String(await freePort()), LEDGER_S3_PORT: String(await freePort()) };
  const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...env, ...ports }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', () => undefined);
  const exited = new Promise((r) => child.once('exit', r));
  const end = Date.now() + 120_000;
  while (!out.includes('ready.')) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`npm start did not get ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, exited, api: `http://127.0.0.1:${ports.LEDGER_PORT}` };
}

const post = async (api: string, key: string, records: unknown[]) => {
  const r = await fetch(`${api}/records`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ records }) });
  return { status: r.status, body: (await r.json()) as { results: Array<{ id: string; status: string }> } };
};

describe('npm start killed mid-batch and started again on the same data folder', () => {
  it('keeps every acknowledged record', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ledger-start-fault-'));
    dirs.push(dataDir);
    const key = `rl_${randomBytes(24).toString('base64url')}`;
    const env = { LEDGER_DATA_DIR: dataDir, LEDGER_BOOTSTRAP_KEY: key, LEDGER_EXAMPLE: '0' };

    const first = await start(env);
    const acknowledged: string[] = [];
    const statuses: number[] = [];
    // One batch answered in full, then three more cut by the kill.
    const done = await post(first.api, key, Array.from({ length: 50 }, () => source(uid('src-before'))));
    statuses.push(done.status);
    acknowledged.push(...done.body.results.filter((r) => r.status === 'created').map((r) => r.id));
    expect(acknowledged).toHaveLength(50);
    const inFlight = Array.from({ length: 3 }, () =>
      post(first.api, key, Array.from({ length: 200 }, () => source(uid('src-during')))).then(
        (r) => {
          statuses.push(r.status);
          acknowledged.push(...r.body.results.filter((x) => x.status !== 'rejected').map((x) => x.id));
        },
        () => undefined, // no answer: nothing acknowledged
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGKILL');
    await first.exited;
    await Promise.all(inFlight);

    const second = await start(env);
    try {
      let lost = 0;
      for (const id of acknowledged) {
        const r = await fetch(`${second.api}/records/source/${id}`, { headers: { authorization: `Bearer ${key}` } });
        if (r.status !== 200) lost++;
      }
      expect(lost).toBe(0);
      expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
      reportFigure({ section: 'faults', figure: 'npm start killed (SIGKILL) during 3 concurrent batches, restarted on the same data folder', value: 1, source: SOURCE });
      reportFigure({ section: 'faults', figure: 'records acknowledged before npm start was killed', value: acknowledged.length, source: SOURCE });
      reportFigure({ section: 'faults', figure: 'acknowledged records lost across the npm start restart', value: lost, source: SOURCE });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 300_000);
});
