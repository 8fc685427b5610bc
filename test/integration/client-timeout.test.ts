import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaStarter } from '../../functions/api-publish.ts';
import { dynamodbClientConfig, s3ClientConfig } from '../../local/services.ts';
import { CLIENT_TIMEOUTS, MAX_BACKOFF_MS, PUBLISHER_TIMEOUTS, createAdapters, forPublishing } from '../../storage/adapters.ts';
import { KmsKeyring } from '../../storage/kek-kms.ts';
import { isOutage } from '../../storage/outage.ts';
import { reportFigure } from '../support/hardening-report.ts';

/**
 * A store that accepts connections and never answers is what a stopped (SIGSTOP) or wedged server
 * looks like to a client. Without timeouts the SDK waits for ever; with the adapters' defaults every
 * call gives up, as an outage (503), in under 5 s.
 */
let silent: Server;
let endpoint: string;
const sockets = new Set<Socket>();
/** Connections the silent server accepted: one per attempt. */
let connections = 0;

beforeAll(async () => {
  silent = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

async function timed(what: () => Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const t0 = Date.now();
  try {
    await what();
    return { ms: Date.now() - t0, err: undefined };
  } catch (err) {
    return { ms: Date.now() - t0, err };
  }
}

describe('client timeouts', () => {
  it('the budget (one timeout, never retried, plus the back-offs of refused attempts) is below 5 s', () => {
    const timeout = Math.max(CLIENT_TIMEOUTS.connectionMs, CLIENT_TIMEOUTS.dynamodbRequestMs, CLIENT_TIMEOUTS.s3SocketIdleMs);
    expect(timeout + (CLIENT_TIMEOUTS.maxAttempts - 1) * MAX_BACKOFF_MS).toBeLessThan(5_000);
  });

  it('a DynamoDB that never answers fails every call as an outage in under 5 s', async () => {
    const a = createAdapters({ tableName: 't', bucketName: 'b', dynamodb: dynamodbClientConfig(endpoint), s3: s3ClientConfig(endpoint) });
    try {
      const reads = await Promise.all([timed(() => a.records.getHead('src-x')), timed(() => a.keys.getKeyByHash('0'.repeat(64))), timed(() => a.records.ping())]);
      for (const r of reads) {
        expect(r.err).toBeInstanceOf(Error);
        expect(isOutage(r.err)).toBe(true);
        // It gave up by itself (a timeout, not the test's limit); the budget is asserted above, the time reported.
        expect((r.err as Error).name).toBe('TimeoutError');
      }
      reportFigure({ section: 'outages', figure: 'ms until a DynamoDB call to a silent server failed (max of 3)', value: Math.max(...reads.map((r) => r.ms)), source: 'test/integration/client-timeout.test.ts' });
    } finally {
      a.dynamodb.destroy();
      a.s3.destroy();
    }
  }, 30_000);

  it('an S3 that never answers fails as an outage in under 5 s', async () => {
    const a = createAdapters({ tableName: 't', bucketName: 'b', dynamodb: dynamodbClientConfig(endpoint), s3: s3ClientConfig(endpoint) });
    try {
      const r = await timed(() => a.objects.ping());
      expect(r.err).toBeInstanceOf(Error);
      expect(isOutage(r.err)).toBe(true);
      expect((r.err as Error).name).toBe('TimeoutError');
      reportFigure({ section: 'outages', figure: 'ms until an S3 call to a silent server failed', value: r.ms, source: 'test/integration/client-timeout.test.ts' });
    } finally {
      a.dynamodb.destroy();
      a.s3.destroy();
    }
  }, 30_000);

  it('a refused connection is an outage too, at once', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const a = createAdapters({ tableName: 't', bucketName: 'b', dynamodb: dynamodbClientConfig(`http://127.0.0.1:${port}`), s3: s3ClientConfig(`http://127.0.0.1:${port}`) });
    try {
      const r = await timed(() => a.records.getHead('src-x'));
      expect(isOutage(r.err)).toBe(true);
      const s = await timed(() => a.objects.ping());
      expect(isOutage(s.err)).toBe(true);
    } finally {
      a.dynamodb.destroy();
      a.s3.destroy();
    }
  }, 30_000);

  it("the publisher's stores wait longer (a slow Scan page is not an outage to a batch job), and still give up", async () => {
    const a = createAdapters({
      tableName: 't',
      bucketName: 'b',
      dynamodb: dynamodbClientConfig(endpoint),
      s3: s3ClientConfig(endpoint),
      publisherTimeouts: { dynamodbRequestMs: 7_000 },
    });
    try {
      const publisher = forPublishing(a);
      expect(publisher.records).not.toBe(a.records);
      expect(a.publisherStores()).toBe(a.publisherStores());
      // Which gave up first, not how long each took: the API's client at its 4 s while the publisher's still waited.
      let batchSettled = false;
      let batchPendingWhenApiGaveUp = false;
      const [api, batch] = await Promise.all([
        timed(() => a.records.getHead('src-x')).then((r) => ((batchPendingWhenApiGaveUp = !batchSettled), r)),
        timed(() => publisher.records.getHead('src-x')).then((r) => ((batchSettled = true), r)),
      ]);
      expect(isOutage(api.err)).toBe(true);
      expect(isOutage(batch.err)).toBe(true);
      expect([(api.err as Error).name, (batch.err as Error).name]).toEqual(['TimeoutError', 'TimeoutError']);
      expect(batchPendingWhenApiGaveUp).toBe(true);
      expect(PUBLISHER_TIMEOUTS.dynamodbRequestMs).toBeGreaterThan(CLIENT_TIMEOUTS.dynamodbRequestMs);
    } finally {
      a.dynamodb.destroy();
      a.s3.destroy();
    }
  }, 30_000);
});

/**
 * The two AWS clients beside the stores (issue 9): KMS (sealing, opening, the authorizer's secret) and
 * Lambda (POST /publish hands the publish to the publisher). Each call to a silent service gives up as
 * an outage after one attempt; without a timeout it would wait for ever and the test's limit fail it.
 */
describe('AWS clients beside the stores', () => {
  const offline = { endpoint: '', region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } };
  const failure = (p: Promise<unknown>) => p.then(() => new Error('the call answered'), (err: unknown) => err);
  const keyring = () => new KmsKeyring({ keyId: 'alias/rights-ledger-records', macKeyId: 'alias/rights-ledger-api-mac', client: { ...offline, endpoint } });

  it('KMS: the deployment secret (GenerateMac) fails as an outage, after one attempt', async () => {
    const before = connections;
    const err = await failure(keyring().deploymentSecret());
    expect([(err as Error).name, isOutage(err)]).toEqual(['TimeoutError', true]);
    expect(connections - before).toBe(1);
  }, 20_000);

  it('KMS: opening a sealed value (Decrypt) fails as an outage too', async () => {
    const err = await failure(keyring().unwrap(`k1.${Buffer.from('blob').toString('base64url')}`));
    expect([(err as Error).name, isOutage(err)]).toEqual(['TimeoutError', true]);
  }, 20_000);

  it('Lambda: handing the publish to the publisher fails as an outage, after one attempt', async () => {
    const before = connections;
    const err = await failure(lambdaStarter('rights-ledger-publisher', { ...offline, endpoint })!({ source: 'rights-ledger.api', requested_by: 'k-test' }));
    expect([(err as Error).name, isOutage(err)]).toEqual(['TimeoutError', true]);
    expect(connections - before).toBe(1);
  }, 20_000);
});
