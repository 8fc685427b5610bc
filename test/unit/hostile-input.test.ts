// Limits before work and unambiguous JSON (issue 8, items 1 and 4): duplicate member names, C1
// controls, the per-record error cap and the NDJSON line limits, as pure units.
import { describe, expect, it } from 'vitest';
import { parseSubmission, MAX_LINE_ERRORS } from '../../pipeline/parse-submission.ts';
import { LedgerError } from '../../pipeline/errors.ts';
import { duplicateKeys, parseRecordText } from '../../schemas/duplicate-keys.ts';
import { MAX_ERRORS_PER_RECORD, validateRecord } from '../../schemas/validate-record.ts';

const person = { id: 'per-dup-1', kind: 'person', fate: 'detained', source_ids: ['src-1'] };
const ndjson = (lines: string[]) => new TextEncoder().encode(lines.join('\n'));
const refused = (fn: () => unknown): LedgerError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof LedgerError) return err;
    throw err;
  }
  throw new Error('not refused');
};

describe('duplicate member names', () => {
  it('are found at their JSON Pointer, at any depth, also when escapes spell the same name', () => {
    expect(duplicateKeys('{"a":1,"b":{"c":[{"d":1,"d":2}],"e":"x"},"a":3}')).toEqual(['/b/c/0/d', '/a']);
    expect(duplicateKeys('{"name_disclosure":"withheld","x":"\\"name_disclosure\\":1","\\u006eame_disclosure":"public_record"}')).toEqual(['/name_disclosure']);
    expect(duplicateKeys('[{"a/b":1,"a/b":2},{"m~n":1,"m~n":1}]')).toEqual(['/0/a~1b', '/1/m~0n']);
    expect(duplicateKeys('{"a":{"k":1},"b":{"k":1},"s":"{\\"k\\":1,\\"k\\":2}"}')).toEqual([]);
  });

  it('refuse the record (duplicate_key at the pointer) instead of letting the last one win silently', () => {
    const text = JSON.stringify({ ...person, name: 'A Name', name_disclosure: 'withheld' }).replace(/}$/, ',"name_disclosure":"public_record"}');
    const v = validateRecord(parseRecordText(text));
    expect(v.ok).toBe(false);
    expect(!v.ok && v.errors).toEqual([expect.objectContaining({ path: '/name_disclosure', code: 'duplicate_key' })]);
  });

  it('in a JSON body: inside a record that record carries them; in the envelope the request is refused', () => {
    const inRecord = `{"records":[${JSON.stringify(person)},${JSON.stringify(person).replace(/}$/, ',"fate":"killed"}')}]}`;
    const records = parseSubmission(new TextEncoder().encode(inRecord), 'application/json');
    expect(validateRecord(records[0]).ok).toBe(true);
    const second = validateRecord(records[1]);
    expect(!second.ok && second.errors).toEqual([expect.objectContaining({ path: '/fate', code: 'duplicate_key' })]);
    const envelope = refused(() => parseSubmission(new TextEncoder().encode(`{"records":[],"records":[${JSON.stringify(person)}]}`), 'application/json'));
    expect(envelope).toMatchObject({ status: 400, code: 'duplicate_key' });
  });

  it('in NDJSON: per line', () => {
    const records = parseSubmission(ndjson([JSON.stringify(person), '{"id":"x","id":"y"}']), 'application/x-ndjson');
    const v = validateRecord(records[1]);
    expect(!v.ok && v.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/id', code: 'duplicate_key' })]));
    // Never serialised: the mark is not part of the record.
    expect(JSON.stringify(records[1])).toBe('{"id":"y"}');
  });
});

describe('text', () => {
  it('C1 controls are refused like C0 (U+0085 next line, U+009B CSI), anywhere in a record', () => {
    for (const c of ['\u0085', '\u009b', '\u0080', '\u009f']) {
      const v = validateRecord({ ...person, affiliation: `a${c}b`, tags: [`t${c}`] });
      expect(!v.ok && v.errors.map((e) => [e.path, e.code])).toEqual([
        ['/affiliation', 'invalid_text'],
        ['/tags/0', 'invalid_text'],
      ]);
    }
    // Bidi controls are data (isolated where shown), not refused.
    expect(validateRecord({ ...person, affiliation: 'a\u202Eb' }).ok).toBe(true);
  });
});

describe('limits before work', () => {
  it(`a record reports at most ${MAX_ERRORS_PER_RECORD} errors, then one too_many_errors saying how many more`, () => {
    const bad = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`unknown_${i}`, '\u0001']));
    const v = validateRecord({ ...person, ...bad });
    expect(v.ok).toBe(false);
    const errors = !v.ok ? v.errors : [];
    expect(errors).toHaveLength(MAX_ERRORS_PER_RECORD + 1);
    expect(errors.at(-1)).toMatchObject({ path: '', code: 'too_many_errors' });
    expect(errors.at(-1)!.message).toMatch(/^\d+ more error/);
  });

  it('NDJSON: more than 1000 records is 413 before any line is parsed; at most 100 bad lines listed, and how many more', () => {
    const many = refused(() => parseSubmission(ndjson(Array.from({ length: 1001 }, () => 'x')), 'application/x-ndjson'));
    expect(many).toMatchObject({ status: 413, code: 'too_many_records' });
    const bad = refused(() => parseSubmission(ndjson(Array.from({ length: 1000 }, () => 'x')), 'application/x-ndjson'));
    expect(bad).toMatchObject({ status: 400, code: 'invalid_json' });
    expect(bad.errors).toHaveLength(MAX_LINE_ERRORS);
    expect(bad.errors![0]).toMatchObject({ line: 1, path: '', code: 'invalid_json' });
    expect(bad.message).toMatch(/1000 line\(s\).*900 more/);
  });

  it('a 5 MB body of bad lines is refused in one cheap pass, with a small problem document', () => {
    const body = new TextEncoder().encode('x\n'.repeat(2_500_000));
    const err = refused(() => parseSubmission(body, 'application/x-ndjson'));
    expect(err.code).toBe('too_many_records');
    expect(JSON.stringify({ detail: err.message, errors: err.errors }).length).toBeLessThan(1000);
  });
});
