// GET / and GET /health → what this service is, and whether its store and bucket answer.
import { json, problem, httpHandler, type ApiHandler } from './http.ts';
import { lambdaContext, type AppContext } from './config.ts';

export function create(ctx: AppContext): ApiHandler {
  return httpHandler('info', async (event) => {
    if (event.resource === '/health') {
      const checks = await Promise.allSettled([ctx.records.ping(), ctx.objects.ping()]);
      const down = ['store', 'bucket'].filter((_, i) => checks[i]!.status === 'rejected');
      return down.length === 0 ? json(200, { ok: true }) : problem(503, 'unavailable', `not answering: ${down.join(', ')}`);
    }
    const base = ctx.info.publicBaseUrl;
    return json(200, { name: ctx.info.name, version: ctx.info.version, public_base_url: base, catalog_url: `${base}/catalog.json` });
  });
}

let instance: ApiHandler | undefined;
export const handler: ApiHandler = (event) => (instance ??= create(lambdaContext()))(event);
