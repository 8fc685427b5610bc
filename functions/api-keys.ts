// POST /keys, POST /keys/{key_id}/disable → create (shown once) or disable an API key.
import { withLambdaContext } from './logger.ts';
import { createKey, disableKey } from '../pipeline/manage-keys.ts';
import { requireEditor } from '../pipeline/review-record.ts';
import { CreateKeyBody } from '../schemas/api.ts';
import { lambdaContext, type StoreContext } from './config.ts';
import { httpHandler, json, jsonBody, pathParam, principalOf, type ApiHandler } from './http.ts';

export function create(ctx: StoreContext): ApiHandler {
  return httpHandler('keys', async (event) => {
    const principal = principalOf(event);
    requireEditor(principal);
    if (event.resource.endsWith('/disable')) return json(200, await disableKey(pathParam(event, 'key_id'), principal, ctx));
    const body = jsonBody(event, CreateKeyBody);
    return json(201, await createKey(body.role, body.name, principal.keyId, ctx));
  });
}

let instance: ApiHandler | undefined;
export const handler = withLambdaContext((event: Parameters<ApiHandler>[0]) => (instance ??= create(lambdaContext()))(event));
