/**
 * Benchmark id 2: validation of N records, JSON text → validated, normalised objects, in this process
 * (no I/O). The N records are the generator's (bench/records.ts, the realistic mix), each serialised
 * once, in NDJSON bodies of 1,000 records: those bytes are the input of every phase.
 *
 * OURS: the project's real path of POST /records: `parseSubmission` of NDJSON bodies of 1,000 records
 * (UTF-8 decode, line split, JSON.parse and the duplicate-member scan of every line), then
 * `validateRecord` of each record (the sanitising pre-pass: forbidden keys, depth, text, NFC; then the
 * kind's zod schema: defaults filled, every rule checked).
 * REFERENCE A: ajv (draft 2020-12, ajv-formats, `useDefaults`) compiled from `recordJsonSchema(kind)`,
 * the JSON Schema the project derives from the same zod schemas and publishes as schema/{kind}.schema.json;
 * each body decoded (UTF-8) and split into lines, JSON.parse of each line, then the validator of its kind.
 * REFERENCE B: the same decoding and JSON.parse of each line, and nothing else.
 *
 * Each phase runs once to warm up, then `rounds` times in turns (A, B, ours, A, B, ours, …); the median
 * of each counts. Every phase must accept every record, or the run fails.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parseSubmission } from '../pipeline/parse-submission.ts';
import { RECORD_KINDS, recordJsonSchema, type RecordKind } from '../schemas/records.ts';
import { validateRecord } from '../schemas/validate-record.ts';
import { generateRecords, mixFor } from './records.ts';
import { batches, envInt, fmt, isMain, median, type Log } from './support.ts';

export interface ValidationBenchResult {
  n: number;
  bytes: number;
  /** Median ms of each phase, and every round. */
  ours: number;
  ajv: number;
  jsonParse: number;
  rounds: { ours: number[]; ajv: number[]; jsonParse: number[] };
  report: string;
}

/** One ajv validator per kind, compiled from the JSON Schema the project publishes. */
export function ajvValidators(): Record<RecordKind, ValidateFunction> {
  const ajv = new Ajv2020({ useDefaults: true, strict: false });
  addFormats.default(ajv);
  return Object.fromEntries(RECORD_KINDS.map((kind) => [kind, ajv.compile(recordJsonSchema(kind))])) as Record<RecordKind, ValidateFunction>;
}

/** The project's path: NDJSON bodies through parseSubmission, each record through validateRecord. Returns how many were valid. */
export function validateBodies(bodies: ReadonlyArray<Uint8Array>): number {
  let ok = 0;
  for (const body of bodies) for (const raw of parseSubmission(body, 'application/x-ndjson')) if (validateRecord(raw).ok) ok++;
  return ok;
}

/** The lines of NDJSON bodies, decoded as any server would (UTF-8, split at LF, blank lines skipped). */
function* linesOf(bodies: ReadonlyArray<Uint8Array>): Generator<string> {
  // TextDecoder: measured faster here than Buffer#toString on these bodies.
  const decoder = new TextDecoder();
  for (const body of bodies) for (const line of decoder.decode(body).split('\n')) if (line !== '') yield line;
}

/** The same bodies, each line JSON.parse'd, then ajv's validator of the record's kind. Returns how many were valid. */
export function validateWithAjv(bodies: ReadonlyArray<Uint8Array>, validators: Record<RecordKind, ValidateFunction>): number {
  let ok = 0;
  for (const line of linesOf(bodies)) {
    const value = JSON.parse(line) as { kind?: RecordKind };
    const validate = value !== null && typeof value === 'object' && typeof value.kind === 'string' ? validators[value.kind] : undefined;
    if (validate?.(value)) ok++;
  }
  return ok;
}

/** The same bodies, each line JSON.parse'd and nothing else. Returns how many were objects. */
export function parseOnly(bodies: ReadonlyArray<Uint8Array>): number {
  let ok = 0;
  for (const line of linesOf(bodies)) if (typeof JSON.parse(line) === 'object') ok++;
  return ok;
}

export async function runValidationBench(opts: { n: number; rounds?: number; log: Log }): Promise<ValidationBenchResult> {
  const { n, log } = opts;
  const rounds = opts.rounds ?? 5;
  const lines = generateRecords(mixFor(n)).map((r) => JSON.stringify(r));
  const bodies = batches(lines, 1000).map((chunk) => new TextEncoder().encode(chunk.join('\n') + '\n'));
  const bytes = bodies.reduce((s, b) => s + b.byteLength, 0);
  const validators = ajvValidators();
  log(`validation: ${fmt(n)} records, ${fmt(bytes / 2 ** 20, 1)} MiB of NDJSON (${fmt(bytes / n)} B a record)`);

  const phases = {
    ajv: () => validateWithAjv(bodies, validators),
    jsonParse: () => parseOnly(bodies),
    ours: () => validateBodies(bodies),
  };
  const samples: Record<keyof typeof phases, number[]> = { ajv: [], jsonParse: [], ours: [] };
  for (let round = -1; round < rounds; round++) {
    for (const [name, run] of Object.entries(phases) as Array<[keyof typeof phases, () => number]>) {
      const t0 = performance.now();
      const valid = run();
      const ms = performance.now() - t0;
      if (valid !== n) throw new Error(`validation: ${name} accepted ${valid} of ${n} records`);
      if (round >= 0) samples[name].push(ms);
    }
    if (round >= 0) log(`validation [round ${round + 1}/${rounds}]: ours ${fmt(samples.ours.at(-1)!)} ms, ajv ${fmt(samples.ajv.at(-1)!)} ms, JSON.parse ${fmt(samples.jsonParse.at(-1)!)} ms`);
  }
  const ours = median(samples.ours);
  const ajv = median(samples.ajv);
  const jsonParse = median(samples.jsonParse);
  const perRecord = (ms: number) => `${fmt((ms * 1000) / n, 1)} µs/record, ${fmt(n / (ms / 1000))} records/s`;
  const report = [
    `VALIDATION  N=${n} records (${fmt(bytes / 2 ** 20, 1)} MiB NDJSON), median of ${rounds} rounds after a warm-up`,
    `  ours (parseSubmission + validateRecord): ${fmt(ours)} ms (${perRecord(ours)})`,
    `  ajv from recordJsonSchema (JSON.parse + validate): ${fmt(ajv)} ms (${perRecord(ajv)}); ours ÷ ajv = ${(ours / ajv).toFixed(2)}`,
    `  JSON.parse alone: ${fmt(jsonParse)} ms (${perRecord(jsonParse)}); ours ÷ JSON.parse = ${(ours / jsonParse).toFixed(2)}`,
  ].join('\n');
  return { n, bytes, ours, ajv, jsonParse, rounds: samples, report };
}

// On its own: `node --import tsx bench/validation.ts` (BENCH_N, default 100000; BENCH_ROUNDS, default 5).
// For a profile: `node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/validation.ts`.
if (isMain(import.meta.url)) {
  const t0 = performance.now();
  const log: Log = (line) => process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const r = await runValidationBench({ n: envInt('BENCH_N', 100_000), rounds: envInt('BENCH_ROUNDS', 5), log });
  process.stdout.write(`\n${r.report}\n`);
}
