// The pre-pass before zod, rewritten for speed (issue 11, item 2): the same answers as the rules written
// out plainly, on hostile text; and the duplicate-member scan that jumps over strings with indexOf.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duplicateKeys } from '../../schemas/duplicate-keys.ts';
import { toPointer } from '../../schemas/json-pointer.ts';
import { SERVER_FIELDS } from '../../schemas/records.ts';
import { MAX_DEPTH, MAX_ERRORS_PER_RECORD, sanitize, type FieldError } from '../../schemas/validate-record.ts';

/** The pre-pass's rules, one by one and without shortcuts: the oracle for the fast version. */
function plainSanitize(input: unknown): { value: unknown; errors: FieldError[]; extra: number } {
  const errors: FieldError[] = [];
  let extra = 0;
  const report = (e: FieldError) => (errors.length < MAX_ERRORS_PER_RECORD + 1 ? errors.push(e) : extra++);
  const problem = (s: string) => {
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return 'text must be valid Unicode (an unpaired surrogate was found)';
    if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/.test(s)) return 'text may not contain control characters other than tab, LF and CR';
    return undefined;
  };
  const walk = (v: unknown, path: string[]): unknown => {
    if (typeof v === 'string') {
      const p = problem(v);
      if (p) report({ path: toPointer(path), code: 'invalid_text', message: p });
      return p ? v : v.normalize('NFC');
    }
    if (v === null || typeof v !== 'object') return v;
    if (path.length >= MAX_DEPTH) {
      report({ path: toPointer(path), code: 'too_deep', message: `nesting deeper than ${MAX_DEPTH} levels is not allowed` });
      return undefined;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, String(i)]));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(v)) {
      const here = [...path, key];
      if (['__proto__', 'constructor', 'prototype'].includes(key)) {
        report({ path: toPointer(here), code: 'forbidden_key', message: `the key "${key}" is not allowed` });
        continue;
      }
      const p = problem(key);
      if (p) {
        report({ path: toPointer(here), code: 'invalid_text', message: `field name: ${p}` });
        continue;
      }
      if (item === null && !(path.length === 0 && (SERVER_FIELDS as readonly string[]).includes(key))) continue;
      Object.defineProperty(out, key.normalize('NFC'), { value: walk(item, here), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return { value: walk(input, []), errors, extra };
}

// Text from the places that matter: plain ASCII, Persian, combining marks (NFD é), C0/C1 controls,
// DEL, paired and lone surrogates, the first code point that needs a look (U+0300) and the last that does not.
const PIECES = ['a', 'Tehran ', 'مهسا', 'e\u0301', '\u0300', '\u02FF', '\u00E9', '\t', '\n', '\r', '\u0000', '\u0008', '\u000B', '\u001F', '\u007F', '\u0085', '\u009F', '\u00A0', '\uD83D\uDE00', '\uD83D', '\uDE00', '\uFB01', 'Å', 'K'];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 6 }).map((xs) => xs.join(''));
const key = fc.oneof(text, fc.constantFrom('id', 'kind', 'revision', 'retracted', '__proto__', 'constructor', 'prototype', 'name'));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 20 }, text, fc.integer(), fc.constant(null), fc.boolean(), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((entries) => {
    // As JSON.parse builds it: "__proto__" an own member, not the prototype.
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  }),
})).value;

describe('sanitize (the pre-pass before zod)', () => {
  it('answers as the rules written out plainly: the same value, errors and count past the cap', () => {
    fc.assert(
      fc.property(json, (input) => {
        // Act
        const fast = sanitize(input);
        const plain = plainSanitize(input);

        // Assess
        expect(fast.errors).toEqual(plain.errors);
        expect(fast.extra).toBe(plain.extra);
        expect(fast.value).toStrictEqual(plain.value);
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  it('normalises text that has a character from U+0300 on, and leaves text below it as it is', () => {
    // Act
    const { value, errors } = sanitize({ a: 'Cafe\u0301', b: 'Café', c: 'K', d: 'plain text\twith tab' });

    // Assess
    expect(errors).toEqual([]);
    expect(value).toEqual({ a: 'Café', b: 'Café', c: 'K', d: 'plain text\twith tab' });
  });

  it('refuses a lone surrogate and a C1 control wherever they are', () => {
    // Act
    const { errors } = sanitize({ a: ['ok', 'x\uD800'], b: { c: 'y\u0085' } });

    // Assess
    expect(errors.map((e) => [e.path, e.code])).toEqual([
      ['/a/1', 'invalid_text'],
      ['/b/c', 'invalid_text'],
    ]);
  });
});

describe('duplicateKeys jumping over strings', () => {
  it('ends a string at a quote after an even run of backslashes, and not after an odd one', () => {
    // "x\\" ends at its quote: the "a" after it is a member name.
    expect(duplicateKeys(String.raw`{"a":"x\\","a":1}`)).toEqual(['/a']);
    // "\\\"" is a backslash and a quote: the string goes on to its last quote.
    expect(duplicateKeys(String.raw`{"a":"\\\"","a":1}`)).toEqual(['/a']);
    expect(duplicateKeys(String.raw`{"a":"\",\"a\":1","b":2}`)).toEqual([]);
    expect(duplicateKeys(String.raw`{"k\\":1,"k\\":2}`)).toEqual(['/k\\']);
  });

  it('finds what a parse of every object finds, on generated JSON text', () => {
    // A duplicate is made by writing one member twice; the text is JSON.stringify's, escapes and all.
    const member = fc.tuple(fc.constantFrom('a', 'b', 'a"', 'a\\', '\\"', 'é', ''), fc.oneof(fc.constantFrom('x\\', '"', '\\"', '{"a":1,"a":2}', 'q'), fc.integer()));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 6 }), (members) => {
        // Prepare
        const text = `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
        const seen = new Set<string>();
        const expected: string[] = [];
        for (const [k] of members) {
          if (seen.has(k)) expected.push(toPointer([k]));
          seen.add(k);
        }

        // Act, Assess
        expect(duplicateKeys(text, 100)).toEqual(expected);
      }),
      { numRuns: 2000, seed: 11 },
    );
  });
});
