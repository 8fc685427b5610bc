import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKeyCommand } from '../../cli/keys.ts';
import { main } from '../../cli/main.ts';
import { submitFiles, toBatches } from '../../cli/submit.ts';
import { validateFiles } from '../../cli/validate.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack();
  dir = await mkdtemp(join(tmpdir(), 'ledger-cli-'));
});
afterAll(async () => {
  await stack?.close();
});

const source = (id: string, title = `Title ${id}`) => ({ id, kind: 'source', title, publisher: 'P', publisher_type: 'ngo' });

/** A proxy in front of the real endpoint that answers the first `failures` POSTs itself with the given statuses. */
async function flakyProxy(target: string, failures: number[]): Promise<{ url: string; seen: number[]; close(): Promise<void> }> {
  const seen: number[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const status = failures.shift();
    if (status) {
      seen.push(status);
      res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ status, detail: 'injected' }));
      return;
    }
    const upstream = await fetch(`${target}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
    seen.push(upstream.status);
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

describe('rights-ledger submit', () => {
  it('uploads in batches of the requested size, in file order, and sums up the results', async () => {
    const file = join(dir, 'many.ndjson');
    await writeFile(file, Array.from({ length: 45 }, (_, i) => JSON.stringify(source(`src-cli-${String(i).padStart(3, '0')}`))).join('\n') + '\n');
    const first = await submitFiles([file], { endpoint: stack.url, key: stack.editorKey, batchSize: 20, progress: false });
    expect(first).toMatchObject({ created: 45, updated: 0, unchanged: 0, rejected: 0, batches: 3, retries: 0 });
    const again = await submitFiles([file], { endpoint: stack.url, key: stack.editorKey, batchSize: 20, progress: false });
    expect(again).toMatchObject({ created: 0, unchanged: 45, batches: 3 });
    expect((await call(stack, 'GET', '/records/source/src-cli-044', { key: stack.editorKey })).status).toBe(200);
  });

  it('retries 429 and 5xx with backoff, and nothing is stored twice', async () => {
    const proxy = await flakyProxy(stack.url, [503, 429, 502]);
    try {
      const file = join(dir, 'flaky.ndjson');
      await writeFile(file, [source('src-flaky-1'), source('src-flaky-2')].map((r) => JSON.stringify(r)).join('\n'));
      const s = await submitFiles([file], { endpoint: proxy.url, key: stack.editorKey, backoffMs: 5, progress: false });
      expect(s).toMatchObject({ created: 2, rejected: 0, retries: 3 });
      expect(proxy.seen).toEqual([503, 429, 502, 200]);
      expect(await stack.ctx.records.listRevisions('src-flaky-1')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after the last attempt with a message that says the run can be repeated', async () => {
    const proxy = await flakyProxy(stack.url, [503, 503, 503]);
    try {
      const file = join(dir, 'down.ndjson');
      await writeFile(file, JSON.stringify(source('src-down-1')));
      await expect(submitFiles([file], { endpoint: proxy.url, key: stack.editorKey, backoffMs: 1, maxAttempts: 3, progress: false })).rejects.toThrow(/gave up after 3 attempts.*run the same command again/);
    } finally {
      await proxy.close();
    }
  });

  it('does not retry a refusal (401) and says to check the key', async () => {
    const file = join(dir, 'one.ndjson');
    await writeFile(file, JSON.stringify(source('src-nokey-1')));
    await expect(submitFiles([file], { endpoint: stack.url, key: 'rl_wrong', progress: false })).rejects.toThrow(/401.*check --key/);
  });

  it('reports each rejection with its file and line, and exits 1', async () => {
    const file = join(dir, 'mixed.ndjson');
    await writeFile(file, [JSON.stringify(source('src-mixed-ok')), JSON.stringify({ ...source('src-mixed-bad'), colour: 'red' })].join('\n'));
    const s = await submitFiles([file], { endpoint: stack.url, key: stack.editorKey, progress: false });
    expect(s.rejections).toEqual([{ file, line: 2, id: 'src-mixed-bad', path: '/colour', code: 'unknown_field', message: 'unknown field "colour"' }]);
    expect(await main(['submit', file, '--endpoint', stack.url, '--key', stack.editorKey])).toBe(1);
  });

  it('keeps batches under the record and byte limits', () => {
    const big = Array.from({ length: 30 }, (_, i) => ({ file: 'f', line: i + 1, value: { ...source(`src-big-${i}`), title: 'x'.repeat(400) } }));
    expect(toBatches(big, 1000).length).toBe(1);
    expect(toBatches(big, 7).map((b) => b.length)).toEqual([7, 7, 7, 7, 2]);
  });
});

describe('rights-ledger validate', () => {
  it('names file, line, id, JSON Pointer and code of every error, and exits 1', async () => {
    const file = join(dir, 'bad.ndjson');
    await writeFile(file, [JSON.stringify(source('src-good')), JSON.stringify({ ...source('src-bad'), published_on: '2026-02-30' }), '{not json'].join('\n'));
    const report = await validateFiles([file]);
    expect(report).toMatchObject({ records: 3, invalid: 2 });
    expect(report.problems.map((p) => [p.line, p.id, p.error.path, p.error.code])).toEqual([
      [2, 'src-bad', '/published_on', 'invalid_format'],
      [3, undefined, '', 'invalid_json'],
    ]);
    expect(await main(['validate', file])).toBe(1);
    expect(await main(['validate', 'examples/records.ndjson'])).toBe(0);
  });

  it('reads JSON documents too: an array or {"records": [...]}', async () => {
    const file = join(dir, 'doc.json');
    await writeFile(file, JSON.stringify({ records: [source('src-doc-1'), { ...source('src-doc-2'), kind: 'nope' }] }, null, 2));
    const report = await validateFiles([file]);
    expect(report.problems.map((p) => [p.id, p.error.code])).toEqual([['src-doc-2', 'unknown_kind']]);
    expect(report.problems[0]!.line).toBeGreaterThan(1);
  });
});

describe('rights-ledger keys create', () => {
  it('creates a key through an endpoint with an editor key, and the key works', async () => {
    const made = await createKeyCommand('contributor', 'bob', { endpoint: stack.url, key: stack.editorKey });
    expect(made.key).toMatch(/^rl_[A-Za-z0-9_-]{43}$/);
    const r = await call(stack, 'POST', '/records', { key: made.key, json: { records: [source('src-by-bob')] } });
    expect(r.body.results[0]).toMatchObject({ status: 'created', review_status: 'pending' });
    expect(await main(['keys', 'create', '--role', 'contributor', '--endpoint', stack.url, '--key', stack.editorKey])).toBe(0);
  });
  it('creates the first editor key straight in a deployed table (here DynamoDB Local through the SDK endpoint variable)', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'), AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' });
    try {
      // The deployment's keys (KMS in AWS): here the stack's own, so the key is bound to this stack.
      const made = await createKeyCommand('editor', 'first', { table: stack.ctx.settings.tableName, region: 'us-east-1', keyring: stack.ctx.sealer.keks });
      const r = await call(stack, 'POST', '/keys', { key: made.key, json: { role: 'contributor', name: 'via first key' } });
      expect(r.status).toBe(201);
    } finally {
      process.env = saved;
    }
  });
  it('refuses a wrong role with a usage error (exit 2)', async () => {
    expect(await main(['keys', 'create', '--role', 'admin', '--endpoint', stack.url, '--key', stack.editorKey])).toBe(2);
  });
});
