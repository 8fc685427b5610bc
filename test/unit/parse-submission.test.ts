// Unit tests of the POST /records body parser (API.md "POST /records").
import { describe, expect, it } from 'vitest';
import { LedgerError } from '../../pipeline/errors.ts';
import { MAX_BODY_BYTES, MAX_RECORDS, parseSubmission } from '../../pipeline/parse-submission.ts';
import { validateRecord } from '../../schemas/validate-record.ts';

const JSON_TYPE = 'application/json';
const NDJSON_TYPE = 'application/x-ndjson';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

const SOURCE = { id: 'src-test-1', kind: 'source', title: 'A report', publisher: 'Iran Human Rights', publisher_type: 'ngo' };
const EVENT = {
  id: 'evt-test-1',
  kind: 'event',
  event_type: 'protest',
  date_start: '2026-01-08',
  location: { admin1: 'Tehran' },
  description: 'Protesters gathered.',
  source_ids: ['src-test-1'],
};

/** Runs `fn`, which must throw a LedgerError, and returns that error. */
function ledgerErrorOf(fn: () => unknown): LedgerError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a LedgerError to be thrown').toBeInstanceOf(LedgerError);
  return thrown as LedgerError;
}

/** A JSON body {"records":[…]} of exactly `size` bytes (padding inside one record). */
function jsonBodyOfSize(size: number): Uint8Array {
  const head = '{"records":[{"id":"src-pad","pad":"';
  const tail = '"}]}';
  return bytes(head + 'x'.repeat(size - head.length - tail.length) + tail);
}

describe('parseSubmission: JSON', () => {
  it('returns the records of {"records":[…]} in order', () => {
    // Prepare
    const body = bytes(JSON.stringify({ records: [SOURCE, EVENT] }));
    // Act
    const records = parseSubmission(body, JSON_TYPE);
    // Assess
    expect(records).toEqual([SOURCE, EVENT]);
  });

  it.each([['application/json; charset=utf-8'], ['Application/JSON'], [' application/json ']])('accepts the content type %j', (contentType) => {
    // Prepare
    const body = bytes(JSON.stringify({ records: [SOURCE] }));
    // Act
    const records = parseSubmission(body, contentType);
    // Assess
    expect(records).toEqual([SOURCE]);
  });

  it('passes records through unjudged: each is validated on its own later', () => {
    // Prepare
    const body = bytes(JSON.stringify({ records: [SOURCE, 'not a record', 5, null, { kind: 'victim' }] }));
    // Act
    const records = parseSubmission(body, JSON_TYPE);
    // Assess
    expect(records).toHaveLength(5);
    expect(records[1]).toBe('not a record');
  });

  it('keeps non-ASCII text intact (UTF-8 decoding)', () => {
    // Prepare
    const rec = { ...EVENT, description: 'کشته شدن معترضان — Café 😀' };
    const body = bytes(JSON.stringify({ records: [rec] }));
    // Act
    const records = parseSubmission(body, JSON_TYPE);
    // Assess
    expect(records).toEqual([rec]);
  });

  it.each([['{"records":[{"id":"x",}]}'], ['{"records":['], [''], ['records: []'], ["{'records':[]}"], ['{"records":[]} trailing']])('malformed JSON %j → 400 invalid_json', (text) => {
    // Prepare
    const body = bytes(text);
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_json');
    expect(err.errors).toEqual([{ path: '', code: 'invalid_json', message: expect.any(String) }]);
  });

  it('extra top-level body fields → 400, each named at its path', () => {
    // Prepare
    const body = bytes(JSON.stringify({ records: [SOURCE], dry_run: true, colour: 'red' }));
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.errors?.map((e) => e.path).sort()).toEqual(['/colour', '/dry_run']);
    for (const e of err.errors ?? []) expect(e.code).toBe('unknown_field');
  });

  it.each([
    ['an array', JSON.stringify([SOURCE])],
    ['null', 'null'],
    ['a string', '"records"'],
    ['a number', '42'],
    ['no records field', '{}'],
    ['records not an array', JSON.stringify({ records: SOURCE })],
    ['records null', '{"records":null}'],
  ])('a body that is %s → 400', (_what, text) => {
    // Prepare
    const body = bytes(text);
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).not.toBe('empty_batch');
  });

  it('{"records":[]} → 400 empty_batch', () => {
    // Prepare
    const body = bytes('{"records":[]}');
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('empty_batch');
  });

  it(`${MAX_RECORDS} records are accepted; ${MAX_RECORDS + 1} → 413 too_many_records`, () => {
    // Prepare
    const ok = bytes(JSON.stringify({ records: Array.from({ length: 1000 }, (_, i) => ({ id: `src-${i}` })) }));
    const tooMany = bytes(JSON.stringify({ records: Array.from({ length: 1001 }, (_, i) => ({ id: `src-${i}` })) }));
    // Act
    const records = parseSubmission(ok, JSON_TYPE);
    const err = ledgerErrorOf(() => parseSubmission(tooMany, JSON_TYPE));
    // Assess
    expect(MAX_RECORDS).toBe(1000);
    expect(records).toHaveLength(1000);
    expect(err.status).toBe(413);
    expect(err.code).toBe('too_many_records');
  });

  it('a 10,000-deep nested array as the body gives a clean 400 LedgerError, not a crash', () => {
    // Prepare
    const body = bytes('['.repeat(10_000) + ']'.repeat(10_000));
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
  });

  it.each([
    ['a 10,000-deep array as a record', `{"records":[${'['.repeat(10_000)}${']'.repeat(10_000)}]}`],
    ['a 10,000-deep object in a record', `{"records":[{"id":"src-deep","kind":"source","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}]}`],
    ['a 100,000-deep array as a record', `{"records":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`],
  ])('%s: either a 400 LedgerError or records that validation refuses cleanly', (_what, text) => {
    // Prepare
    const body = bytes(text);
    // Act
    let records: unknown[] | undefined;
    let thrown: unknown;
    try {
      records = parseSubmission(body, JSON_TYPE);
    } catch (err) {
      thrown = err;
    }
    // Assess
    if (thrown !== undefined) {
      expect(thrown).toBeInstanceOf(LedgerError);
      expect((thrown as LedgerError).status).toBe(400);
      return;
    }
    expect(records).toHaveLength(1);
    const v = validateRecord(records![0]);
    expect(v.ok).toBe(false);
  });
});

