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
