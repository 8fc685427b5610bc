/**
 * Whether an error from the DynamoDB or S3 client means the service did not answer (down, stopped,
 * overloaded, unreachable) rather than that the request was wrong: those become 503 with Retry-After,
 * never 500. Judged on what the SDK and Node put on the error, never on its message text alone.
 */
const OUTAGE_NAMES = new Set([
  'TimeoutError', // connection, request or socket timeout (@smithy/node-http-handler)
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'InternalError',
  'SlowDown',
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

export function isOutage(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 4) return false;
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number }; $response?: unknown; cause?: unknown; errors?: unknown };
  if (OUTAGE_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) return true;
  // A service error with a 5xx status (the SDK's retries are spent by then).
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  // The SDK gives a bare socket error "socket hang up" (ECONNRESET) or an AggregateError of attempts.
  if (Array.isArray(e.errors) && e.errors.some((inner) => isOutage(inner, depth + 1))) return true;
  return isOutage(e.cause, depth + 1);
}

/** Seconds a client should wait before retrying after an outage answer (HTTP Retry-After). */
export const OUTAGE_RETRY_AFTER_S = 5;
