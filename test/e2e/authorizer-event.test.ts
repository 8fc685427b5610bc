// The Lambda authorizer (issue 9), invoked with the REQUEST event API Gateway sends it, against the local
// DynamoDB: a known key is allowed with its principal (which API Gateway hands to the handlers as
// requestContext.authorizer), an unknown or missing key is "Unauthorized" (API Gateway's 401), and a
// key store that does not answer is any other error (API Gateway's AUTHORIZER_FAILURE, answered 503).
import { createServer } from 'node:net';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '../../functions/authorizer.ts';
import { create as createRecords } from '../../functions/api-records.ts';
import { dynamodbClientConfig, s3ClientConfig } from '../../local/services.ts';
import { createAdapters } from '../../storage/adapters.ts';
import { source, submitOk } from '../support/release.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/records/source/src-authorized';

/** A REST API REQUEST authorizer event, as API Gateway sends it for GET /records/source/src-authorized. */
const authorizerEvent = (authorization?: string): APIGatewayRequestAuthorizerEvent =>
  ({
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/records/{kind}/{id}',
    path: '/records/source/src-authorized',
    httpMethod: 'GET',
    headers: { Host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'User-Agent': 'curl/8.5.0', ...(authorization ? { Authorization: authorization } : {}) },
    multiValueHeaders: { Host: ['abc123.execute-api.eu-west-1.amazonaws.com'], ...(authorization ? { Authorization: [authorization] } : {}) },
    queryStringParameters: {},
    multiValueQueryStringParameters: {},
    pathParameters: { kind: 'source', id: 'src-authorized' },
    stageVariables: {},
    requestContext: {
      resourceId: 'a1b2c3',
      resourcePath: '/records/{kind}/{id}',
      httpMethod: 'GET',
      extendedRequestId: 'Ab1CdEfGhIjKlMn=',
      requestTime: '02/Dec/2026:07:00:00 +0000',
      path: '/v1/records/source/src-authorized',
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage: 'v1',
      domainPrefix: 'abc123',
      requestTimeEpoch: 1_796_194_800_000,
      requestId: '5f0b7a4e-0a5d-4a3e-9c1f-2b8f3d6e7a90',
      identity: { sourceIp: '203.0.113.7', userAgent: 'curl/8.5.0' },
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      apiId: 'abc123',
    },
  }) as unknown as APIGatewayRequestAuthorizerEvent;

const rejection = (p: Promise<unknown>) => p.then(() => 'allowed', (err: unknown) => (err as Error).message);

describe('the authorizer with API Gateway REQUEST events', () => {
  it('a known key: Allow on the stage, with its key id and role as the context', async () => {
    const result = await create(stack.ctx)(authorizerEvent(`Bearer ${stack.editorKey}`));
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*' }]);
    expect(result.context).toEqual({ keyId: result.principalId, role: 'editor' });
  });

  it('whose context is what the handlers read: the record is served to that principal', async () => {
    await submitOk(stack, stack.editorKey, [source('src-authorized')]);
    const allowed = await create(stack.ctx)(authorizerEvent(`Bearer ${stack.editorKey}`));
    const res = await createRecords(stack.ctx)({
      resource: '/records/{kind}/{id}',
      path: '/records/source/src-authorized',
      httpMethod: 'GET',
      headers: { Host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: { kind: 'source', id: 'src-authorized' },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: { authorizer: { principalId: allowed.principalId, ...allowed.context }, domainName: 'abc123.execute-api.eu-west-1.amazonaws.com', stage: 'v1', httpMethod: 'GET', resourcePath: '/records/{kind}/{id}' },
    } as any);
    expect([res.statusCode, JSON.parse(res.body).id]).toEqual([200, 'src-authorized']);
  });

  it('an unknown key: "Unauthorized" (API Gateway answers 401)', async () => {
    expect(await rejection(create(stack.ctx)(authorizerEvent('Bearer rl_0000000000000000000000000000000000000000000')))).toBe('Unauthorized');
  });

  it('no Authorization header: "Unauthorized"', async () => {
    expect(await rejection(create(stack.ctx)(authorizerEvent()))).toBe('Unauthorized');
  });

  it('a key store that does not answer: another error (AUTHORIZER_FAILURE, answered 503), never "Unauthorized"', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const endpoint = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((r) => closed.close(r));
    const down = createAdapters({ tableName: stack.tableName!, bucketName: stack.ctx.info.bucketName, dynamodb: dynamodbClientConfig(endpoint), s3: s3ClientConfig(endpoint) });
    try {
      expect(await rejection(create({ keys: down.keys })(authorizerEvent(`Bearer ${stack.editorKey}`)))).toBe('key store unavailable');
    } finally {
      down.dynamodb.destroy();
      down.s3.destroy();
    }
  });
});
