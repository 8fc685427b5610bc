// GET /records, GET /records/{kind}/{id}[/history], POST …/review, POST …/retract, POST /reviews → list, read, review or retract records.
import { withLambdaContext } from './logger.ts';
import { listRecords } from '../pipeline/list-records.ts';
import { recordHistory } from '../pipeline/record-history.ts';
import { reviewDecisions } from '../pipeline/review-decisions.ts';
import { readRecord, requireEditor, retractRecord, reviewRecord } from '../pipeline/review-record.ts';
import { ListRecordsQuery, RetractBody, ReviewBody, ReviewsBody } from '../schemas/api.ts';
import { lambdaContext, type StoreContext } from './config.ts';
import { httpHandler, json, jsonBody, pathParam, principalOf, queryParams, type ApiHandler } from './http.ts';

export function create(ctx: StoreContext): ApiHandler {
  return httpHandler('records', async (event) => {
    const principal = principalOf(event);
    const route = `${event.httpMethod} ${event.resource}`;
    if (route === 'GET /records') return json(200, await listRecords(queryParams(event, ListRecordsQuery), principal, ctx));
    // The role before the body: a contributor learns nothing from a review route but 403.
    if (event.httpMethod === 'POST') requireEditor(principal);
    if (route === 'POST /reviews') return json(200, await reviewDecisions(jsonBody(event, ReviewsBody).decisions, principal, ctx));
    const kind = pathParam(event, 'kind');
    const id = pathParam(event, 'id');
    if (event.resource.endsWith('/review')) return json(200, await reviewRecord(kind, id, jsonBody(event, ReviewBody), principal, ctx));
    if (event.resource.endsWith('/retract')) return json(200, await retractRecord(kind, id, jsonBody(event, RetractBody).reason, principal, ctx));
    if (event.resource.endsWith('/history')) return json(200, await recordHistory(kind, id, principal, ctx));
    return json(200, await readRecord(kind, id, principal, ctx));
  });
}

let instance: ApiHandler | undefined;
export const handler = withLambdaContext((event: Parameters<ApiHandler>[0]) => (instance ??= create(lambdaContext()))(event));
