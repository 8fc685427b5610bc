import type { FieldError } from '../schemas/validate-record.ts';

/**
 * An error the client caused or may act on: carries the HTTP status and a stable code, and becomes an
 * `application/problem+json` response. Anything that is not a LedgerError is a 500 with a hidden detail.
 */
export class LedgerError extends Error {
  override name = 'LedgerError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors?: ReadonlyArray<FieldError & { line?: number; index?: number }>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const badRequest = (code: string, message: string, errors?: LedgerError['errors']) => new LedgerError(400, code, message, errors);
export const unauthorized = (message = 'a valid API key is required: send "Authorization: Bearer <key>"') => new LedgerError(401, 'unauthorized', message);
export const forbidden = (message: string) => new LedgerError(403, 'forbidden', message);
export const notFound = (message: string) => new LedgerError(404, 'not_found', message);
export const conflict = (code: string, message: string, errors?: LedgerError['errors']) => new LedgerError(409, code, message, errors);

/** Titles for the problem documents, by status. */
export const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