describe('parseSubmission: NDJSON', () => {
  it('returns one record per line', () => {
    // Prepare
    const body = bytes(`${JSON.stringify(SOURCE)}\n${JSON.stringify(EVENT)}\n`);
    // Act
    const records = parseSubmission(body, NDJSON_TYPE);
    // Assess
    expect(records).toEqual([SOURCE, EVENT]);
  });

  it('tolerates blank lines, whitespace-only lines, CRLF and no final newline', () => {
    // Prepare
    const body = bytes(`\r\n${JSON.stringify(SOURCE)}\r\n\r\n   \n\t\n${JSON.stringify(EVENT)}`);
    // Act
    const records = parseSubmission(body, NDJSON_TYPE);
    // Assess
    expect(records).toEqual([SOURCE, EVENT]);
  });

  it('accepts the content type with parameters and in any case', () => {
    // Prepare
    const body = bytes(JSON.stringify(SOURCE));
    // Act
    const records = parseSubmission(body, 'Application/X-NDJSON; charset=utf-8');
    // Assess
    expect(records).toEqual([SOURCE]);
  });

  it('a malformed line → 400 invalid_json naming the line (counted from 1), path ""', () => {
    // Prepare
    const body = bytes(`${JSON.stringify(SOURCE)}\n{"id": "evt-x",\n`);
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, NDJSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_json');
    expect(err.errors).toEqual([{ line: 2, path: '', code: 'invalid_json', message: expect.any(String) }]);
  });

  it('several malformed lines are all named; blank lines still count in the numbering; CRLF too', () => {
    // Prepare
    const lines = [
      JSON.stringify(SOURCE), // 1
      '', // 2
      '{bad', // 3
      JSON.stringify(EVENT), // 4
      '{"a":1}{"b":2}', // 5: two values on one line
      '', // 6
      '[}', // 7
      "{'single': 'quotes'}", // 8
    ];
    const body = bytes(lines.join('\r\n'));
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, NDJSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_json');
    expect(err.errors?.map((e) => e.line)).toEqual([3, 5, 7, 8]);
    for (const e of err.errors ?? []) {
      expect(e).toEqual({ line: expect.any(Number), path: '', code: 'invalid_json', message: expect.any(String) });
      expect(e.message.length).toBeGreaterThan(0);
    }
  });

  it('a JSON body with {"records":[…]} pretty-printed over lines is malformed NDJSON', () => {
    // Prepare
    const body = bytes(JSON.stringify({ records: [SOURCE] }, null, 2));
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, NDJSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_json');
    expect(err.errors?.[0]?.line).toBe(1);
  });

  it.each([[''], ['\n'], ['\r\n\r\n'], ['   \n\t\n']])('no records (%j) → 400 empty_batch', (text) => {
    // Prepare
    const body = bytes(text);
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, NDJSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('empty_batch');
  });

  it(`${MAX_RECORDS} lines are accepted; ${MAX_RECORDS + 1} → 413 too_many_records`, () => {
    // Prepare
    const line = JSON.stringify(SOURCE);
    const ok = bytes(Array.from({ length: 1000 }, () => line).join('\n'));
    const tooMany = bytes(Array.from({ length: 1001 }, () => line).join('\n'));
    // Act
    const records = parseSubmission(ok, NDJSON_TYPE);
    const err = ledgerErrorOf(() => parseSubmission(tooMany, NDJSON_TYPE));
    // Assess
    expect(records).toHaveLength(1000);
    expect(err.status).toBe(413);
    expect(err.code).toBe('too_many_records');
  });

  it('a 10,000-deep nested array on a line never crashes', () => {
    // Prepare
    const body = bytes('['.repeat(10_000) + ']'.repeat(10_000));
    // Act
    let thrown: unknown;
    let records: unknown[] | undefined;
    try {
      records = parseSubmission(body, NDJSON_TYPE);
    } catch (err) {
      thrown = err;
    }
    // Assess
    if (thrown !== undefined) {
      expect(thrown).toBeInstanceOf(LedgerError);
      expect((thrown as LedgerError).status).toBe(400);
    } else {
      expect(validateRecord(records![0]).ok).toBe(false);
    }
  });
});

