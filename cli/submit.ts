import { MAX_RECORDS } from '../pipeline/parse-submission.ts';

/**
 * Bytes per batch: under the API's 5 MiB so that, base64-encoded by API Gateway (×4/3), a batch stays
 * under Lambda's 6 MB request payload limit in AWS.
 */
export const BATCH_BYTES = 4 * 1024 * 1024;
import type { SubmitResult } from '../schemas/api.ts';
import { progressBar } from './progress.ts';
import { readRecordFiles, type SourcedRecord } from './validate.ts';

export interface SubmitOptions {
  endpoint: string;
  key: string;
  batchSize?: number;
  maxAttempts?: number;
  /** Base delay for exponential backoff (ms). */
  backoffMs?: number;
  progress?: boolean;
}

export interface SubmitSummary {
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  batches: number;
  retries: number;
  rejections: Array<{ file: string; line: number; id?: string; path: string; code: string; message: string }>;
}

/** Splits records into batches of at most `size` records and BATCH_BYTES of NDJSON, keeping file order. */
export function toBatches(records: ReadonlyArray<SourcedRecord>, size: number): SourcedRecord[][] {
  const batches: SourcedRecord[][] = [];
  let current: SourcedRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const len = Buffer.byteLength(JSON.stringify(r.value)) + 1;
    if (current.length > 0 && (current.length >= size || bytes + len > BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += len;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SubmitError extends Error {
  override name = 'SubmitError';
}

/**
 * Uploads records in batches (≤ 1000 records, ≤ 5 MiB), in file order so that records referenced by
 * later ones are stored first. Throttling (429), 5xx and network errors are retried with exponential
 * backoff and jitter; resubmitting is safe because ids are idempotency keys.
 */
export async function submitFiles(files: ReadonlyArray<string>, opts: SubmitOptions): Promise<SubmitSummary> {
  const records = await readRecordFiles(files);
  const unreadable = records.filter((r) => r.parseError);
  if (unreadable.length > 0) throw new SubmitError(`${unreadable[0]!.file}:${unreadable[0]!.line} is not JSON (${unreadable[0]!.parseError}): run \`rights-ledger validate\` and fix it first`);
  const batches = toBatches(records, Math.min(opts.batchSize ?? MAX_RECORDS, MAX_RECORDS));
  const summary: SubmitSummary = { created: 0, updated: 0, unchanged: 0, rejected: 0, batches: batches.length, retries: 0, rejections: [] };
  const bar = opts.progress === false ? { update() {}, stop() {} } : progressBar('submitting', records.length);
  let done = 0;
  try {
    for (const batch of batches) {
      const body = batch.map((r) => JSON.stringify(r.value)).join('\n') + '\n';
      const result = await postWithRetry(`${opts.endpoint.replace(/\/$/, '')}/records`, opts.key, body, opts, () => summary.retries++);
      for (const r of result.results) {
        const src = batch[r.index]!;
        if (r.status === 'rejected') {
          summary.rejected++;
          for (const e of r.errors ?? []) summary.rejections.push({ file: src.file, line: src.line, id: r.id, path: e.path, code: e.code, message: e.message });
        } else summary[r.status]++;
      }
      done += batch.length;
      bar.update(done);
    }
  } finally {
    bar.stop();
  }
  return summary;
}

async function postWithRetry(url: string, key: string, body: string, opts: SubmitOptions, onRetry: () => void): Promise<SubmitResult> {
  const attempts = opts.maxAttempts ?? 6;
  const base = opts.backoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    let detail = '';
    try {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, body });
      status = res.status;
      const text = await res.text();
      if (status === 200) return JSON.parse(text) as SubmitResult;
      detail = (() => {
        try {
          return (JSON.parse(text) as { detail?: string }).detail ?? text.slice(0, 300);
        } catch {
          return text.slice(0, 300);
        }
      })();
      if (status !== 429 && status < 500) {
        const hint = status === 401 ? ' (check --key)' : status === 403 ? ' (this key lacks the role)' : '';
        throw new SubmitError(`the endpoint refused the batch with ${status}: ${detail}${hint}`);
      }
    } catch (err) {
      if (err instanceof SubmitError) throw err;
      detail = (err as Error).message;
    }
    if (attempt >= attempts) throw new SubmitError(`gave up after ${attempts} attempts (${status || 'network error'}: ${detail}); nothing is lost: run the same command again`);
    onRetry();
    await sleep(base * 2 ** (attempt - 1) * (0.5 + Math.random()));
  }
}
