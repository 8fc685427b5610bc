import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalServices, type LocalServices } from '../../local/services.ts';
import { reportFigure } from '../support/hardening-report.ts';
import { source, uid } from '../support/release.ts';
import { call } from '../support/stack.ts';
import { PATIENT, contextOn, startFaultStack, type FaultStack } from '../support/fault-stack.ts';

/**
 * DynamoDB Local itself stopped (SIGSTOP) and killed (SIGKILL) in the middle of batches, on servers of
 * this file's own (test/support/fault-stack.ts). What the client was told is compared with what is
 * stored once the server is back: no record acknowledged as written may be missing; every answer is
 * 200 or 503 (with Retry-After), never another 5xx.
 */
const SOURCE = 'test/e2e/faults-dynamodb.test.ts';
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

type Answer = { status: number; retryAfter: string | null; body: any; ms: number };
const WRITERS = 3;
/**
 * Full batches: a request's records are written in groups of up to 25 a transaction, 4 in flight, so
 * 150 records were 6 transactions, and on a loaded machine every batch could finish between the first
 * record appearing and the signal. 1,000 a request (the API's most) keeps them under way when it comes.
 */
const BATCH = 1000;

async function post(stack: FaultStack, records: unknown[]): Promise<Answer> {
  const t0 = Date.now();
  const r = await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records } });
  return { status: r.status, retryAfter: r.headers.get('retry-after'), body: r.body, ms: Date.now() - t0 };
}

/** Starts WRITERS concurrent batches and resolves once the store holds at least one of their records. */
async function batchesUnderWay(stack: FaultStack): Promise<{ ids: string[][]; answers: Promise<Answer[]> }> {
  const ids = Array.from({ length: WRITERS }, () => Array.from({ length: BATCH }, () => uid('src-fault')));
  const answers = Promise.all(ids.map((batch) => post(stack, batch.map((id) => source(id)))));
  answers.catch(() => undefined); // awaited by the caller; never an unhandled rejection if it fails first
  const deadline = Date.now() + 60_000;
  // The first record of each batch is in its first transaction: one small read a poll (not a read of
  // all 3,000 ids, which on a loaded DynamoDB Local queued behind the writes until every batch was done).
  const firsts = ids.map((batch) => batch[0]!);
  for (;;) {
    const found = await stack.observer.records.getHeads(firsts);
    if (found.size > 0) break;
    if (Date.now() > deadline) throw new Error('no record was written within 60 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ids, answers };
}

/** Acknowledged ids (created/updated/unchanged in a 200 or a 503's results). */
function acknowledged(answers: Answer[]): string[] {
  return answers.flatMap((a) => ((a.body?.results ?? []) as Array<{ id: string; status: string }>).filter((r) => r.status !== 'rejected').map((r) => r.id));
}

function checkAnswers(answers: Answer[]): void {
  for (const a of answers) {
    expect([200, 503]).toContain(a.status);
    if (a.status === 503) {
      expect(a.retryAfter).toBeTruthy();
      expect(a.body).toMatchObject({ status: 503, code: 'store_unavailable' });
      expect(a.body.results).toHaveLength(BATCH);
    }
  }
}

const otherFiveHundreds = (statuses: number[]) => statuses.filter((s) => s >= 500 && s !== 503).length;

describe('DynamoDB Local stopped (SIGSTOP) mid-batch', () => {
  it('answers 503 with what is known, in about the client timeout; everything acknowledged is stored once it resumes', async () => {
    const stack = await startFaultStack();
    cleanup.push(() => stack.close());
    const dynamodb = stack.services.processes.dynamodb;
    const { ids, answers } = await batchesUnderWay(stack);
    dynamodb.kill('SIGSTOP');
    const stoppedAt = Date.now();
    let statuses: number[] = [];
    let told: Answer[];
    let freshMs: number[] = [];
    let answeredAt = 0;
    try {
      told = await answers;
      answeredAt = Date.now();
      // While it is stopped: a new write, an authenticated read (the key store) and /health.
      const t0 = Date.now();
      const fresh = await Promise.all([
        post(stack, [source(uid('src-while-stopped'))]),
        call(stack, 'GET', `/records/source/${ids[0]![0]}`, { key: stack.editorKey }).then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: r.body, ms: Date.now() - t0 })),
        call(stack, 'GET', '/health').then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: r.body, ms: Date.now() - t0 })),
      ]);
      freshMs = fresh.map((f) => f.ms);
      for (const f of fresh) expect(f.status).toBe(503);
      statuses = [...told.map((a) => a.status), ...fresh.map((f) => f.status)];
    } finally {
      dynamodb.kill('SIGCONT');
    }
    checkAnswers(told);
    expect(told.some((a) => a.status === 503)).toBe(true);
    // Generous: the design budget is about 4 s (test/integration/client-timeout.test.ts); the figure is reported.
    for (const ms of freshMs) expect(ms).toBeLessThan(10_000);
    const acked = acknowledged(told);
    const stored = await stack.observer.records.getHeads(acked);
    const lost = acked.filter((id) => !stored.has(id)).length;
    expect(lost).toBe(0);
    // Retrying every batch completes it: ids are idempotency keys.
    for (const batch of ids) expect((await post(stack, batch.map((id) => source(id)))).body).toMatchObject({ accepted: BATCH, rejected: 0 });
    reportFigure({ section: 'faults', figure: 'DynamoDB Local stopped (SIGSTOP) during concurrent batches', value: 1, source: SOURCE });
    reportFigure({ section: 'concurrency', figure: 'concurrent batch writers while DynamoDB Local was stopped', value: WRITERS, source: SOURCE });
    reportFigure({ section: 'faults', figure: 'records acknowledged before/while DynamoDB Local was stopped', value: acked.length, source: SOURCE });
    reportFigure({ section: 'faults', figure: 'acknowledged records lost (SIGSTOP)', value: lost, source: SOURCE });
    reportFigure({ section: 'faults', figure: '5xx answers other than 503 (SIGSTOP)', value: otherFiveHundreds(statuses), source: SOURCE });
    reportFigure({ section: 'outages', figure: 'ms to a 503 for a request sent while DynamoDB Local was stopped (slowest of write, read, /health)', value: Math.max(...freshMs), source: SOURCE });
    reportFigure({ section: 'outages', figure: 'ms from SIGSTOP to the last mid-batch answer', value: answeredAt - stoppedAt, source: SOURCE });
  }, 240_000);
});

