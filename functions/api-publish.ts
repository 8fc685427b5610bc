// POST /publish → publish a release now (editors) → { published, version, manifest } or { published: false, reason }.
import { publishRelease } from '../pipeline/publish-release.ts';
import { requireEditor } from '../pipeline/review-record.ts';
import { lambdaContext, type AppContext } from './config.ts';
import { httpHandler, json, principalOf, type ApiHandler } from './http.ts';

export function create(ctx: AppContext): ApiHandler {
  return httpHandler('publish', async (event) => {
    requireEditor(principalOf(event));
    return json(200, await publishRelease(ctx, { maxDropShare: ctx.publishing.maxDropShare }));
  });
}

let instance: ApiHandler | undefined;
export const handler: ApiHandler = (event) => (instance ??= create(lambdaContext()))(event);
