import { Logger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs. Callers log ids, counts, codes and key ids only: never a body, a key or a
 * `restricted` value.
 */
export const logger = new Logger({ serviceName: 'rights-ledger', logLevel: (process.env.LEDGER_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
