/**
 * Benchmark id 7: cold start. Every Lambda function of the stack is bundled with esbuild's API exactly
 * as the CDK app bundles it (the options of infra/lambda-bundling.ts `apiBundling` / `publishBundling`
 * turned into esbuild's, as aws-lambda-nodejs turns them into its command line: --bundle, platform node,
 * index.mjs, minified, source map without sources, the DuckDB and zod aliases of the API functions), into a
 * temporary folder. Measured: the size of index.mjs, what it holds (esbuild's metafile: no DuckDB, no
 * CDK, which AWS SDK clients), and the time to import it in a fresh Node process (`await import()`
 * timed inside the process, with the deployment's NODE_OPTIONS=--enable-source-maps and placeholder
 * settings), median of `runs` processes. The publisher is imported as deployed (DuckDB's package beside
 * it, its native library loaded on import), and again built with DuckDB aliased to the API functions'
 * stand-in, which is its import without DuckDB's load; DuckDB's own import is timed alone too.
 * There is no reference: the targets are absolute (API bundles ≤ 1 MiB, import ≤ 150 ms median).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { ENTRIES } from '../functions/routes.ts';
import { apiBundling, PROJECT_ROOT, publishBundling } from '../infra/lambda-bundling.ts';
import { envInt, fmt, isMain, median, type Log } from './support.ts';

/**
 * Every function of infra/stateless-stack.ts, its file in functions/ and its bundling. The stack keeps
 * this list in PROFILES and ENTRY_FILES (not exported); a function added there must be added here.
 */
export const FUNCTIONS: ReadonlyArray<{ name: string; file: string; api: boolean; bundling: () => BundlingOptions }> = [
  ...ENTRIES.map((name) => ({ name, file: name, api: true, bundling: apiBundling })),
  { name: 'authorizer', file: 'authorizer', api: true, bundling: apiBundling },
  { name: 'sealing-migration', file: 'sealing-migration', api: true, bundling: apiBundling },
  { name: 'publisher', file: 'scheduled-publish', api: false, bundling: publishBundling },
];

/** aws-lambda-nodejs's esbuild command line (bundling.js `createBundlingSteps`), as esbuild API options. */
export function esbuildOptions(b: BundlingOptions, entry: string, outdir: string): esbuild.BuildOptions & { metafile: true; write: true } {
  const alias: Record<string, string> = {};
  for (const [key, value] of Object.entries(b.esbuildArgs ?? {})) {
    if (key !== '--alias') throw new Error(`cold start: esbuildArgs ${key} is not translated here`);
    for (const item of Array.isArray(value) ? value : [value]) {
      const at = String(item).indexOf('=');
      alias[String(item).slice(0, at)] = String(item).slice(at + 1);
    }
  }
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: b.target,
    format: b.format === 'esm' ? 'esm' : 'cjs',
    outfile: join(outdir, b.format === 'esm' ? 'index.mjs' : 'index.js'),
    minify: b.minify ?? false,
    sourcemap: b.sourceMap ?? false,
    sourcesContent: b.sourcesContent ?? true,
    external: b.externalModules ?? ['@aws-sdk/*'],
    mainFields: b.mainFields,
    banner: b.banner ? { js: b.banner } : undefined,
    alias,
    logLevel: 'warning',
    metafile: true,
    write: true,
  };
}

export interface BundleFigures {
  name: string;
  api: boolean;
  bytes: number;
  /** Import times of each fresh process (ms). */
  importMs: number[];
  medianMs: number;
  /** Input bytes in the bundle per package (node_modules name) or project folder, largest first. */
  inputs: Array<[string, number]>;
  /** Packages that must not be in an API bundle, found in it. */
  forbidden: string[];
  sdkClients: string[];
}

/**
 * What the API bundles are made of, each bundled and imported alone the same way: the floor under their
 * import time that is not ours to cut (the SDK's DynamoDB client every function calls, zod as the API
 * bundles alias it, Node itself), beside our record schemas on zod.
 */
export const FLOORS: ReadonlyArray<{ name: string; what: string; code: string }> = [
  { name: 'node', what: 'an empty module (Node itself)', code: 'export const handler = async () => 1;' },
  { name: 'zod', what: 'zod alone (without its locales, as the API bundles alias it), one small schema', code: "import { z } from 'zod'; export const handler = async (x) => z.object({ a: z.string() }).parse(x);" },
  { name: 'schemas', what: 'zod and our record schemas (schemas/records.ts), nothing else', code: "import { RECORD_SCHEMAS } from './schemas/records.ts'; export const handler = async (x) => RECORD_SCHEMAS.event.parse(x);" },
  { name: 'dynamodb', what: 'the SDK\'s DynamoDB document client alone, one GetItem', code: "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb'; export const handler = async () => DynamoDBDocumentClient.from(new DynamoDBClient({})).send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));" },
  { name: 'dynamodb+kms', what: 'the DynamoDB document client and the KMS client (what every API function calls), nothing of ours', code: "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms'; import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb'; export const handler = async () => [await DynamoDBDocumentClient.from(new DynamoDBClient({})).send(new GetCommand({ TableName: 't', Key: { pk: 'a' } })), await new KMSClient({}).send(new DecryptCommand({ CiphertextBlob: new Uint8Array(1) }))];" },
];

