// The one publisher and GET /publish/status (issue 9): POST /publish answers 200 with the result locally
// and 202 where a starter hands the publish to the publisher function (AWS); the publisher, invoked with
// the real EventBridge and API event shapes, records its course in the store; a failure is logged with
// its name, code and message under a key Powertools keeps, and thrown (Lambda retries, then the DLQ).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { create as createPublish, lambdaStarter } from '../../functions/api-publish.ts';
import { create as createPublisher, type PublishRequest } from '../../functions/scheduled-publish.ts';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logger } from '../../functions/logger.ts';
import { publishStatusStore } from '../../storage/dynamodb-publish-status.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { source, submitOk } from '../support/release.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** An API Gateway proxy event as the REST API sends it, authorised as an editor. */
const apiEvent = (method: 'GET' | 'POST', resource: string, body?: unknown) =>
  ({
    resource,
    path: resource,
    httpMethod: method,
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: body === undefined ? null : Buffer.from(JSON.stringify(body)).toString('base64'),
    isBase64Encoded: body !== undefined,
    requestContext: { authorizer: { principalId: 'key_editor', keyId: 'key_editor', role: 'editor' }, domainName: 'abc123.execute-api.eu-west-1.amazonaws.com', stage: 'v1', httpMethod: method, resourcePath: resource },
  }) as any;

/** EventBridge's scheduled event, as the PublishSchedule rule delivers it. */
const scheduledEvent = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-12-02T05:00:00Z',
  region: 'eu-west-1',
  resources: ['arn:aws:events:eu-west-1:123456789012:rule/rights-ledger-publish'],
  detail: {},
};

const quietMetrics = () => new Metrics({ namespace: 'RightsLedgerTest', serviceName: 'test' });

describe('GET /publish/status and POST /publish over the local server', () => {
  it('answers 404 before any publish', async () => {
    const r = await call(stack, 'GET', '/publish/status', { key: stack.editorKey });
    expect(r.status).toBe(404);
  });
  it('GET /openapi.json gives both answers of POST /publish and the status route', async () => {
    const doc = (await call(stack, 'GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/publish'].post.responses)).toEqual(expect.arrayContaining(['200', '202']));
    expect(doc.paths['/publish/status'].get.responses['200']).toBeDefined();
  });
  it('needs a key (the route is in the table with auth)', async () => {
    expect((await call(stack, 'GET', '/publish/status')).status).toBe(401);
  });
  it('POST /publish answers 200 with the result locally, and the status tells the version', async () => {
    await submitOk(stack, stack.editorKey, [source('src-status-1')]);
    const pub = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    expect(pub.status).toBe(200);
    expect(pub.body.published).toBe(true);
    const st = await call(stack, 'GET', '/publish/status', { key: stack.editorKey });
    expect(st.status).toBe(200);
    expect(st.body).toMatchObject({ state: 'published', version: pub.body.version });
    expect(st.body.finished_at >= st.body.started_at).toBe(true);
  });
});

describe('POST /publish where a starter hands the publish over (AWS)', () => {
  it('the Lambda function has no in-request publish: without the publisher function\'s name it is a configuration error that names the variable', () => {
    expect(() => lambdaStarter(undefined)).toThrow(/LEDGER_PUBLISHER_FUNCTION/);
    expect(() => lambdaStarter('')).toThrow(/LEDGER_PUBLISHER_FUNCTION/);
  });
  it('answers 202 with the status URL, records running, and starts the publisher with the request', async () => {
    const started: PublishRequest[] = [];
    const handler = createPublish(stack.ctx, { start: async (r) => void started.push(r) });
    const res = await handler(apiEvent('POST', '/publish', { full: true }));
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body)).toEqual({ accepted: true, status_url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1/publish/status' });
    expect(started).toEqual([{ source: 'rights-ledger.api', full: true, requested_by: 'key_editor' }]);
    expect((await publishStatusStore(stack.ctx).read())?.state).toBe('running');
  });
  it('answers 409 while that publish runs, and starts nothing', async () => {
    const started: PublishRequest[] = [];
    const res = await createPublish(stack.ctx, { start: async (r) => void started.push(r) })(apiEvent('POST', '/publish'));
    expect(res.statusCode).toBe(409);
    expect(started).toEqual([]);
  });
  it('the publisher, invoked with that request, publishes and records the outcome', async () => {
    await submitOk(stack, stack.editorKey, [source('src-status-2')]);
    const result = await createPublisher(stack.ctx, quietMetrics())({ source: 'rights-ledger.api', full: true, requested_by: 'key_editor' });
    expect(result.published).toBe(true);
    const st = await publishStatusStore(stack.ctx).read();
    expect(st).toMatchObject({ state: 'published', version: (result as { version: string }).version });
  });
  it('a starter that fails leaves a failed status, not a running one', async () => {
    const res = await createPublish(stack.ctx, { start: async () => { throw new Error('AccessDenied'); } })(apiEvent('POST', '/publish'));
    expect(res.statusCode).toBe(500);
    expect((await publishStatusStore(stack.ctx).read())?.error?.code).toBe('publish_not_started');
  });
});

describe('the publisher on the schedule', () => {
  it('with nothing changed: no_changes', async () => {
    const result = await createPublisher(stack.ctx, quietMetrics())(scheduledEvent);
    expect(result.published).toBe(false);
    expect((await publishStatusStore(stack.ctx).read())?.state).toBe('no_changes');
  });
  it('a failure is thrown (for Lambda to retry), recorded as failed, and logged with name, code and message under `failure`', async () => {
    await submitOk(stack, stack.editorKey, [source('src-status-3')]);
    const broken = { ...stack.ctx, openReleaseBuilder: async () => { throw Object.assign(new Error('disk full'), { name: 'BuilderError', code: 'ENOSPC' }); } };
    const lines: string[] = [];
    // The very line Powertools prints (its own Console), after its reserved keys were applied.
    const spy = vi.spyOn((logger as unknown as { console: Console }).console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    let thrown: unknown;
    try {
      await createPublisher(broken, quietMetrics())(scheduledEvent).catch((e: unknown) => (thrown = e));
    } finally {
      spy.mockRestore();
    }
    expect((thrown as Error).message).toBe('disk full');
    const failed = lines.flatMap((l) => l.split('\n')).filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.message === 'publish failed');
    expect(failed.failure).toEqual(expect.objectContaining({ name: 'BuilderError', code: 'ENOSPC', message: 'disk full' }));
    expect(await publishStatusStore(stack.ctx).read()).toMatchObject({ state: 'failed', error: { code: 'ENOSPC', message: 'disk full' } });
  });
});
