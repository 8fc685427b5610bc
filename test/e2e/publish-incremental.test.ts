// Incremental releases equal full rebuilds (issue 6, 3.): fast-check generates sequences of submit,
// update, approve, reject, retract and publish against the real DynamoDB Local, S3 server and DuckDB.
// At every publish, first a full rebuild is built (not published) from every head against the same
// previous release, then the incremental publish runs; the release it wrote must hold, table by table
// and row by row, exactly what the full rebuild built (Parquet and NDJSON), or both must refuse alike.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dynamodbClientConfig, s3ClientConfig } from '../../local/services.ts';
import { ingestRecords } from '../../pipeline/ingest-records.ts';
import type { BuildResult, Principal } from '../../pipeline/ports.ts';
import { downloadParts, readPrevious } from '../../pipeline/publish/previous-release.ts';
import { readChanges } from '../../pipeline/publish/read-changes.ts';
import { publishRelease } from '../../pipeline/publish-release.ts';
import { retractRecord, reviewRecord } from '../../pipeline/review-record.ts';
import { TABLE_NAMES } from '../../schemas/tables.ts';
import { createAdapters, type Adapters } from '../../storage/adapters.ts';
import { ensureTable } from '../../storage/dynamodb-table.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';

const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 200);
const EDITOR: Principal = { keyId: 'key_editor', role: 'editor' };
const CONTRIBUTOR: Principal = { keyId: 'key_contrib', role: 'contributor' };
const SLOTS = { source: 3, event: 3, claim: 2, person: 3 } as const;
type Kind = keyof typeof SLOTS;
const idOf = (kind: Kind, slot: number) => `${kind}-${slot}`;
const FATES = ['killed', 'executed', 'death_row', 'detained', 'released', 'unknown'] as const;
const DISCLOSURES = ['public_record', 'consent', 'withheld'] as const;

type Command =
  | { t: 'submit'; editor: boolean; kind: Kind; slot: number; variant: number; refs: number[] }
  | { t: 'approve' | 'reject' | 'retract'; kind: Kind; slot: number }
  | { t: 'publish' };

const kindArb = fc.constantFrom<Kind>('source', 'source', 'event', 'event', 'claim', 'person');
const slotOf = (kind: Kind) => fc.integer({ min: 0, max: SLOTS[kind] - 1 });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: kindArb.chain((kind) => fc.record({ t: fc.constant('submit' as const), editor: fc.boolean(), kind: fc.constant(kind), slot: slotOf(kind), variant: fc.integer({ min: 0, max: 5 }), refs: fc.array(fc.nat(5), { minLength: 1, maxLength: 3 }) })) },
  { weight: 3, arbitrary: kindArb.chain((kind) => fc.record({ t: fc.constant('approve' as const), kind: fc.constant(kind), slot: slotOf(kind) })) },
  { weight: 1, arbitrary: kindArb.chain((kind) => fc.record({ t: fc.constant('reject' as const), kind: fc.constant(kind), slot: slotOf(kind) })) },
  { weight: 1, arbitrary: kindArb.chain((kind) => fc.record({ t: fc.constant('retract' as const), kind: fc.constant(kind), slot: slotOf(kind) })) },
  { weight: 2, arbitrary: fc.constant({ t: 'publish' as const }) },
);

/** A valid record for a slot; `variant` changes its content (and, for persons, what redaction does). */
function recordFor(c: Extract<Command, { t: 'submit' }>): Record<string, unknown> {
  const src = (i: number) => idOf('source', i % SLOTS.source);
  const evt = (i: number) => idOf('event', i % SLOTS.event);
  const sources = [...new Set(c.refs.map(src))];
  const id = idOf(c.kind, c.slot);
  const restricted = { witness: `witness ${id} ${c.variant}` };
  switch (c.kind) {
    case 'source':
      return { id, kind: 'source', title: `Report ${id} v${c.variant}`, publisher: 'IHR', publisher_type: 'ngo', restricted };
    case 'event':
      return {
        id, kind: 'event', event_type: 'protest', date_start: `2026-01-0${1 + (c.variant % 5)}`, description: `Protest ${c.variant} — اعتراض`,
        location: { admin1: 'Tehran', admin2: `City ${c.variant}`, latitude: 35.7, longitude: 51.4, geo_precision: 'city' },
        actors: Array.from({ length: c.variant % 3 }, (_, i) => ({ name: `Actor ${c.variant}-${i}`, actor_type: 'protesters', role: 'participant' })),
        killed: c.variant % 2 ? { low: c.variant, best: c.variant + 1 } : undefined,
        source_ids: sources, restricted,
      };
    case 'claim':
      return {
        id, kind: 'claim', metric: 'killed', value: { best: 100 * (c.variant + 1) }, qualifier: 'at_least', claimant: 'IHR', claimant_type: 'ngo',
        period_start: '2026-01-01', ...(c.variant % 2 ? { event_id: evt(c.refs[0]!) } : {}), source_ids: sources,
      };
    case 'person':
      return {
        id, kind: 'person', name: `Name ${c.variant}`, name_fa: `نام ${c.variant}`, name_disclosure: DISCLOSURES[c.variant % 3], fate: FATES[c.variant % FATES.length],
        age: 20 + c.variant, facility: 'Evin', location: { admin1: 'Tehran', admin2: 'Tehran', place: 'Street', latitude: 35.7, longitude: 51.4, geo_precision: 'exact' },
        ...(c.variant % 2 ? { event_ids: [evt(c.refs[0]!)] } : {}), source_ids: sources, restricted,
      };
  }
}

