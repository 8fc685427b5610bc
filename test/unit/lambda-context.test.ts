// Issue 9: every function's log lines carry the Lambda context (request id, cold start): each entry
// point hands its context to the logger before anything else runs.
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { logger } from '../../functions/logger.ts';

const ENTRY_POINTS = ['api-info', 'api-keys', 'api-records', 'api-submit', 'api-publish', 'authorizer', 'scheduled-publish', 'sealing-migration'] as const;

const context = { awsRequestId: 'req-1234', functionName: 'ledger-test', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:ledger-test', memoryLimitInMB: '256', getRemainingTimeInMillis: () => 1000 } as unknown as Context;

describe('Lambda context in the logs', () => {
  it.each(ENTRY_POINTS)('%s adds its invocation context to the logger', async (name) => {
    const mod = (await import(`../../functions/${name}.ts`)) as { handler: (event: unknown, context?: Context) => Promise<unknown> };
    const added = vi.spyOn(logger, 'addContext');
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    try {
      // The event is not one the function can serve (and no store is configured): only the first step matters.
      await mod.handler({ headers: {}, requestContext: {} }, context).catch(() => undefined);
      expect(added).toHaveBeenCalledWith(context);
    } finally {
      added.mockRestore();
      errors.mockRestore();
    }
  });
});

describe('the context of a Lambda entry point', () => {
  it('is made once per adapter choice: an entry point that asks for the bucket never gets the table-only context another one made first', async () => {
    const { lambdaContext } = await import('../../functions/config.ts');
    const { createBucketAdapters } = await import('../../storage/bucket-adapters.ts');
    const env = { LEDGER_TABLE_NAME: 'ctx-table', LEDGER_BUCKET_NAME: 'ctx-bucket', LEDGER_PUBLIC_BASE_URL: 'https://ctx-bucket.example.org', AWS_REGION: 'eu-west-1' };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const tableOnly = lambdaContext();
      const withBucket = lambdaContext(createBucketAdapters);
      expect('objects' in tableOnly).toBe(false);
      expect(withBucket.objects).toBeDefined();
      expect(withBucket.info.bucketName).toBe('ctx-bucket');
      // … and each is kept for the invocations that follow.
      expect(lambdaContext()).toBe(tableOnly);
      expect(lambdaContext(createBucketAdapters)).toBe(withBucket);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
});
