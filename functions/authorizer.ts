// API Gateway REQUEST authorizer → the same authorize() the local server calls → allow with the principal.
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { LedgerError } from '../pipeline/errors.ts';
import { authenticate } from '../pipeline/manage-keys.ts';
import type { KeyStore, Principal } from '../pipeline/ports.ts';
import { lambdaContext } from './config.ts';
import { errorFields, problem, unavailable } from './http.ts';
import { logger, withLambdaContext } from './logger.ts';

/**
 * The key check of every authenticated route, in AWS and on the local server: the principal, or the
 * answer instead of the handler's. 401 only for a missing, unknown or disabled key; a key store that
 * does not answer is 503 with Retry-After (never 401: a valid key must not be told it is invalid, nor
 * 500: nothing is wrong with the request), logged once.
 */
export async function authorize(authorization: string | undefined, keys: KeyStore): Promise<{ principal: Principal } | { refused: APIGatewayProxyResult }> {
  try {
    return { principal: await authenticate(authorization, keys) };
  } catch (err) {
    if (err instanceof LedgerError) {
      logger.info('authorization refused', { reason: err.message });
      return { refused: problem(err.status, err.code, err.message) };
    }
    logger.error('key store unavailable', { route: 'authorizer', error: errorFields(err) });
    return { refused: unavailable('the key store is not answering: nothing in your request needs changing; try again later') };
  }
}

/** The Lambda authorizer over a key store (tests give it the local one). */
export function create(ctx: { keys: KeyStore }) {
  return (event: APIGatewayRequestAuthorizerEvent) => authorizerHandler(event, ctx.keys);
}

export const handler = withLambdaContext((event: APIGatewayRequestAuthorizerEvent) => authorizerHandler(event, lambdaContext().keys));

async function authorizerHandler(event: APIGatewayRequestAuthorizerEvent, keys: KeyStore): Promise<APIGatewayAuthorizerResult> {
  const header = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
  const outcome = await authorize(header ?? undefined, keys);
  if ('refused' in outcome) {
    // API Gateway answers 401 for exactly this message (UNAUTHORIZED); any other error is its
    // AUTHORIZER_FAILURE, which infra/ledger-api.ts answers as 503 with Retry-After.
    if (outcome.refused.statusCode === 401) throw new Error('Unauthorized');
    throw new Error('key store unavailable');
  }
  const { principal } = outcome;
  return {
    principalId: principal.keyId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn.split('/').slice(0, 2).join('/') + '/*' }] },
    context: { keyId: principal.keyId, role: principal.role },
  };
}
