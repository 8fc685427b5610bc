import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, esbuildOptions, origin } from '../../bench/cold-start.ts';
import { PROJECT_ROOT } from '../../infra/lambda-bundling.ts';

/**
 * Issue 11, item 3: each Lambda bundle carries only the AWS SDK clients its function calls (every client
 * is parsed and run at a cold start: the S3 client alone was 101 KiB of each API bundle). The functions
 * that never touch the bucket get the table's adapters (storage/store-adapters.ts); only those that read
 * or write it get storage/adapters.ts with its S3 client and DuckDB builder. Built as the CDK app builds
 * them (bench/cold-start.ts turns the stack's bundling options into esbuild's).
 * POST /publish in AWS hands the publish to the publisher function, so its bundle holds no publishing code.
 */
const CLIENTS: Record<string, string[]> = {
  'api-info': ['client-dynamodb', 'client-kms', 'client-s3'], // GET /health asks the bucket
  'api-submit': ['client-dynamodb', 'client-kms'],
  'api-records': ['client-dynamodb', 'client-kms'],
  'api-keys': ['client-dynamodb', 'client-kms'],
  'api-publish': ['client-dynamodb', 'client-kms', 'client-lambda'], // hands the publish to the publisher (npm start's in-request publish is functions/publish-within-request.ts)
  authorizer: ['client-dynamodb', 'client-kms'],
  'sealing-migration': ['client-dynamodb', 'client-kms'],
  publisher: ['client-dynamodb', 'client-kms', 'client-s3'],
};

/** Project files that only a publish needs: in the publisher's bundle, in no API function's. */
const PUBLISH_ONLY = ['pipeline/publish-release.ts', 'storage/duckdb-release-builder.ts', 'pipeline/landing-page.ts', 'assets/iran-outline.json', 'storage/adapters.ts'];

let work: string;
const built = new Map<string, { clients: string[]; files: string[] }>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ledger-bundle-clients-'));
  for (const f of FUNCTIONS) {
    const opts = esbuildOptions(f.bundling(), join(PROJECT_ROOT, 'functions', `${f.file}.ts`), join(work, f.name));
    const result = await esbuild.build({ ...opts, sourcemap: false, logLevel: 'silent' });
    const output = Object.entries(result.metafile.outputs).find(([p]) => p.endsWith('.mjs') || p.endsWith('.js'))![1];
    const present = Object.entries(output.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([p]) => p);
    const clients = [...new Set(present.map(origin).filter((o) => o.startsWith('@aws-sdk/client-')).map((o) => o.slice('@aws-sdk/'.length)))].sort();
    built.set(f.name, { clients, files: present.filter((p) => !p.includes('node_modules/')) });
  }
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('each Lambda bundle carries only the SDK clients it calls', () => {
  it('every function of the stack is checked', () => {
    expect(FUNCTIONS.map((f) => f.name).sort()).toEqual(Object.keys(CLIENTS).sort());
  });

  it.each(Object.keys(CLIENTS))('%s', (name) => {
    expect(built.get(name)!.clients).toEqual(CLIENTS[name]);
  });

  it.each(FUNCTIONS.filter((f) => f.api).map((f) => f.name))('%s holds no publishing code', (name) => {
    expect(built.get(name)!.files.filter((f) => PUBLISH_ONLY.some((b) => f.endsWith(b)))).toEqual([]);
    expect(built.get(name)!.files.some((f) => f.endsWith('storage/s3-object-store.ts'))).toBe(CLIENTS[name]!.includes('client-s3'));
  });

  it('the publisher holds it (the check above looks for the right files)', () => {
    expect(PUBLISH_ONLY.filter((b) => !built.get('publisher')!.files.some((f) => f.endsWith(b)))).toEqual([]);
  });
});
