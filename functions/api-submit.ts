// POST /records → ingest a batch (JSON or NDJSON) → per-record results.
import { withLambdaContext } from './logger.ts';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { parseSubmission } from '../pipeline/parse-submission.ts';
import { lambdaContext, type StoreContext } from './config.ts';
import { bodyBytes, header, httpHandler, json, principalOf, type ApiHandler } from './http.ts';

export function create(ctx: StoreContext): ApiHandler {
  return httpHandler('submit', async (event) => {
    const principal = principalOf(event);
    const raw = parseSubmission(bodyBytes(event), header(event, 'content-type'));
    return json(200, await ingestRecords(raw, principal, ctx));
  });
}

let instance: ApiHandler | undefined;
export const handler = withLambdaContext((event: Parameters<ApiHandler>[0]) => (instance ??= create(lambdaContext()))(event));
