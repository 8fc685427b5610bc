// API Gateway REQUEST authorizer → the same authenticate() the local server calls → allow with the principal.
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authenticate } from '../pipeline/manage-keys.ts';
import { lambdaContext } from './config.ts';
import { logger } from './logger.ts';

export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const header = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
  try {
    const principal = await authenticate(header ?? undefined, lambdaContext().keys);
    return {
      principalId: principal.keyId,
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn.split('/').slice(0, 2).join('/') + '/*' }] },
      context: { keyId: principal.keyId, role: principal.role },
    };
  } catch (err) {
    logger.info('authorization refused', { reason: err instanceof Error ? err.message : 'unknown' });
    // API Gateway answers 401 for exactly this message.
    throw new Error('Unauthorized');
  }
}