describe('DynamoDB Local killed (SIGKILL) mid-batch, data on disk', () => {
  it('answers 503, never 500; after a restart on the same data every acknowledged record is there, and a retry completes the batch', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ledger-fault-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const stack = await startFaultStack({ dataDir });
    cleanup.push(() => stack.close());
    const port = Number(new URL(stack.services.dynamodbEndpoint).port);
    const { ids, answers } = await batchesUnderWay(stack);
    stack.services.processes.dynamodb.kill('SIGKILL');
    const told = await answers;
    const down = await Promise.all([post(stack, [source(uid('src-while-dead'))]), call(stack, 'GET', '/records', { key: stack.editorKey }), call(stack, 'GET', '/health')]);
    for (const d of down) expect(d.status).toBe(503);
    checkAnswers(told);
    expect(told.some((a) => a.status === 503)).toBe(true);
    const statuses = [...told.map((a) => a.status), ...down.map((d) => d.status)];

    // The same data folder and port again (a second S3 server on the same folder is harmless here).
    const again: LocalServices = await startLocalServices({ dataDir, dynamodbPort: port });
    cleanup.push(() => again.stop());
    const ctx = await contextOn({ dynamodb: again.dynamodbEndpoint, s3: again.s3Endpoint }, stack.tableName, stack.bucketName, PATIENT);
    const acked = acknowledged(told);
    const stored = await ctx.records.getHeads(acked);
    const lost = acked.filter((id) => !stored.has(id)).length;
    expect(lost).toBe(0);
    // The API server's own clients reconnect to the restarted server on the same port.
    for (const batch of ids) expect((await post(stack, batch.map((id) => source(id)))).body).toMatchObject({ accepted: BATCH, rejected: 0 });
    reportFigure({ section: 'faults', figure: 'DynamoDB Local killed (SIGKILL) during concurrent batches, restarted on its data', value: 1, source: SOURCE });
    reportFigure({ section: 'faults', figure: 'records acknowledged before DynamoDB Local was killed', value: acked.length, source: SOURCE });
    reportFigure({ section: 'faults', figure: 'acknowledged records lost (SIGKILL)', value: lost, source: SOURCE });
    reportFigure({ section: 'faults', figure: '5xx answers other than 503 (SIGKILL)', value: otherFiveHundreds(statuses), source: SOURCE });
  }, 300_000);
});
