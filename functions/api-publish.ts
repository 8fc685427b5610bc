// POST /publish ({"full": true} for a full rebuild) → publish a release (editors); GET /publish/status → the last publish.
// In AWS the publish is handed to the publisher function (202); locally it runs within the request (200 with its
// result, functions/publish-within-request.ts). This module holds no publishing code, so the function's bundle
// carries neither the publisher, nor DuckDB's builder, nor the S3 client (bench id 7).
import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { conflict } from '../pipeline/errors.ts';
import type { PublishResult } from '../pipeline/publish-release.ts';
import { requireEditor } from '../pipeline/review-record.ts';
import type { PublishStatusStore } from '../pipeline/track-publish.ts';
import { PublishBody } from '../schemas/api.ts';
import type { PublishAccepted } from '../schemas/publish-status.ts';
import { publishStatusStore } from '../storage/dynamodb-publish-status.ts';
import { CLIENT_TIMEOUTS, retriesButNotTimeouts } from '../storage/store-adapters.ts';
import { lambdaContext, type StoreContext } from './config.ts';
import { bodyBytes, header, httpHandler, json, jsonBody, principalOf, problem, type ApiHandler } from './http.ts';
import { withLambdaContext } from './logger.ts';
import type { PublishRequest } from './scheduled-publish.ts';

/** Starts a publish elsewhere and returns at once (in AWS: an asynchronous invocation of the publisher). */
export type PublishStarter = (request: PublishRequest) => Promise<void>;

/** A publish still `running` after this long is taken as dead (the publisher's timeout is 15 minutes). */
export const RUNNING_STALE_MS = 16 * 60_000;

/** Runs a publish within the request and gives its result (one machine: no gateway timeout to beat). */
export type PublishNow = (request: { full: boolean; status: PublishStatusStore }) => Promise<PublishResult>;

/** How POST /publish runs a publish: `start` hands it elsewhere and answers 202; `now` runs it and answers 200. */
export type PublishRunner = { start: PublishStarter } | { now: PublishNow };

export function create(ctx: StoreContext, runner: PublishRunner): ApiHandler {
  const status = publishStatusStore(ctx);
  return httpHandler('publish', async (event) => {
    const principal = principalOf(event);
    requireEditor(principal);
    if (event.httpMethod === 'GET') {
      const last = await status.read();
      return last ? json(200, last) : problem(404, 'no_publish_yet', 'no publish has run yet');
    }
    const body = bodyBytes(event).byteLength > 0 ? jsonBody(event, PublishBody) : {};
    const full = body.full === true;
    if ('now' in runner) return json(200, await runner.now({ full, status }));
    const now = ctx.clock.now();
    const claimed = await status.claim({ state: 'running', started_at: now.toISOString() }, new Date(now.getTime() - RUNNING_STALE_MS).toISOString());
    if (!claimed) throw conflict('publish_in_progress', 'another publish is running: try again when it has finished (GET /publish/status)');
    try {
      await runner.start({ source: 'rights-ledger.api', full, requested_by: principal.keyId });
    } catch (err) {
      await status.write({ state: 'failed', started_at: now.toISOString(), finished_at: ctx.clock.now().toISOString(), error: { code: 'publish_not_started', message: `the publisher could not be started: ${(err as Error).name}` } });
      throw err;
    }
    const rc = event.requestContext as { domainName?: string; stage?: string } | undefined;
    const host = rc?.domainName ?? header(event, 'host') ?? 'localhost';
    const accepted: PublishAccepted = { accepted: true, status_url: `https://${host}${rc?.stage && rc.stage !== 'local' ? `/${rc.stage}` : ''}/publish/status` };
    return json(202, accepted);
  });
}

/**
 * In AWS: the publisher function's name, set by the stack (LEDGER_PUBLISHER_FUNCTION).
 * An asynchronous invoke only queues the event (Lambda answers 202 at once), so the client gets the API's
 * bounds (CLIENT_TIMEOUTS: 1 s connect, 4 s request, a timeout never retried): a silent Lambda service
 * fails POST /publish with 503 long before API Gateway's 29 s, and the status records `publish_not_started`.
 */
export function lambdaStarter(functionName: string | undefined, client: LambdaClientConfig = {}): PublishStarter {
  if (!functionName) throw new Error('configuration: LEDGER_PUBLISHER_FUNCTION must name the publisher function (the stack sets it)');
  const lambda = new LambdaClient({
    maxAttempts: CLIENT_TIMEOUTS.maxAttempts,
    retryStrategy: retriesButNotTimeouts(CLIENT_TIMEOUTS.maxAttempts),
    requestHandler: { connectionTimeout: CLIENT_TIMEOUTS.connectionMs, requestTimeout: CLIENT_TIMEOUTS.dynamodbRequestMs, throwOnRequestTimeout: true },
    ...client,
  });
  return async (request) => {
    await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(request)) }));
  };
}

let instance: ApiHandler | undefined;
// LEDGER_PUBLISHER_FUNCTION is read here, beside the adapter it chooses (functions/config.ts has no Lambda client).
export const handler = withLambdaContext((event: Parameters<ApiHandler>[0]) => (instance ??= create(lambdaContext(), { start: lambdaStarter(process.env.LEDGER_PUBLISHER_FUNCTION) }))(event));
