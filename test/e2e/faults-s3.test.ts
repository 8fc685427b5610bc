import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../../local/services.ts';
import { publishRelease } from '../../pipeline/publish-release.ts';
import type { ObjectStore, PutOptions } from '../../pipeline/ports.ts';
import { reportFigure } from '../support/hardening-report.ts';
import { catalog, listKeys, snapshot, source, submitOk, uid, verifyRelease, type Json } from '../support/release.ts';
import type { TestStack } from '../support/stack.ts';
import { startFaultStack, type FaultStack } from '../support/fault-stack.ts';

/**
 * The S3 server process itself killed (SIGKILL) in the middle of a publish, at each phase of it
 * (PUBLISHING.md): the first object of the release folder, its manifest, catalog.json, index.html and
 * latest/. Then the server is started again on the same data and port. The last good release stays
 * byte-identical, catalog.json names only complete releases, and the next publish is complete.
 * (test/e2e/publish-failure.test.ts injects failures in a wrapper; here the server really dies.)
 */
const SOURCE = 'test/e2e/faults-s3.test.ts';
let stack: FaultStack;
let dataDir: string;
let s3Process: ChildProcess;
let s3Stop: () => Promise<void> = async () => undefined;
let s3Port: number;
let kills = 0;
/** Phases after which the last good release's bytes differed (must stay 0). */
let changed = 0;

/** What verifyRelease and the other helpers need of a stack. */
const asTestStack = () => ({ url: stack.url, ctx: stack.observer, editorKey: stack.editorKey, publicBaseUrl: stack.observer.info.publicBaseUrl, close: async () => undefined }) as TestStack;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ledger-s3-fault-'));
  stack = await startFaultStack({ dataDir });
  s3Process = stack.services.processes.s3;
  s3Port = Number(new URL(stack.services.s3Endpoint).port);
  await submitOk(asTestStack(), stack.editorKey, [source(uid('src-first')), source(uid('src-first'))]);
  expect((await publishRelease(stack.ctx)).published).toBe(true);
}, 180_000);
afterAll(async () => {
  await s3Stop().catch(() => undefined);
  await stack?.close().catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

/** The real store, except that the first write whose key matches kills the S3 server just before it is sent. */
function killingStore(inner: ObjectStore, when: (key: string) => boolean): ObjectStore & { killedAt?: string } {
  const self: ObjectStore & { killedAt?: string } = Object.create(inner);
  const maybeKill = async (key: string) => {
    if (self.killedAt !== undefined || !when(key)) return;
    self.killedAt = key;
    const exited = new Promise((r) => s3Process.once('exit', r));
    s3Process.kill('SIGKILL');
    await exited;
    kills++;
  };
  self.put = async (key: string, body: Uint8Array, opts: PutOptions) => (await maybeKill(key), inner.put(key, body, opts));
  self.putFile = async (key: string, path: string, opts: PutOptions) => (await maybeKill(key), inner.putFile(key, path, opts));
  self.copy = async (from: string, to: string, opts: PutOptions) => (await maybeKill(to), inner.copy(from, to, opts));
  return self;
}

async function restartS3(): Promise<void> {
  const s3 = await startLocalS3({ directory: join(dataDir, 's3'), port: s3Port });
  s3Process = s3.process;
  s3Stop = s3.stop;
}

const PHASES: Array<[string, (key: string) => boolean, 'before-commit' | 'after-commit']> = [
  ['the first object of the release folder', (k) => k.startsWith('releases/'), 'before-commit'],
  ["the release's manifest", (k) => /^releases\/[^/]+\/manifest\.json$/.test(k), 'before-commit'],
  ['catalog.json', (k) => k === 'catalog.json', 'before-commit'],
  ['index.html', (k) => k === 'index.html', 'after-commit'],
  ['latest/', (k) => k.startsWith('latest/'), 'after-commit'],
];

describe('the S3 server killed mid-publish', () => {
  for (const [phase, when, stage] of PHASES) {
    it(`at ${phase}: the last good release is untouched, and the next publish is complete`, async () => {
      const t = asTestStack();
      const before = (await catalog(t)).value;
      const lastGood = before.latest as string;
      const lastGoodFiles = await snapshot(stack.observer.objects, `releases/${lastGood}/`);
      expect(lastGoodFiles.size).toBeGreaterThan(0);
      await submitOk(t, stack.editorKey, [source(uid('src-change'))]);

      const store = killingStore(stack.ctx.objects, when);
      const outcome = await publishRelease({ ...stack.ctx, objects: store }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      expect(store.killedAt).toBeDefined();
      expect(outcome.ok).toBe(false);
      await restartS3();

      // The last good release: byte-identical.
      const still = await snapshot(stack.observer.objects, `releases/${lastGood}/`);
      if (JSON.stringify([...still]) !== JSON.stringify([...lastGoodFiles])) changed++;
      expect(still).toEqual(lastGoodFiles);
      const after = (await catalog(t)).value;
      if (stage === 'before-commit') expect(after.latest).toBe(lastGood);
      // Whatever the catalog names is complete.
      for (const v of after.versions as Json[]) await verifyRelease(t, v.version);

      // The next publish is complete, and latest/ is exactly it.
      await submitOk(t, stack.editorKey, [source(uid('src-after'))]);
      const next = await publishRelease(stack.ctx);
      expect(next.published).toBe(true);
      const version = (next as { version: string }).version;
      const rel = await verifyRelease(t, version);
      expect((await catalog(t)).value.latest).toBe(version);
      expect(await listKeys(stack.observer.objects, 'latest/')).toEqual([...rel.files.keys()].map((k) => `latest/${k}`).sort());
      expect(await snapshot(stack.observer.objects, `releases/${lastGood}/`)).toEqual(lastGoodFiles);
    }, 240_000);
  }

  it('reports its figures', () => {
    expect(kills).toBe(PHASES.length);
    reportFigure({ section: 'faults', figure: 'S3 server killed (SIGKILL) mid-publish, one per phase', value: kills, source: SOURCE });
    reportFigure({ section: 'faults', figure: 'published releases changed by a killed publish', value: changed, source: SOURCE });
  });
});
