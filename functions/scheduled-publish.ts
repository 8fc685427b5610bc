// The one publisher: the EventBridge schedule and POST /publish (invoked asynchronously) → publish a release if anything changed.
import { createAdapters, forPublishing } from '../storage/adapters.ts';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { LedgerError } from '../pipeline/errors.ts';
import type { PublishResult } from '../pipeline/publish-release.ts';
import { describeFailure, publishTracked } from '../pipeline/track-publish.ts';
import { PUBLISH_METRICS } from '../schemas/publish-status.ts';
import { publishStatusStore } from '../storage/dynamodb-publish-status.ts';
import { lambdaContext, type AppContext } from './config.ts';
import { logger, withLambdaContext } from './logger.ts';

/** What POST /publish sends when it starts a publish (functions/api-publish.ts); anything else is the schedule. */
export interface PublishRequest {
  source: 'rights-ledger.api';
  full?: boolean;
  requested_by?: string;
}
const isApiRequest = (event: unknown): event is PublishRequest => (event as { source?: unknown } | null)?.source === 'rights-ledger.api';

export function create(ctx: AppContext, metrics: Metrics = new Metrics({ namespace: PUBLISH_METRICS.namespace })) {
  const status = publishStatusStore(ctx);
  return async (event: unknown, _context?: Context): Promise<PublishResult> => {
    const request = isApiRequest(event) ? event : undefined;
    const trigger = request ? 'api' : 'schedule';
    try {
      const result = await publishTracked({ ...forPublishing(ctx), status }, { maxDropShare: ctx.publishing.maxDropShare, full: request?.full === true });
      logger.info('publish finished', { trigger, requested_by: request?.requested_by, published: result.published, ...(result.published ? { version: result.version, record_counts: result.record_counts, changes: result.changes } : { reason: result.reason }), deferred: result.deferred?.length ?? 0 });
      metrics.addMetric(PUBLISH_METRICS.publishSucceeded, MetricUnit.Count, 1);
      metrics.addMetric(PUBLISH_METRICS.releasePublished, MetricUnit.Count, result.published ? 1 : 0);
      return result;
    } catch (err) {
      // Another publish holds the lease: it will publish these changes; not a failure, no retry.
      if (err instanceof LedgerError && err.code === 'publish_in_progress') {
        logger.info('publish skipped: another publish is running', { trigger });
        return { published: false, reason: err.message };
      }
      metrics.addMetric(PUBLISH_METRICS.publishFailed, MetricUnit.Count, 1);
      // Quality gates and failures: thrown, so Lambda retries with back-off, then the event goes to the DLQ; the error alarm sees it.
      // `failure` and not `message`/`error`: Powertools keeps this key whole (`message` is its own).
      logger.error('publish failed', { trigger, failure: { ...describeFailure(err), reasons: err instanceof LedgerError ? err.errors : undefined } });
      throw err;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

let instance: ReturnType<typeof create> | undefined;
export const handler = withLambdaContext((event: unknown, context?: Context) => (instance ??= create(lambdaContext(createAdapters)))(event, context));
