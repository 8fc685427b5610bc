import { readFile } from 'node:fs/promises';
import { duplicateKeys, markDuplicates, parseRecordText } from '../schemas/duplicate-keys.ts';
import { validateRecord, type FieldError } from '../schemas/validate-record.ts';

/** One record read from a file, with where it came from. */
export interface SourcedRecord {
  file: string;
  line: number;
  value?: unknown;
  /** Set when the line is not JSON at all. */
  parseError?: string;
}

/**
 * Reads records from NDJSON (one per line) or JSON (an array, `{ "records": [...] }`, or one object)
 * files; the line of each record is kept so errors can name it.
 */
export async function readRecordFiles(files: ReadonlyArray<string>): Promise<SourcedRecord[]> {
  const out: SourcedRecord[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const trimmed = text.trimStart();
    const isJsonDocument = /\.json$/i.test(file) && (trimmed.startsWith('[') || trimmed.startsWith('{"records"') || (trimmed.startsWith('{') && !trimmed.includes('\n{')));
    if (isJsonDocument) {
      try {
        const doc = JSON.parse(text) as unknown;
        const prefix = Array.isArray(doc) ? '' : doc && typeof doc === 'object' && Array.isArray((doc as { records?: unknown }).records) ? '/records' : undefined;
        const list = prefix === undefined ? [doc] : prefix === '' ? (doc as unknown[]) : (doc as { records: unknown[] }).records;
        // Duplicate member names, given to the record they are in (validateRecord reports them).
        const dupes = new Map<number, string[]>();
        for (const pointer of duplicateKeys(text)) {
          const m = prefix === undefined ? ['', '0', pointer] : new RegExp(`^${prefix}/(\\d+)(/.*)$`).exec(pointer);
          if (m) dupes.set(Number(m[1]), [...(dupes.get(Number(m[1])) ?? []), m[2]!]);
        }
        for (const [i, pointers] of dupes) markDuplicates(list[i], pointers);
        // Line of each record: where its id appears, else the start of the document.
        const lines = text.split('\n');
        list.forEach((value) => {
          const id = value && typeof value === 'object' ? (value as { id?: unknown }).id : undefined;
          const at = typeof id === 'string' ? lines.findIndex((l) => l.includes(JSON.stringify(id))) : -1;
          out.push({ file, line: at >= 0 ? at + 1 : 1, value });
        });
      } catch (err) {
        out.push({ file, line: 1, parseError: (err as Error).message });
      }
      continue;
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') return;
      try {
        out.push({ file, line: i + 1, value: parseRecordText(line) });
      } catch (err) {
        out.push({ file, line: i + 1, parseError: (err as Error).message });
      }
    });
  }
  return out;
}

export interface ValidationReport {
  records: number;
  invalid: number;
  problems: Array<{ file: string; line: number; id?: string; error: FieldError }>;
}

/** Validates records offline against the contract (references to stored records are checked on upload). */
export async function validateFiles(files: ReadonlyArray<string>): Promise<ValidationReport> {
  const records = await readRecordFiles(files);
  const problems: ValidationReport['problems'] = [];
  let invalid = 0;
  for (const r of records) {
    if (r.parseError) {
      invalid++;
      problems.push({ file: r.file, line: r.line, error: { path: '', code: 'invalid_json', message: r.parseError } });
      continue;
    }
    const v = validateRecord(r.value);
    if (!v.ok) {
      invalid++;
      for (const e of v.errors) problems.push({ file: r.file, line: r.line, id: v.id, error: e });
    }
  }
  return { records: records.length, invalid, problems };
}

export const formatProblem = (p: { file: string; line: number; id?: string; error: FieldError }) =>
  `${p.file}:${p.line}: ${p.id ?? '(no id)'} ${p.error.path || '/'} ${p.error.code}: ${p.error.message}`;
