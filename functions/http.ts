import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { LedgerError, STATUS_TITLES, badRequest, notFound, unauthorized } from '../pipeline/errors.ts';
import { IngestInterruptedError } from '../pipeline/ingest-records.ts';
import type { Principal } from '../pipeline/ports.ts';
import { OUTAGE_RETRY_AFTER_S, isOutage } from '../storage/outage.ts';
import { toFieldErrors } from '../schemas/validate-record.ts';
import { logger } from './logger.ts';

export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({ statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) });

/** An RFC 9457 problem document; `errors` carries per-field `{ path, message, code }`. */
export function problem(status: number, code: string, detail: string, errors?: LedgerError['errors']): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify({ type: `urn:rights-ledger:problem:${code}`, title: STATUS_TITLES[status] ?? 'Error', status, detail, code, ...(errors && errors.length > 0 ? { errors } : {}) }),
  };
}

/**
 * 503 for a store that did not answer: the client should wait `Retry-After` seconds and send the same
 * request again (ids are idempotency keys). `extra` carries what is known, e.g. per-record results.
 */
export function unavailable(detail: string, extra: Record<string, unknown> = {}): APIGatewayProxyResult {
  const base = problem(503, 'store_unavailable', detail);
  return { ...base, headers: { ...base.headers, 'retry-after': String(OUTAGE_RETRY_AFTER_S) }, body: JSON.stringify({ ...JSON.parse(base.body), ...extra }) };
}

/** The error as one log field: name, message and code, and its cause's (no stack: an outage is not a bug). */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number } };
  return { name: e.name, message: e.message, code: e.code, http_status: e.$metadata?.httpStatusCode, cause: e.cause === undefined ? undefined : errorFields(e.cause) };
}

/** The caller as the authorizer (Lambda in AWS, the local server at home) put it on the event. */
export function principalOf(event: APIGatewayProxyEvent): Principal {
  const auth = event.requestContext?.authorizer as { keyId?: string; role?: string } | null | undefined;
  if (!auth?.keyId || (auth.role !== 'editor' && auth.role !== 'contributor')) throw unauthorized();
  return { keyId: auth.keyId, role: auth.role };
}

export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === want) return v ?? undefined;
  return undefined;
}

/** The raw body bytes: API Gateway is set to pass every body base64-encoded, so UTF-8 is checked here. */
export function bodyBytes(event: APIGatewayProxyEvent): Uint8Array {
  if (event.body == null) return new Uint8Array();
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** A small JSON body (review, retract, keys), validated by its zod schema. */
export function jsonBody<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes(event)) || 'null');
  } catch {
    throw badRequest('invalid_json', 'the body must be a JSON object');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest('invalid_body', 'the body does not match what this route takes', toFieldErrors(parsed.error.issues, value));
  return parsed.data;
}

/**
 * The query string, validated by its zod schema (a strict object: an unknown parameter is a 400, as is
 * a parameter given twice).
 */
export function queryParams<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.infer<S> {
  const repeated = Object.entries(event.multiValueQueryStringParameters ?? {}).filter(([, values]) => (values?.length ?? 0) > 1);
  if (repeated.length > 0) {
    throw badRequest('invalid_query', 'a query parameter is given more than once', repeated.map(([name]) => ({ path: `/${name}`, code: 'repeated_parameter', message: `give ${name} once` })));
  }
  const value = { ...(event.queryStringParameters ?? {}) };
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest('invalid_query', 'the query string does not match what this route takes', toFieldErrors(parsed.error.issues, value));
  return parsed.data;
}

/** A path parameter, percent-decoded; a malformed encoding is the client's 400, not our 500. */
export function pathParam(event: APIGatewayProxyEvent, name: string): string {
  const raw = event.pathParameters?.[name] ?? '';
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw badRequest('invalid_path', `the ${name} in the path is not valid percent-encoding`);
  }
  // Every id, kind and key id the API hands out is short and plain (a record id is at most 128
  // characters): anything else names nothing here, and must not reach the store (whose keys are limited).
  if (!PATH_VALUE.test(value)) throw notFound(`no ${name} "${value.slice(0, 40)}${value.length > 40 ? '…' : ''}"`);
  return value;
}

const PATH_VALUE = /^[A-Za-z0-9._:-]{1,160}$/;

/**
 * Wraps a route: a LedgerError becomes its problem document; a store that did not answer becomes a 503
 * with Retry-After (and, for a batch cut short, the per-record results known so far); anything else is
 * logged and becomes a 500 whose detail hides the cause (no stack traces to clients). Each failure is
 * logged once, here.
 */
export function httpHandler(route: string, fn: ApiHandler): ApiHandler {
  return async (event) => {
    const started = Date.now();
    let result: APIGatewayProxyResult;
    try {
      result = await fn(event);
    } catch (err) {
      if (err instanceof LedgerError) {
        result = problem(err.status, err.code, err.message, err.errors);
      } else if (err instanceof IngestInterruptedError && isOutage(err.cause)) {
        logger.error('store unavailable', { route, error: errorFields(err.cause), accepted: err.result.accepted, records: err.result.results.length });
        result = unavailable('the store stopped answering during this batch: the records with status created, updated or unchanged are stored; send the others again later (a retry of the whole batch is safe)', err.result);
      } else if (isOutage(err)) {
        logger.error('store unavailable', { route, error: errorFields(err) });
        result = unavailable('the store is not answering: nothing in your request needs changing; try again later');
      } else if (err instanceof IngestInterruptedError) {
        logger.error('unexpected error', { route, error: err.cause instanceof Error ? { name: err.cause.name, message: err.cause.message, stack: err.cause.stack } : String(err.cause), accepted: err.result.accepted });
        result = problem(500, 'internal_error', 'something went wrong on our side during this batch: the records with status created, updated or unchanged are stored; send the others again later');
        result = { ...result, body: JSON.stringify({ ...JSON.parse(result.body), ...err.result }) };
      } else {
        logger.error('unexpected error', { route, error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) });
        result = problem(500, 'internal_error', 'something went wrong on our side; nothing in your request needs changing: try again later');
      }
    }
    const auth = event.requestContext?.authorizer as { keyId?: string } | null | undefined;
    logger.info('request', { route, method: event.httpMethod, status: result.statusCode, key_id: auth?.keyId, ms: Date.now() - started });
    return result;
  };
}