const normalise = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));

let duck: Awaited<ReturnType<DuckDBInstance['connect']>>;
/** Every row of every Parquet file given, in file order, through DuckDB. */
async function parquetRows(paths: string[]): Promise<unknown[]> {
  if (paths.length === 0) return [];
  duck ??= await (await DuckDBInstance.create(':memory:')).connect();
  return normalise((await duck.runAndReadAll(`SELECT * FROM read_parquet([${paths.map((p) => `'${p}'`).join(', ')}])`)).getRowObjectsJson()) as unknown[];
}

let s3Endpoint: string;
let dynamoEndpoint: string;
beforeAll(() => {
  s3Endpoint = inject('s3Endpoint');
  dynamoEndpoint = inject('dynamodbEndpoint');
});

interface World {
  a: Adapters;
  work: string;
  close(): Promise<void>;
}

async function newWorld(): Promise<World> {
  const name = `prop-${randomBytes(4).toString('hex')}`;
  const a = createAdapters({ tableName: name, bucketName: name, dynamodb: dynamodbClientConfig(dynamoEndpoint), s3: s3ClientConfig(s3Endpoint), duckdbMemoryLimit: '256MB' });
  await ensureTable(a.dynamodb, name);
  await ensureBucket(a.s3, name);
  const work = await mkdtemp(join(tmpdir(), 'ledger-prop-'));
  return {
    a,
    work,
    async close() {
      await a.dynamodb.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
      a.dynamodb.destroy();
      a.s3.destroy();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** A full rebuild built (not published) from every head against the bucket's latest release. */
async function fullRebuild(w: World, version: string): Promise<{ built: BuildResult; dir: string }> {
  const dir = await mkdtemp(join(w.work, 'full-'));
  const state = await w.a.releases.getLatest();
  const { previous } = await readPrevious(w.a.objects, w.a.releases, state);
  await mkdir(join(dir, 'prev'));
  await mkdir(join(dir, 'changes'));
  await mkdir(join(dir, 'out'));
  const parts = previous ? await downloadParts(w.a.objects, previous, ['sources', 'events', 'event_actors', 'claims', 'persons'], join(dir, 'prev')) : undefined;
  const cut = await w.a.changes.advanceCut();
  await readChanges({ records: w.a.records, changes: w.a.changes, dir: join(dir, 'changes'), after: 0, cut, full: true, scanSegments: 2, progress: () => undefined });
  const builder = await w.a.openReleaseBuilder({ tempDirectory: join(dir, 'out') });
  try {
    const built = await builder.build({ version, full: true, carryPrevious: true, previous: parts, changesDir: join(dir, 'changes'), outDir: join(dir, 'out'), partRows: 4, chunkRows: 3, maxDropShare: 0.01 });
    return { built, dir: join(dir, 'out') };
  } finally {
    await builder.close();
  }
}

async function run(w: World, cmds: Command[], clockMs: { t: number }): Promise<{ publishes: number; published: number }> {
  const deps = { ...w.a, clock: { now: () => new Date(clockMs.t) }, info: { datasetName: 'prop', publicBaseUrl: 'http://unused', bucketName: 'unused' } };
  let publishes = 0;
  let published = 0;
  // Two approved sources to start from, so that most generated references can hold.
  const prelude: Command[] = [0, 1].map((slot) => ({ t: 'submit', editor: true, kind: 'source', slot, variant: slot, refs: [0] }));
  for (const c of [...prelude, ...cmds, { t: 'publish' } as const]) {
    clockMs.t += 61_000;
    if (c.t === 'submit') {
      await ingestRecords([recordFor(c)], c.editor ? EDITOR : CONTRIBUTOR, deps);
    } else if (c.t === 'approve' || c.t === 'reject') {
      await reviewRecord(c.kind, idOf(c.kind, c.slot), { decision: c.t }, EDITOR, deps).catch(() => undefined);
    } else if (c.t === 'retract') {
      await retractRecord(c.kind, idOf(c.kind, c.slot), 'generated retraction', EDITOR, deps).catch(() => undefined);
    } else {
      publishes++;
      // The version the publish will take: the clock's, since it always moves past the last release.
      const version = new Date(clockMs.t).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
      const full = await fullRebuild(w, version);
      const result = await publishRelease(deps, { partRows: 4, chunkRows: 3 }).catch((e: unknown) => e as Error);
      if (full.built.problems.length > 0) {
        expect(result, 'the full rebuild refused: the incremental publish must refuse too').toBeInstanceOf(Error);
        expect((result as { errors?: unknown }).errors).toEqual(full.built.problems);
        continue;
      }
      if (result instanceof Error) throw result;
      const changed = full.built.changes.add + full.built.changes.modify + full.built.changes.delete;
      expect(result.published, JSON.stringify(result)).toBe(changed > 0);
      expect(result.deferred ?? []).toEqual(full.built.deferred);
      if (!result.published) continue;
      published++;
      expect(result.version).toBe(version);
      expect(result.changes).toEqual(full.built.changes);
      const manifest = JSON.parse(Buffer.from((await w.a.objects.get(`releases/${version}/manifest.json`))!).toString()) as { resources: Array<{ path: string; table: string; format: string; rows: number }> };
      for (const t of TABLE_NAMES) {
        const mine = manifest.resources.filter((r) => r.table === t && r.format === 'parquet');
        const paths: string[] = [];
        for (const [i, r] of mine.entries()) {
          const p = join(w.work, `${version}-${t}-${i}.parquet`);
          await w.a.objects.download(`releases/${version}/${r.path}`, p);
          paths.push(p);
        }
        expect(mine.map((r) => r.path), t).toEqual(full.built.tables[t]!.parts.map((p) => p.path));
        expect(await parquetRows(paths), `${t} (Parquet)`).toEqual(await parquetRows(full.built.tables[t]!.parts.map((p) => join(full.dir, p.path))));
        const json = gunzipSync(Buffer.from((await w.a.objects.get(`releases/${version}/json/${t}.ndjson.gz`))!)).toString();
        expect(json, `${t} (NDJSON)`).toBe(gunzipSync(await readFile(join(full.dir, 'json', `${t}.ndjson.gz`))).toString());
        // Both builds share the writing code, so its order is checked on its own: parts of at most
        // partRows rows, rows in key order across parts, the NDJSON in the same order.
        const rows = (await parquetRows(paths)) as Array<Record<string, string>>;
        for (const r of mine) expect(r.rows, `${t}: rows per part`).toBeLessThanOrEqual(4);
        const key = (r: Record<string, string>) => (t === 'event_actors' ? r.event_id! : t === 'changes' ? `${r.table_name}\u0000${r.id}` : r.id!);
        const keys = rows.map(key);
        for (let i = 1; i < keys.length; i++) {
          if (t === 'event_actors') expect(keys[i]! >= keys[i - 1]!, `${t}: row ${i} out of order`).toBe(true);
          else expect(keys[i]! > keys[i - 1]!, `${t}: row ${i} (${keys[i]}) not after ${keys[i - 1]}`).toBe(true);
        }
        const lines = json.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, string>);
        expect(lines.map(key), `${t}: NDJSON in the Parquet's order`).toEqual(keys);
      }
    }
  }
  return { publishes, published };
}

describe('incremental releases equal full rebuilds', () => {
  const totals = { sequences: 0, publishes: 0, published: 0 };
  afterAll(() => {
    console.log(`property: ${totals.sequences} sequences, ${totals.publishes} publishes compared, ${totals.published} releases written`);
  });

  it(`over ${RUNS} generated sequences of submit, update, approve, reject, retract and publish`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 3, maxLength: 14 }), async (cmds) => {
        const w = await newWorld();
        try {
          const r = await run(w, cmds, { t: Date.UTC(2026, 0, 1) });
          totals.sequences++;
          totals.publishes += r.publishes;
          totals.published += r.published;
        } finally {
          await w.close();
        }
      }),
      // A failure prints its seed and path: LEDGER_PROPERTY_PATH=<path> replays exactly that sequence.
      { numRuns: RUNS, seed: 20260118, endOnFailure: true, ...(process.env.LEDGER_PROPERTY_PATH ? { path: process.env.LEDGER_PROPERTY_PATH } : {}) },
    );
    if (!process.env.LEDGER_PROPERTY_PATH) expect(totals.published).toBeGreaterThan(RUNS / 2);
  }, 1_500_000);
});
