// GET /records/{kind}/{id}, POST …/review, POST …/retract → read, review or retract one record.
import { readRecord, requireEditor, retractRecord, reviewRecord } from '../pipeline/review-record.ts';
import { RetractBody, ReviewBody } from '../schemas/api.ts';
import { lambdaContext, type AppContext } from './config.ts';
import { httpHandler, json, jsonBody, pathParam, principalOf, type ApiHandler } from './http.ts';

export function create(ctx: AppContext): ApiHandler {
  return httpHandler('records', async (event) => {
    const principal = principalOf(event);
    const kind = pathParam(event, 'kind');
    const id = pathParam(event, 'id');
    // The role before the body: a contributor learns nothing from a review route but 403.
    if (event.resource.endsWith('/review') || event.resource.endsWith('/retract')) requireEditor(principal);
    if (event.resource.endsWith('/review')) {
      const body = jsonBody(event, ReviewBody);
      return json(200, await reviewRecord(kind, id, body.decision, body.note, principal, ctx));
    }
    if (event.resource.endsWith('/retract')) {
      return json(200, await retractRecord(kind, id, jsonBody(event, RetractBody).reason, principal, ctx));
    }
    return json(200, await readRecord(kind, id, principal, ctx));
  });
}

let instance: ApiHandler | undefined;
export const handler: ApiHandler = (event) => (instance ??= create(lambdaContext()))(event);
