// POST /publish on one machine (npm start, the tests): the publish runs within the request and answers with its result.
import { publishTracked } from '../pipeline/track-publish.ts';
import { forPublishing } from '../storage/adapters.ts';
import type { PublishNow } from './api-publish.ts';
import type { AppContext } from './config.ts';

/** The publish, through the publisher's clients ({@link forPublishing}), recorded for GET /publish/status. */
export function publishWithinRequest(ctx: AppContext): PublishNow {
  return ({ full, status }) => publishTracked({ ...forPublishing(ctx), status }, { maxDropShare: ctx.publishing.maxDropShare, full });
}
