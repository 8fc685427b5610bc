// GET /, GET /health, GET /openapi.json → what this service is, whether its store and bucket answer, and its OpenAPI document.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { errorFields, json, httpHandler, header, unavailable, type ApiHandler } from './http.ts';
import { logger, withLambdaContext } from './logger.ts';
import { createBucketAdapters, type BucketAdapters } from '../storage/bucket-adapters.ts';
import { lambdaContext, type ContextFacts } from './config.ts';
import { openApiDocument } from './openapi.ts';

/** Where this API is served, as the request reached it: the API Gateway stage, or the local server. */
function serverUrl(event: APIGatewayProxyEvent): string | undefined {
  const rc = event.requestContext as { domainName?: string; stage?: string } | undefined;
  if (rc?.domainName && rc.stage) return `https://${rc.domainName}/${rc.stage}`;
  const host = header(event, 'host');
  return host ? `http://${host}` : undefined;
}

export function create(ctx: BucketAdapters & ContextFacts): ApiHandler {
  let document: Record<string, unknown> | undefined;
  return httpHandler('info', async (event) => {
    if (event.resource === '/health') {
      const checks = await Promise.allSettled([ctx.records.ping(), ctx.objects.ping()]);
      const failed = (['store', 'bucket'] as const).flatMap((what, i) => (checks[i]!.status === 'rejected' ? [{ what, error: errorFields((checks[i] as PromiseRejectedResult).reason) }] : []));
      if (failed.length === 0) return json(200, { ok: true });
      // Once per request, with each cause: an outage is an operator's to see, not only the caller's.
      logger.error('health check failed', { failed });
      return unavailable(`not answering: ${failed.map((f) => f.what).join(', ')}: try again after Retry-After seconds`);
    }
    if (event.resource === '/openapi.json') {
      document ??= openApiDocument({ version: ctx.info.version });
      const url = serverUrl(event);
      return json(200, url ? { ...document, servers: [{ url }] } : document);
    }
    const base = ctx.info.publicBaseUrl;
    return json(200, { name: ctx.info.name, version: ctx.info.version, public_base_url: base, catalog_url: `${base}/catalog.json` });
  });
}

let instance: ApiHandler | undefined;
export const handler = withLambdaContext((event: Parameters<ApiHandler>[0]) => (instance ??= create(lambdaContext(createBucketAdapters)))(event));
