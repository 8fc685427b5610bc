// EventBridge schedule → publish a release if anything changed (a publish already running is not an error).
import { LedgerError } from '../pipeline/errors.ts';
import { publishRelease, type PublishResult } from '../pipeline/publish-release.ts';
import { lambdaContext } from './config.ts';
import { logger } from './logger.ts';

export async function handler(): Promise<PublishResult> {
  const ctx = lambdaContext();
  try {
    const result = await publishRelease(ctx, { maxDropShare: ctx.publishing.maxDropShare });
    logger.info('scheduled publish', { ...result });
    return result;
  } catch (err) {
    if (err instanceof LedgerError && err.code === 'publish_in_progress') return { published: false, reason: err.message };
    // Quality gates and failures: the error and its reasons go to the logs (and the alarm on errors).
    logger.error('scheduled publish failed', { code: err instanceof LedgerError ? err.code : 'internal', message: err instanceof Error ? err.message : String(err), errors: err instanceof LedgerError ? err.errors : undefined });
    throw err;
  }
}
