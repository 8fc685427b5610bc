/**
 * The fan-out simulation behind the README's "how the design continues to 100 M records": the parts of
 * one large table built in separate processes, as separate Lambda invocations would build them.
 *
 * Input: the events table of the large seeded release (bench/seed.ts), downloaded from the bucket, and
 * the flat rows of the seeded change's events (read back from the store by id, redacted and flattened
 * by the pipeline's `publicRecord` and `flatRow`). The table's ids are cut into P ranges of equal rows
 * (quantiles of the previous release's ids). Each range is built by bench/fanout-part.ts in its own
 * process: its rows of the previous release minus the changed ids, plus its changed rows, to one
 * Parquet part and one gzip NDJSON part, under the publisher's DuckDB memory limit (1 GB).
 * Three runs, each process timed from spawn to exit (so process start counts):
 * - one process building the whole table (what one publisher does for a table of ≤ partRows rows);
 * - P processes at once on this machine (they share its cores: the wall time a fan-out gets here);
 * - the P processes one after another (each alone on the machine: the slowest is the wall time of a
 *   fan-out whose invocations each have their own cores).
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import type { PartInput, PartOutput } from './fanout-part.ts';
import { fmt, type Log } from './support.ts';

const PART_SCRIPT = fileURLToPath(new URL('./fanout-part.ts', import.meta.url));
const ROOT = resolve(dirname(PART_SCRIPT), '..');
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

export interface FanoutRun {
  /** Spawn to exit of the slowest process, ms. */
  wallMs: number;
  parts: Array<PartOutput & { wallMs: number }>;
}

export interface FanoutResult {
  table: string;
  rows: number;
  processes: number;
  single: FanoutRun;
  parallel: FanoutRun;
  sequential: FanoutRun;
}

function runPart(input: PartInput): Promise<PartOutput & { wallMs: number }> {
  const t0 = performance.now();
  return new Promise((resolvePart, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PART_SCRIPT, JSON.stringify(input)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) reject(new Error(`a part build exited with ${code}: ${stderr}`));
      else resolvePart({ ...(JSON.parse(line.slice('BENCH_RESULT '.length)) as PartOutput), wallMs: performance.now() - t0 });
    });
  });
}

async function run(inputs: PartInput[], parallel: boolean): Promise<FanoutRun> {
  const t0 = performance.now();
  const parts: FanoutRun['parts'] = [];
  if (parallel) parts.push(...(await Promise.all(inputs.map(runPart))));
  else for (const input of inputs) parts.push(await runPart(input));
  return { wallMs: performance.now() - t0, parts };
}

/** The simulation (see the file's header) over `previous` (Parquet parts of `table`) and `changes` (its changed flat rows). */
export async function runFanout(opts: { table: 'events'; previous: string[]; changes: string; version: string; work: string; processes: number; log: Log }): Promise<FanoutResult> {
  const { table, previous, changes, version, work, processes, log } = opts;
  await mkdir(join(work, 'duckdb'), { recursive: true });
  // Range bounds: quantiles of the previous release's ids (the id column alone is read).
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  let bounds: string[];
  let rows: number;
  try {
    const quantiles = Array.from({ length: processes - 1 }, (_, i) => (i + 1) / processes);
    const source = `read_parquet([${previous.map(lit).join(', ')}])`;
    bounds = (await db.runAndReadAll(`SELECT unnest(quantile_disc(id, [${quantiles.join(', ')}])) AS b FROM ${source}`)).getRowObjects().map((r) => r.b as string);
    rows = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${source}`)).getRowObjects()[0]!.n);
  } finally {
    db.closeSync();
    instance.closeSync();
  }
  const input = (name: string, lo: string | null, hi: string | null): PartInput => ({ table, previous, changes, lo, hi, out: join(work, name), version, tempDirectory: join(work, 'duckdb') });
  const ranges = Array.from({ length: processes }, (_, i) => input(`part-${i}`, i === 0 ? null : bounds[i - 1]!, i === processes - 1 ? null : bounds[i]!));

  const single = await run([input('whole', null, null)], false);
  log(`fan-out: one process, the whole ${table} table (${fmt(single.parts[0]!.rows)} rows): ${(single.wallMs / 1000).toFixed(1)} s, peak RSS ${fmt(single.parts[0]!.maxRss / 2 ** 20)} MiB`);
  const parallel = await run(ranges, true);
  log(`fan-out: ${processes} processes at once: ${(parallel.wallMs / 1000).toFixed(1)} s; peak RSS per process ${parallel.parts.map((p) => fmt(p.maxRss / 2 ** 20)).join(' / ')} MiB`);
  const sequential = await run(ranges, false);
  log(`fan-out: the same ${processes} one at a time: ${sequential.parts.map((p) => (p.wallMs / 1000).toFixed(1)).join(' / ')} s each`);
  const partRows = parallel.parts.reduce((s, p) => s + p.rows, 0);
  if (partRows !== single.parts[0]!.rows) throw new Error(`fan-out: the parts hold ${partRows} rows, the whole table ${single.parts[0]!.rows}`);
  return { table, rows, processes, single, parallel, sequential };
}