export interface FloorFigures {
  name: string;
  what: string;
  bytes: number;
  importMs: number[];
  medianMs: number;
}

export interface ColdStartResult {
  /** {@link FLOORS}, bundled with the API functions' options. */
  floors: FloorFigures[];
  /** The largest API-profile bundle without NODE_OPTIONS=--enable-source-maps: what the deployment's readable stack traces cost. */
  withoutSourceMaps: { name: string; importMs: number[]; medianMs: number };
  bundles: BundleFigures[];
  /** The publisher built with DuckDB aliased to the stand-in: its import without DuckDB's load. */
  publisherWithoutDuckDb: BundleFigures;
  /** `import('@duckdb/node-api')` alone, from the project's node_modules. */
  duckdbAloneMs: number[];
  report: string;
}

/** Where an input of the metafile comes from: its package, or the project's top folder. */
export function origin(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at < 0) return path.split('/')[0]!;
  const [scope, name] = path.slice(at + 'node_modules/'.length).split('/');
  return scope!.startsWith('@') ? `${scope}/${name}` : scope!;
}

/** Bytes per origin in the output, from esbuild's metafile. */
function inputsOf(meta: esbuild.Metafile, outfile: string): Array<[string, number]> {
  const out = Object.entries(meta.outputs).find(([p]) => p.endsWith(outfile.slice(outfile.lastIndexOf('/'))) && !p.endsWith('.map'))?.[1];
  const by = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(out?.inputs ?? {})) by.set(origin(path), (by.get(origin(path)) ?? 0) + bytesInOutput);
  return [...by].sort((a, b) => b[1] - a[1]);
}

// What the stack gives every function (placeholders: nothing is called at import).
const LAMBDA_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench-cold-start',
  LEDGER_TABLE_NAME: 'bench-table',
  LEDGER_BUCKET_NAME: 'bench-bucket',
  LEDGER_PUBLIC_BASE_URL: 'https://bench-bucket.s3.amazonaws.com',
  LEDGER_DATASET_NAME: 'rights-ledger',
  LEDGER_ATHENA_DATABASE: 'rights_ledger',
  LEDGER_MAX_DROP_SHARE: '0.01',
  LEDGER_REVIEW_POLICY: 'single',
  LEDGER_KMS_KEY_ID: 'alias/bench-records',
  LEDGER_KMS_MAC_KEY_ID: 'alias/bench-mac',
  NODE_OPTIONS: '--enable-source-maps',
};

