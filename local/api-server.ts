import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { create as createInfo } from '../functions/api-info.ts';
import { authorize } from '../functions/authorizer.ts';
import { create as createKeys } from '../functions/api-keys.ts';
import { create as createPublish } from '../functions/api-publish.ts';
import { publishWithinRequest } from '../functions/publish-within-request.ts';
import { create as createRecords } from '../functions/api-records.ts';
import { create as createSubmit } from '../functions/api-submit.ts';
import type { AppContext } from '../functions/config.ts';
import { problem, type ApiHandler } from '../functions/http.ts';
import { ROUTES, type Entry, type RouteSpec } from '../functions/routes.ts';

/** API Gateway's own payload limit: bodies above it never reach a handler there either. */
const GATEWAY_MAX_BODY = 10 * 1024 * 1024;

/**
 * What a slow or abusive client may hold on this server. In AWS, API Gateway applies its own limits
 * (10 MB payload, 29 s integration timeout, throttling) before a handler runs; these stand in for
 * them on one machine (README: "Slow and abusive clients").
 */
export interface ServerLimits {
  /** Time from the connection (or the previous request) to the end of the headers; then a bare 408 and close. */
  headersTimeoutMs: number;
  /** Time from the end of the headers to the end of the body; then a problem+json 408 and close. */
  bodyTimeoutMs: number;
  /** Open connections at once; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** How often Node checks the headers deadline (and its own whole-request fallback). */
  checkIntervalMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = { headersTimeoutMs: 10_000, bodyTimeoutMs: 30_000, maxConnections: 256, checkIntervalMs: 1_000 };

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface CompiledRoute extends RouteSpec {
  pattern: RegExp;
  params: string[];
}

function compile(route: RouteSpec): CompiledRoute {
  const params: string[] = [];
  const source = route.resource.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    params.push(name);
    return '([^/]+)';
  });
  return { ...route, pattern: new RegExp(`^${source === '/' ? '/' : source}/?$`), params };
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
  res.writeHead(result.statusCode, { ...(result.headers as Record<string, string>), 'content-length': String(body.byteLength) });
  res.end(body);
}

/**
 * Answers and closes the connection without reading what is left of the body: a client refused
 * before its body was read (401, 404, 405) or while it was read (413, 408) must not hold the
 * connection by sending the rest slowly. `connection: close` makes Node end the socket once the
 * answer is flushed; the destroy after that is in case the peer never reads it.
 */
function sendAndClose(req: IncomingMessage, res: ServerResponse, result: APIGatewayProxyResult): void {
  req.pause();
  res.shouldKeepAlive = false;
  send(res, { ...result, headers: { ...result.headers, connection: 'close' } });
  const socket = req.socket;
  res.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** The body, unless it grows over the gateway's limit or is not all here by `deadline` (ms since epoch). */
function readBody(req: IncomingMessage, deadline: number): Promise<Buffer | 'too_large' | 'too_slow'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (value: Buffer | 'too_large' | 'too_slow') => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > GATEWAY_MAX_BODY) return finish('too_large');
      chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => finish('too_slow'), Math.max(0, deadline - Date.now()));
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * Serves the Lambda handlers over HTTP, as API Gateway does in AWS: every request becomes a REST API
 * proxy event (body base64-encoded, as with binaryMediaTypes '*\/*'), authorised by the same
 * authorize() the Lambda authorizer calls, and the handler's result becomes the response.
 */
export async function startApiServer(ctx: AppContext, opts: { port: number; host?: string; limits?: Partial<ServerLimits> }): Promise<ApiServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const handlers: Record<Entry, ApiHandler> = {
    'api-info': createInfo(ctx),
    'api-submit': createSubmit(ctx),
    'api-records': createRecords(ctx),
    'api-keys': createKeys(ctx),
    'api-publish': createPublish(ctx, { now: publishWithinRequest(ctx) }),
  };
  const routes = ROUTES.map(compile);

  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Node's own whole-request deadline, a fallback behind the body deadline below (it answers a bare 408).
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + limits.checkIntervalMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
    async (req, res) => {
      const bodyDeadline = Date.now() + limits.bodyTimeoutMs;
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const matching = routes.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m);
        const hit = matching.find((x) => x.r.method === req.method);
        if (!hit) {
          sendAndClose(req, res, matching.length > 0 ? problem(405, 'method_not_allowed', `${req.method} is not allowed here; use ${matching.map((x) => x.r.method).join(' or ')}`) : problem(404, 'not_found', `no route ${url.pathname}`));
          return;
        }
        const { r, m } = hit;
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
        let authorizer: Record<string, string> | null = null;
        if (r.auth) {
          // 401 for a missing, unknown or disabled key; 503 (logged, Retry-After) when the key store does not answer.
          const outcome = await authorize(headers.authorization, ctx.keys);
          if ('refused' in outcome) return sendAndClose(req, res, outcome.refused);
          authorizer = { principalId: outcome.principal.keyId, keyId: outcome.principal.keyId, role: outcome.principal.role };
        }
        const body = await readBody(req, bodyDeadline);
        if (body === 'too_large') return sendAndClose(req, res, problem(413, 'payload_too_large', `the body is over ${GATEWAY_MAX_BODY} bytes: split it into smaller batches`));
        if (body === 'too_slow') return sendAndClose(req, res, problem(408, 'request_timeout', `the body did not arrive within ${limits.bodyTimeoutMs / 1000} s of the headers: send it at once, or in smaller batches`));
        const event = {
          resource: r.resource,
          path: url.pathname,
          httpMethod: r.method,
          headers,
          multiValueHeaders: {},
          // As API Gateway: the last value of each parameter, and all of them.
          queryStringParameters: url.searchParams.size > 0 ? Object.fromEntries(url.searchParams) : null,
          multiValueQueryStringParameters: url.searchParams.size > 0 ? Object.fromEntries([...new Set(url.searchParams.keys())].map((k) => [k, url.searchParams.getAll(k)])) : null,
          pathParameters: r.params.length > 0 ? Object.fromEntries(r.params.map((p, i) => [p, m![i + 1]!])) : null,
          stageVariables: null,
          body: body.byteLength > 0 ? body.toString('base64') : null,
          isBase64Encoded: body.byteLength > 0,
          requestContext: { authorizer, requestId: randomUUID(), httpMethod: r.method, resourcePath: r.resource, path: url.pathname, stage: 'local' },
        } as unknown as APIGatewayProxyEvent;
        send(res, await handlers[r.entry](event));
      } catch {
        if (!res.headersSent) send(res, problem(500, 'internal_error', 'something went wrong on our side: try again later'));
        else res.destroy();
      }
    },
  );
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
