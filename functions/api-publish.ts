// POST /publish ({"full": true} for a full rebuild) → publish a release now (editors) → { published, version, manifest, deferred } or { published: false, reason }.
import { publishRelease } from '../pipeline/publish-release.ts';
import { requireEditor } from '../pipeline/review-record.ts';
import { lambdaContext, type AppContext } from './config.ts';
import { PublishBody } from '../schemas/api.ts';
import { bodyBytes, httpHandler, json, jsonBody, principalOf, type ApiHandler } from './http.ts';

export function create(ctx: AppContext): ApiHandler {
  return httpHandler('publish', async (event) => {
    requireEditor(principalOf(event));
    const body = bodyBytes(event).byteLength > 0 ? jsonBody(event, PublishBody) : {};
    return json(200, await publishRelease(ctx, { maxDropShare: ctx.publishing.maxDropShare, full: body.full === true }));
  });
}

let instance: ApiHandler | undefined;
export const handler: ApiHandler = (event) => (instance ??= create(lambdaContext()))(event);
