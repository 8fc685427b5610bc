import type { z } from 'zod';
import { SubmitBody } from '../schemas/api.ts';
import { toFieldErrors } from '../schemas/validate-record.ts';
import { duplicateKeys, markDuplicates, parseRecordText } from '../schemas/duplicate-keys.ts';
import { LedgerError, badRequest } from './errors.ts';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;
export const MAX_RECORDS = 1000;
/** At most this many malformed NDJSON lines are listed; the problem says how many more there are. */
export const MAX_LINE_ERRORS = 100;
/** At most this many duplicate member names are reported for one request. */
const MAX_DUPLICATES = 1000;

const tooMany = (n: number) => new LedgerError(413, 'too_many_records', `the request holds ${n} records; at most ${MAX_RECORDS} per request: split it into smaller batches`);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // A RangeError is V8 running out of stack on absurd nesting: still the client's malformed input.
    return { ok: false, message: err instanceof Error ? err.message : 'not valid JSON' };
  }
}

/**
 * Turns a POST /records body into the list of raw records: `{ "records": [...] }` as JSON, or one record
 * per line as NDJSON. Refuses the whole request (nothing is stored) on a wrong content type, a body over
 * 5 MiB, bytes that are not UTF-8, malformed JSON (naming the NDJSON line), no records or more than 1000.
 */
export function parseSubmission(body: Uint8Array, contentType: string | undefined): unknown[] {
  const type = mediaType(contentType);
  if (type !== 'application/json' && type !== 'application/x-ndjson') {
    throw new LedgerError(415, 'unsupported_media_type', 'send Content-Type: application/json ({"records": [...]}) or application/x-ndjson (one record per line)');
  }
  if (body.byteLength > MAX_BODY_BYTES) {
    throw new LedgerError(413, 'payload_too_large', `the body is ${body.byteLength} bytes; at most ${MAX_BODY_BYTES} (5 MiB) per request: split it into smaller batches`);
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw badRequest('invalid_utf8', 'the body is not valid UTF-8');
  }
  let records: unknown[];
  if (type === 'application/json') {
    const parsed = parseJson(text);
    if (!parsed.ok) throw badRequest('invalid_json', `the body is not valid JSON: ${parsed.message}`, [{ path: '', code: 'invalid_json', message: parsed.message }]);
    const v = parsed.value;
    // The envelope is checked by SubmitBody, the schema the OpenAPI document publishes.
    const envelope = SubmitBody.safeParse(v);
    if (!envelope.success) {
      const issues: ReadonlyArray<z.core.$ZodIssue> = envelope.error.issues;
      const size = (v as { records?: unknown[] } | null)?.records?.length ?? 0;
      if (issues.some((i) => i.code === 'too_big' && i.path[0] === 'records')) throw tooMany(size);
      if (issues.some((i) => i.code === 'too_small' && i.path[0] === 'records')) throw badRequest('empty_batch', 'the request holds no records');
      throw badRequest('invalid_body', 'the body must be a JSON object {"records": [...]} and nothing else', toFieldErrors(issues, v));
    }
    records = envelope.data.records;
    // Duplicate member names: in the envelope the request is refused; inside a record, that record is.
    const perRecord = new Map<number, string[]>();
    for (const pointer of duplicateKeys(text, MAX_DUPLICATES)) {
      const m = /^\/records\/(\d+)(\/.*)$/.exec(pointer);
      if (!m) throw badRequest('duplicate_key', 'a member name appears more than once in the request body', [{ path: pointer, code: 'duplicate_key', message: 'send each member once' }]);
      perRecord.set(Number(m[1]), [...(perRecord.get(Number(m[1])) ?? []), m[2]!]);
    }
    for (const [i, pointers] of perRecord) markDuplicates(records[i], pointers);
  } else {
    // Count the records before parsing any: a body of a million bad lines costs one pass over the text.
    const lines = text.split('\n');
    const count = lines.reduce((n, l) => (l.trim() === '' ? n : n + 1), 0);
    if (count > MAX_RECORDS) throw tooMany(count);
    records = [];
    const errors: Array<{ line: number; path: string; code: string; message: string }> = [];
    let bad = 0;
    lines.forEach((raw, i) => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.trim() === '') return;
      try {
        records.push(parseRecordText(line));
      } catch (err) {
        bad++;
        if (errors.length < MAX_LINE_ERRORS) errors.push({ line: i + 1, path: '', code: 'invalid_json', message: err instanceof Error ? err.message : 'not valid JSON' });
      }
    });
    if (bad > 0) {
      const more = bad - errors.length;
      throw badRequest('invalid_json', `${bad} line(s) are not valid JSON${more > 0 ? ` (the first ${errors.length} are listed, ${more} more are not)` : ''}; nothing was stored`, errors);
    }
  }
  if (records.length === 0) throw badRequest('empty_batch', 'the request holds no records');
  return records;
}
