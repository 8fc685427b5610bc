import { toPointer } from './json-pointer.ts';

/**
 * The JSON Pointers of every member name that appears twice in one object of `text`, which must be
 * valid JSON (JSON.parse accepted it). JSON.parse keeps the last duplicate silently, while another
 * reader may keep the first: a record like `"name_disclosure":"withheld", …, "name_disclosure":
 * "public_record"` would mean two things at once, so the ingest refuses it (`duplicate_key`).
 *
 * Why not a JSON AST library (e.g. momoa): this one pass over the text only looks at strings and
 * brackets, costs about as much as JSON.parse itself, and ingest runs it on every record.
 */
export function duplicateKeys(text: string, limit = 20): string[] {
  type Level = { object: boolean; keys: Set<string> | undefined; key: string; index: number };
  const stack: Level[] = [];
  const found: string[] = [];
  const path = () => stack.map((l) => (l.object ? l.key : String(l.index)));
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // A string: its end is the next quote not escaped, i.e. not after an odd run of backslashes.
      // indexOf jumps over the text (most of a record is inside strings) instead of a loop per character.
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          j = n;
          break;
        }
        let b = q - 1;
        while (text.charCodeAt(b) === 0x5c /* \ */) b--;
        j = q;
        if ((q - 1 - b) % 2 === 0) break;
        j = q + 1;
      }
      const top = stack[stack.length - 1];
      if (top?.object) {
        let k = j + 1;
        while (k < n && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x0a || text.charCodeAt(k) === 0x0d || text.charCodeAt(k) === 0x09)) k++;
        if (text.charCodeAt(k) === 0x3a /* : */) {
          const raw = text.slice(i + 1, j);
          const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
          top.keys ??= new Set();
          if (top.keys.has(name)) {
            top.key = name;
            found.push(toPointer(path()));
            if (found.length >= limit) return found;
          } else top.keys.add(name);
          top.key = name;
        }
      }
      i = j;
    } else if (c === 0x7b /* { */) stack.push({ object: true, keys: undefined, key: '', index: 0 });
    else if (c === 0x5b /* [ */) stack.push({ object: false, keys: undefined, key: '', index: 0 });
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && !top.object) top.index++;
    }
  }
  return found;
}

/** Where a parsed record keeps the pointers of its duplicate member names (not enumerable: never serialised). */
export const DUPLICATE_KEYS = Symbol('duplicate JSON member names');

/** Marks `value` (a parsed record) with the pointers of its duplicate member names, if any. */
export function markDuplicates(value: unknown, pointers: ReadonlyArray<string>): unknown {
  if (pointers.length > 0 && value !== null && typeof value === 'object') Object.defineProperty(value, DUPLICATE_KEYS, { value: [...pointers], enumerable: false });
  return value;
}

/** The duplicate member names recorded on a parsed record. */
export const duplicatesOf = (value: unknown): string[] => ((value !== null && typeof value === 'object' && (value as Record<symbol, string[]>)[DUPLICATE_KEYS]) || []) as string[];

/**
 * JSON.parse of one record's text, keeping the pointers of duplicate member names on the result for
 * validateRecord to refuse (`duplicate_key`). Throws like JSON.parse on malformed text.
 */
export function parseRecordText(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  return markDuplicates(value, duplicateKeys(text));
}