/** Imports `specifier` in a fresh Node process and returns the milliseconds the import took inside it. */
export function importTime(specifier: string, cwd: string, env: Record<string, string> = LAMBDA_ENV): number {
  const script = `const t0 = performance.now(); const m = await import(${JSON.stringify(specifier)}); const ms = performance.now() - t0; process.stdout.write(JSON.stringify({ ms, handler: typeof m.handler, keys: Object.keys(m).length }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 });
  if (out.status !== 0) throw new Error(`cold start: importing ${specifier} failed (exit ${out.status}): ${(out.stderr || out.stdout).slice(0, 800)}`);
  const r = JSON.parse(out.stdout.slice(out.stdout.lastIndexOf('{'))) as { ms: number; handler: string; keys: number };
  if (r.keys === 0) throw new Error(`cold start: ${specifier} exports nothing`);
  return r.ms;
}

async function buildOne(name: string, file: string, api: boolean, bundling: BundlingOptions, work: string, runs: number): Promise<BundleFigures> {
  const outdir = join(work, name);
  const opts = esbuildOptions(bundling, join(PROJECT_ROOT, 'functions', `${file}.ts`), outdir);
  const result = await esbuild.build(opts);
  // The publisher's external DuckDB: the CDK copies the installed packages beside the bundle; here a link to them.
  if (!api && (opts.external ?? []).length > 0) await symlink(join(PROJECT_ROOT, 'node_modules'), join(outdir, 'node_modules'), 'dir');
  const bytes = (await stat(opts.outfile!)).size;
  const inputs = inputsOf(result.metafile, opts.outfile!);
  const names = inputs.map(([n]) => n);
  const forbidden = names.filter((n) => n === '@duckdb/node-api' || n.startsWith('@duckdb/') || n === 'aws-cdk-lib' || n === 'constructs' || n === 'cdk-nag' || n === 'esbuild');
  const sdkClients = names.filter((n) => n.startsWith('@aws-sdk/client-')).sort();
  const importMs: number[] = [];
  for (let i = 0; i < runs; i++) importMs.push(importTime(pathToFileURL(opts.outfile!).href, outdir));
  return { name, api, bytes, importMs, medianMs: median(importMs), inputs, forbidden, sdkClients };
}

export async function runColdStartBench(opts: { runs?: number; log: Log }): Promise<ColdStartResult> {
  const runs = opts.runs ?? 7;
  const { log } = opts;
  const work = await mkdtemp(join(tmpdir(), 'ledger-cold-start-'));
  try {
    const bundles: BundleFigures[] = [];
    for (const f of FUNCTIONS) {
      const b = await buildOne(f.name, f.file, f.api, f.bundling(), work, runs);
      bundles.push(b);
      log(`cold start: ${f.name}: ${fmt(b.bytes / 1024)} KiB, import median ${fmt(b.medianMs)} ms (${b.importMs.map((ms) => fmt(ms)).join(' / ')}); SDK clients: ${b.sdkClients.join(', ') || 'none'}${b.forbidden.length ? `; FORBIDDEN: ${b.forbidden.join(', ')}` : ''}`);
    }
    const floors: FloorFigures[] = [];
    for (const f of FLOORS) {
      const outdir = join(work, `floor-${f.name}`);
      const opts = esbuildOptions(apiBundling(), 'floor.ts', outdir);
      delete opts.entryPoints;
      await esbuild.build({ ...opts, stdin: { contents: f.code, resolveDir: PROJECT_ROOT, sourcefile: `floor-${f.name}.ts`, loader: 'ts' } });
      const importMs: number[] = [];
      for (let i = 0; i < runs; i++) importMs.push(importTime(pathToFileURL(opts.outfile!).href, outdir));
      floors.push({ name: f.name, what: f.what, bytes: (await stat(opts.outfile!)).size, importMs, medianMs: median(importMs) });
      log(`cold start: floor ${f.name}: import median ${fmt(median(importMs))} ms`);
    }
    const largestApi = bundles.filter((b) => b.api).sort((a, b) => b.medianMs - a.medianMs)[0]!;
    const noMaps: number[] = [];
    const { NODE_OPTIONS: _maps, ...envWithoutMaps } = LAMBDA_ENV;
    const largestFile = join(work, largestApi.name, 'index.mjs');
    for (let i = 0; i < runs; i++) noMaps.push(importTime(pathToFileURL(largestFile).href, join(work, largestApi.name), envWithoutMaps));
    const withoutSourceMaps = { name: largestApi.name, importMs: noMaps, medianMs: median(noMaps) };
    const pub = FUNCTIONS.find((f) => !f.api)!;
    const withoutDuckDb = await buildOne('publisher-without-duckdb', pub.file, false, { ...apiBundling(), externalModules: [] }, work, runs);
    log(`cold start: publisher built with DuckDB's stand-in: ${fmt(withoutDuckDb.bytes / 1024)} KiB, import median ${fmt(withoutDuckDb.medianMs)} ms`);
    const duckdbAloneMs: number[] = [];
    for (let i = 0; i < runs; i++) duckdbAloneMs.push(importTime('@duckdb/node-api', PROJECT_ROOT));
    log(`cold start: import('@duckdb/node-api') alone: median ${fmt(median(duckdbAloneMs))} ms`);
    const row = (b: BundleFigures) => `  ${b.name.padEnd(26)} ${fmt(b.bytes / 1024).padStart(6)} KiB  import median ${fmt(b.medianMs).padStart(4)} ms  (${b.importMs.map((ms) => fmt(ms)).join(' / ')})  top: ${b.inputs.slice(0, 4).map(([n, by]) => `${n} ${fmt(by / 1024)} KiB`).join(', ')}`;
    const report = [
      `COLD START  esbuild ${esbuild.version}, bundled as the CDK app does (minified ESM, node22 target); import in a fresh Node ${process.version} process, median of ${runs}`,
      ...bundles.map(row),
      row(withoutDuckDb),
      `  import('@duckdb/node-api') alone: median ${fmt(median(duckdbAloneMs))} ms (${duckdbAloneMs.map((ms) => fmt(ms)).join(' / ')})`,
      `  ${withoutSourceMaps.name} without NODE_OPTIONS=--enable-source-maps: median ${fmt(withoutSourceMaps.medianMs)} ms (${noMaps.map((ms) => fmt(ms)).join(' / ')})`,
      '  floors, bundled and imported the same way:',
      ...floors.map((f) => `    ${f.name.padEnd(14)} ${fmt(f.bytes / 1024).padStart(6)} KiB  import median ${fmt(f.medianMs).padStart(4)} ms  (${f.importMs.map((ms) => fmt(ms)).join(' / ')})  ${f.what}`),
    ].join('\n');
    return { bundles, publisherWithoutDuckDb: withoutDuckDb, duckdbAloneMs, floors, withoutSourceMaps, report };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// On its own: `node --import tsx bench/cold-start.ts` (BENCH_RUNS, default 7).
if (isMain(import.meta.url)) {
  const t0 = performance.now();
  const log: Log = (line) => process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const r = await runColdStartBench({ runs: envInt('BENCH_RUNS', 7), log });
  process.stdout.write(`\n${r.report}\n`);
}