describe('parseSubmission: content type, size, encoding', () => {
  it.each([['text/plain'], ['application/xml'], ['multipart/form-data; boundary=x'], ['application/problem+json'], ['application/jsonl'], [''], [undefined]])(
    'content type %j → 415',
    (contentType) => {
      // Prepare
      const body = bytes(JSON.stringify({ records: [SOURCE] }));
      // Act
      const err = ledgerErrorOf(() => parseSubmission(body, contentType));
      // Assess
      expect(err.status).toBe(415);
    },
  );

  it.each([[JSON_TYPE], [NDJSON_TYPE]])('%s: a body of exactly 5 MiB is accepted, one byte more → 413 payload_too_large', (contentType) => {
    // Prepare
    const exact = contentType === JSON_TYPE ? jsonBodyOfSize(MAX_BODY_BYTES) : bytes(`{"id":"src-pad","pad":"${'x'.repeat(MAX_BODY_BYTES - 25)}"}`);
    const over = contentType === JSON_TYPE ? jsonBodyOfSize(MAX_BODY_BYTES + 1) : bytes(`{"id":"src-pad","pad":"${'x'.repeat(MAX_BODY_BYTES - 24)}"}`);
    // Act
    const records = parseSubmission(exact, contentType);
    const err = ledgerErrorOf(() => parseSubmission(over, contentType));
    // Assess
    expect(MAX_BODY_BYTES).toBe(5 * 1024 * 1024);
    expect(exact.byteLength).toBe(MAX_BODY_BYTES);
    expect(over.byteLength).toBe(MAX_BODY_BYTES + 1);
    expect(records).toHaveLength(1);
    expect(err.status).toBe(413);
    expect(err.code).toBe('payload_too_large');
  });

  it('a body over 5 MiB is refused even when it is not valid JSON (the size is checked first)', () => {
    // Prepare
    const body = new Uint8Array(MAX_BODY_BYTES + 10).fill(0x7b);
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, NDJSON_TYPE));
    // Assess
    expect(err.status).toBe(413);
    expect(err.code).toBe('payload_too_large');
  });

  it.each([
    ['a stray 0xFF byte', [0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0x7d]],
    ['a lone continuation byte', [0x7b, 0x80, 0x7d]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a truncated sequence at the end', [0x7b, 0x7d, 0xe2, 0x82]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('%s → 400 invalid_utf8 (both formats)', (_what, raw) => {
    for (const contentType of [JSON_TYPE, NDJSON_TYPE]) {
      // Prepare
      const body = new Uint8Array(raw);
      // Act
      const err = ledgerErrorOf(() => parseSubmission(body, contentType));
      // Assess
      expect(err.status).toBe(400);
      expect(err.code).toBe('invalid_utf8');
    }
  });

  it('invalid UTF-8 inside an otherwise fine JSON string → 400 invalid_utf8, not replaced with U+FFFD', () => {
    // Prepare
    const head = bytes('{"records":[{"id":"src-a","title":"caf');
    const tail = bytes('"}]}');
    const body = new Uint8Array([...head, 0xe9, ...tail]); // Latin-1 "é"
    // Act
    const err = ledgerErrorOf(() => parseSubmission(body, JSON_TYPE));
    // Assess
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_utf8');
  });
});
