import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

/**
 * Structured JSON logs. Callers log ids, counts, codes and key ids only: never a body, a key or a
 * `restricted` value.
 */
export const logger = new Logger({ serviceName: 'rights-ledger', logLevel: (process.env.LEDGER_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });

/**
 * Powertools' injectLambdaContext for plain handler functions: every log line of the invocation carries
 * the request id, function name and cold start. The context is absent when a handler is called outside
 * Lambda (local server, tests).
 */
export function withLambdaContext<E, R>(fn: (event: E, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  return async (event, context) => {
    if (context) logger.addContext(context);
    return fn(event, context);
  };
}
