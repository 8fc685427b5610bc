import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { gzipFileInMembers } from '../pipeline/gzip-members.ts';
import type { BuildInput, BuildResult, BuiltTable, ReleaseBuilder } from '../pipeline/ports.ts';
import { EVENT_DAY_WINDOW, MAP_GRID_DEGREES, MAP_MAX_BINS, RECENT_ROWS, TOLL_MAX_CLAIMS, TOLL_MAX_GROUPS, emptyLanding, type LandingData } from '../pipeline/landing-page.ts';
import { GeoPrecision, Location } from '../schemas/primitives.ts';
import { REFERENCE_FIELDS, RECORD_KINDS, type RecordKind } from '../schemas/records.ts';
import { KIND_TABLE, TABLES, duckType, type Column, type TableName } from '../schemas/tables.ts';

const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Record kinds ordered so that every kind comes after the kinds it refers to (sources first). */
export function dependencyOrder(): RecordKind[] {
  const done: RecordKind[] = [];
  const visit = (k: RecordKind, path: RecordKind[]) => {
    if (done.includes(k)) return;
    if (path.includes(k)) throw new Error(`reference cycle through ${k}`);
    for (const ref of REFERENCE_FIELDS[k]) if (ref.target !== k) visit(ref.target, [...path, k]);
    done.push(k);
  };
  for (const k of RECORD_KINDS) visit(k, []);
  return done;
}

/** A claim without an area is about the whole default country (DATA.md). */
const DEFAULT_COUNTRY = Location.parse({}).country;
const RECORD_TABLES = dependencyOrder().map((k) => KIND_TABLE[k]);
const ACTORS: TableName = 'event_actors';
/** Rows sorted at a time, and the Parquet row-group size (BuildInput.chunkRows). */
export const CHUNK_ROWS = 16_384;
/** How the release's Parquet is written (and the benchmarks' references, to compare like with like). */
export const parquetOptions = (rowGroupRows = CHUNK_ROWS) => `(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V1, ROW_GROUP_SIZE ${rowGroupRows})`;

const typed = (c: Pick<Column, 'name' | 'type'>) => `${q(c.name)}: ${lit(duckType(c.type))}`;
const columnsOf = (t: TableName) => TABLES[t].columns;
const columnList = (t: TableName, alias = '') => columnsOf(t).map((c) => `${alias}${q(c.name)}`).join(', ');

/**
 * The nested (NDJSON) shape of a table's row, rebuilt from its flat columns by each column's `source`
 * path: `location.admin1` → `{"location": {"admin1": …}}`; an object whose fields are all null is null.
 * Date-times go out as ISO 8601 UTC strings with milliseconds, as the API shows them.
 */
function nestedSelect(t: TableName, kind: RecordKind | undefined): string {
  const groups = new Map<string, Column[]>();
  for (const c of columnsOf(t)) groups.set(c.source[0]!, [...(groups.get(c.source[0]!) ?? []), c]);
  // epoch_us → make_timestamp stays in UTC; a cast to TIMESTAMP would apply the host's time zone.
  const value = (c: Column) => (c.type === 'timestamp' ? `strftime(make_timestamp(epoch_us(f.${q(c.name)})), '%Y-%m-%dT%H:%M:%S.%gZ')` : `f.${q(c.name)}`);
  const fields: string[] = [];
  for (const [field, cols] of groups) {
    if (cols.length === 1 && cols[0]!.source.length === 1) {
      fields.push(`${value(cols[0]!)} AS ${q(field)}`);
      if (field === 'id' && kind) fields.push(`${lit(kind)} AS "kind"`);
      continue;
    }
    const allNull = cols.map((c) => `f.${q(c.name)} IS NULL`).join(' AND ');
    const struct = cols.map((c) => `${lit(c.source[1]!)}: ${value(c)}`).join(', ');
    fields.push(`CASE WHEN ${allNull} THEN NULL ELSE {${struct}} END AS ${q(field)}`);
  }
  return fields.join(', ');
}

/** A range of a table's rows in key order: from `from` (inclusive; none: the start) to `to` (exclusive; none: the end). */
interface Chunk {
  from?: unknown[];
  to?: unknown[];
  part: number;
  rows: number;
}

const sqlValue = (v: unknown) => (typeof v === 'string' ? lit(v) : String(v));
/** (k1, k2) >= (b1, b2), spelled out: k1 > b1 OR (k1 = b1 AND k2 >= b2). */
function atLeast(keys: string[], bound: unknown[], i = 0): string {
  const k = q(keys[i]!);
  const v = sqlValue(bound[i]);
  return i === keys.length - 1 ? `${k} >= ${v}` : `(${k} > ${v} OR (${k} = ${v} AND ${atLeast(keys, bound, i + 1)}))`;
}
/** The chunk's rows, as a condition on `keys` (the table's order keys, or columns holding the same values). */
function inRange(chunk: Chunk, keys: string[]): string {
  return [chunk.from ? atLeast(keys, chunk.from) : 'true', ...(chunk.to ? [`NOT ${atLeast(keys, chunk.to)}`] : [])].join(' AND ');
}

/** The columns a table's rows are ordered (and its parts cut) by. */
const ORDER_KEYS: Partial<Record<TableName, string[]>> = { event_actors: ['event_id', '__pos'], changes: ['table_name', 'id'] };
const orderKeys = (t: TableName) => ORDER_KEYS[t] ?? ['id'];

/**
 * Builds a release in DuckDB (PUBLISHING.md "Consistency and failure", "Cost"): the previous release's
 * Parquet minus the changed and retracted ids, plus the changed records' public rows; a changed record
 * whose references are not all in the release is deferred (kept at its previous revision, or held
 * back); `changes` is the diff; the reference and drop gates run over the whole new release.
 *
 * Memory stays bounded whatever the number of records: only the changes are tables (in a database file
 * in the work folder, under a memory limit, spilling to a temp directory). The new tables are views over
 * the previous release's Parquet and those changes, streamed once per output file; a table is sorted
 * by its key when written, which DuckDB does out of core. Nothing per record is held in JavaScript.
 * The gzip NDJSON is written plain by DuckDB and compressed in parallel gzip members while DuckDB goes
 * on with the next table.
 */
export class DuckDbReleaseBuilder implements ReleaseBuilder {
  /** The compression of the NDJSON files written so far, one after the other. */
  private compressing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    private readonly scratch: string,
    private readonly ownScratch: boolean,
  ) {}

  static async open(opts: { memoryLimit?: string; tempDirectory?: string; threads?: number } = {}): Promise<DuckDbReleaseBuilder> {
    const ownScratch = !opts.tempDirectory;
    const scratch = opts.tempDirectory ?? (await mkdtemp(join(tmpdir(), 'ledger-build-')));
    await mkdir(scratch, { recursive: true });
    for (const f of ['build.duckdb', 'build.duckdb.wal']) await rm(join(scratch, f), { force: true });
    // A database file, not memory: what the build materialises can leave the buffer pool.
    const instance = await DuckDBInstance.create(join(scratch, 'build.duckdb'), {
      memory_limit: opts.memoryLimit ?? '1GB',
      temp_directory: join(scratch, 'spill'),
      ...(opts.threads ? { threads: String(opts.threads) } : {}),
      // Parts are ordered scans of sorted chunk files: that order must hold.
      preserve_insertion_order: 'true',
    });
    return new DuckDbReleaseBuilder(instance, await instance.connect(), scratch, ownScratch);
  }

  private async rows(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.db.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
  }

  /** `prev_<t>`: the previous release's table (columns it lacks read as null), or an empty one. */
  private async loadPrevious(t: TableName, parts: string[] | undefined): Promise<void> {
    const cols = columnsOf(t);
    if (!parts || parts.length === 0) {
      await this.db.run(`CREATE OR REPLACE TABLE ${q(`prev_${t}`)} AS SELECT ${cols.map((c) => `NULL::${duckType(c.type)} AS ${q(c.name)}`).join(', ')}${t === ACTORS ? ', NULL::BIGINT AS __pos' : ''} WHERE false`);
      return;
    }
    const present = new Set((await this.rows(`DESCRIBE SELECT * FROM read_parquet(${lit(parts[0]!)})`)).map((r) => r.column_name as string));
    const select = cols.map((c) => (present.has(c.name) ? `${q(c.name)}::${duckType(c.type)} AS ${q(c.name)}` : `NULL::${duckType(c.type)} AS ${q(c.name)}`)).join(', ');
    // An actor's position: the order of its rows in the previous release (part by part), which is the
    // order they were submitted in.
    const union = parts.map((p, i) => `SELECT ${select}${t === ACTORS ? `, (${i}::BIGINT << 40) + file_row_number AS __pos` : ''} FROM read_parquet(${lit(p)}${t === ACTORS ? ', file_row_number = true' : ''})`).join(' UNION ALL ');
    await this.db.run(`CREATE OR REPLACE VIEW ${q(`prev_${t}`)} AS SELECT * FROM (${union})`);
  }

  private readRows(path: string, cols: ReadonlyArray<Pick<Column, 'name' | 'type'>>): string {
    return `read_json(${lit(path)}, format = 'newline_delimited', columns = {${cols.map(typed).join(', ')}}, maximum_object_size = 4194304)`;
  }

  async build(input: BuildInput): Promise<BuildResult> {
    // One transaction, never committed: the database file is scratch, and a commit per statement
    // (a WAL write and sync each) made small builds slower by a third.
    await this.db.run('BEGIN TRANSACTION');
    const { changesDir, version } = input;
    await this.db.run(`CREATE OR REPLACE TABLE touched AS SELECT * FROM ${this.readRows(join(changesDir, 'touched.ndjson'), [
      { name: 'id', type: 'string' },
      { name: 'table_name', type: 'string' },
      { name: 'reason', type: 'string' },
    ])}`);
    for (const t of [...RECORD_TABLES, ACTORS]) await this.loadPrevious(t, input.previous?.[t]);

    // Which previous rows stay: incrementally, those of untouched ids (and of deferred ones, when the
    // previous rows may be carried); in a full rebuild only deferred ones, when they may be carried.
    const keepPrevious = (t: TableName, id: string) => {
      const deferred = `${id} IN (SELECT id FROM ${q(`bad_${t}`)})`;
      if (input.full) return input.carryPrevious ? deferred : 'false';
      return `${id} NOT IN (SELECT id FROM touched)${input.carryPrevious ? ` OR ${deferred}` : ''}`;
    };

    // Changed rows, then deferral, table by table in dependency order: a record is checked against the
    // final tables of the kinds it refers to, which are complete by then.
    const deferred: BuildResult['deferred'] = [];
    for (const t of RECORD_TABLES) {
      const kind = TABLES[t].kind!;
      const cols = columnsOf(t);
      await this.db.run(`CREATE OR REPLACE TABLE ${q(`changed_${t}`)} AS SELECT * FROM ${this.readRows(join(changesDir, `${t}.ndjson`), cols)}`);
      const checks = REFERENCE_FIELDS[kind].map((ref) => {
        const target = `final_${KIND_TABLE[ref.target]}`;
        const refs = ref.many ? `SELECT id, unnest(${q(ref.field)}) AS ref FROM ${q(`changed_${t}`)}` : `SELECT id, ${q(ref.field)} AS ref FROM ${q(`changed_${t}`)} WHERE ${q(ref.field)} IS NOT NULL`;
        return `SELECT r.id, ${lit(`${ref.field}: ${ref.target} "`)} || r.ref || '" is not in this release yet (not approved, or deferred itself)' AS reason FROM (${refs}) r ANTI JOIN ${q(target)} x ON r.ref = x.id`;
      });
      await this.db.run(
        `CREATE OR REPLACE TABLE ${q(`bad_${t}`)} AS ${checks.length > 0 ? `SELECT id, min(reason) AS reason FROM (${checks.join(' UNION ALL ')}) GROUP BY id` : 'SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS reason WHERE false'}`,
      );
      // The previous rows of the touched ids: few, so a table (in a full rebuild: all of them, so a view).
      await this.db.run(`CREATE OR REPLACE ${input.full ? 'VIEW' : 'TABLE'} ${q(`prev_touched_${t}`)} AS SELECT * FROM ${q(`prev_${t}`)} WHERE id IN (SELECT id FROM touched)`);
      const fresh = cols.map((c) => (c.name === 'first_published' ? `coalesce(p.first_published, ${lit(version)}) AS first_published` : `c.${q(c.name)}`)).join(', ');
      await this.db.run(
        `CREATE OR REPLACE TABLE ${q(`new_${t}`)} AS SELECT ${fresh} FROM ${q(`changed_${t}`)} c LEFT JOIN ${q(`prev_touched_${t}`)} p ON p.id = c.id WHERE c.id NOT IN (SELECT id FROM ${q(`bad_${t}`)})`,
      );
      await this.db.run(`CREATE OR REPLACE VIEW ${q(`final_${t}`)} AS SELECT * FROM ${q(`new_${t}`)} UNION ALL SELECT ${columnList(t)} FROM ${q(`prev_${t}`)} WHERE ${keepPrevious(t, 'id')}`);
      for (const r of await this.rows(`SELECT id, reason FROM ${q(`bad_${t}`)} ORDER BY id`)) deferred.push({ id: r.id as string, reason: r.reason as string });
    }

    // Actors follow their event: from the changed rows for an event published at its new row, from the
    // previous release for an event kept at its previous row.
    const actorCols = [...columnsOf(ACTORS), { name: '__pos', type: 'integer' as const }];
    await this.db.run(`CREATE OR REPLACE TABLE changed_event_actors AS SELECT * FROM ${this.readRows(join(changesDir, `${ACTORS}.ndjson`), actorCols)}`);
    await this.db.run(
      `CREATE OR REPLACE VIEW final_event_actors AS
         SELECT ${columnList(ACTORS)}, __pos FROM changed_event_actors WHERE event_id NOT IN (SELECT id FROM bad_events)
         UNION ALL SELECT ${columnList(ACTORS)}, __pos FROM prev_event_actors WHERE ${keepPrevious('events', 'event_id')}`,
    );

    deferred.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Held back: deferred with no previous row kept in its place (the release holds no revision of it).
    const held: string[] = [];
    for (const t of RECORD_TABLES) {
      for (const r of await this.rows(`SELECT id FROM ${q(`bad_${t}`)} WHERE id NOT IN (SELECT id FROM ${q(`final_${t}`)}) ORDER BY id`)) held.push(r.id as string);
    }
    const problems = await this.qualityGates(input.maxDropShare, input.full);
    if (problems.length > 0) return { tables: {}, changes: { add: 0, modify: 0, delete: 0 }, deferred, added: [], held, problems, landing: emptyLanding() };

    // The diff. Incrementally only touched ids can differ: the new rows and the previous rows kept for
    // touched ids (deferred), against the previous rows of touched ids. A full rebuild compares every row.
    const diffs = RECORD_TABLES.map((t) => {
      const before = input.full ? `prev_${t}` : `prev_touched_${t}`;
      const after = `SELECT * FROM ${q(`new_${t}`)} UNION ALL SELECT ${columnList(t)} FROM ${q(before)} WHERE ${keepPrevious(t, 'id')}`;
      const differs = columnsOf(t).map((c) => `f.${q(c.name)} IS DISTINCT FROM p.${q(c.name)}`).join(' OR ');
      return `SELECT CASE WHEN p.id IS NULL THEN 'add' WHEN f.id IS NULL THEN 'delete' ELSE 'modify' END AS op, ${lit(t)} AS table_name, coalesce(f.id, p.id) AS id,
                f.revision AS revision, p.revision AS previous_revision, CASE WHEN f.id IS NULL THEN tr.reason END AS reason
              FROM (${after}) f FULL OUTER JOIN ${q(before)} p ON f.id = p.id
              LEFT JOIN (SELECT * FROM touched WHERE reason IS NOT NULL) tr ON tr.id = coalesce(f.id, p.id)
              WHERE f.id IS NULL OR p.id IS NULL OR ${differs}`;
    });
    const changeCols = columnsOf('changes');
    await this.db.run(`CREATE OR REPLACE TABLE final_changes AS SELECT ${changeCols.map((c) => `${q(c.name)}::${duckType(c.type)} AS ${q(c.name)}`).join(', ')} FROM (${diffs.join(' UNION ALL ')})`);
    const counts = { add: 0, modify: 0, delete: 0 };
    for (const r of await this.rows('SELECT op, count(*) AS n FROM final_changes GROUP BY op')) counts[r.op as keyof typeof counts] = Number(r.n);
    const added = (await this.rows(`SELECT id FROM final_changes WHERE op = 'add' ORDER BY id`)).map((r) => r.id as string);

    const tables: Record<string, BuiltTable> = {};
    if (counts.add + counts.modify + counts.delete > 0) {
      await mkdir(join(input.outDir, 'json'), { recursive: true });
      await mkdir(join(this.scratch, 'json'), { recursive: true });
      for (const t of [...RECORD_TABLES, ACTORS, 'changes' as const]) tables[t] = await this.writeTable(t, input);
      await this.compressing;
    }
    // The landing page's aggregates, from the release's own tables (after the gates), only for a release that is written.
    const landing = counts.add + counts.modify + counts.delete > 0 ? await this.landingData() : emptyLanding();
    return { tables, changes: counts, deferred, added, held, problems, landing };
  }

  /**
   * What the landing page shows, aggregated here over the release's final tables, each query reading only
   * the columns it needs; every result is bounded (landing-page.ts's caps) whatever the number of records.
   */
  private async landingData(): Promise<LandingData> {
    const dayPrecision = `coalesce(date_precision, 'day') = 'day'`;
    // Each query reads only the columns it names; the events table is scanned a few times, never held.
    const [ev] = await this.rows(
      `WITH e AS (SELECT date_start, ${dayPrecision} AS daily, latitude IS NOT NULL AND longitude IS NOT NULL AS located FROM final_events),
            newest AS (SELECT max(date_start) AS d FROM e WHERE daily)
       SELECT count(*) AS total, count(*) FILTER (WHERE NOT daily) AS coarse, count(*) FILTER (WHERE located) AS located,
              count(*) FILTER (WHERE daily AND date_diff('day', date_start, (SELECT d FROM newest)) >= ${EVENT_DAY_WINDOW}) AS before FROM e`,
    );
    const perDay = await this.rows(
      `WITH newest AS (SELECT max(date_start) AS d FROM final_events WHERE ${dayPrecision})
       SELECT strftime(date_start, '%Y-%m-%d') AS day, event_type AS type, count(*) AS n FROM final_events
       WHERE ${dayPrecision} AND date_diff('day', date_start, (SELECT d FROM newest)) < ${EVENT_DAY_WINDOW} GROUP BY ALL ORDER BY day, type`,
    );
    const rank = `CASE geo_precision ${GeoPrecision.options.map((p, i) => `WHEN ${lit(p)} THEN ${i}`).join(' ')} ELSE ${GeoPrecision.options.length - 1} END`;
    const g = MAP_GRID_DEGREES;
    // Per cell and precision, so that a mark's style is true of every event in it.
    const cells = `SELECT floor(latitude / ${g}) AS cy, floor(longitude / ${g}) AS cx, ${rank} AS prec, count(*) AS n, avg(latitude) AS lat, avg(longitude) AS lon,
                          mode(coalesce(place, admin2, admin1, country)) AS place FROM final_events WHERE latitude IS NOT NULL AND longitude IS NOT NULL GROUP BY ALL`;
    await this.db.run(`CREATE OR REPLACE TEMP TABLE landing_cells AS ${cells}`);
    const bins = await this.rows(`SELECT n, lat, lon, prec, place FROM landing_cells ORDER BY n DESC, cy, cx, prec LIMIT ${MAP_MAX_BINS}`);
    const [cellCount] = await this.rows('SELECT count(*) AS n FROM landing_cells');
    const shownEvents = bins.reduce((a, b) => a + Number(b.n), 0);

    // Claims in sets of overlapping periods (per metric, population and area; claims about one event
    // count as overlapping): the sets with the most claimants first, capped; landing-page.ts splits
    // each set into groups where every pair is comparable.
    const area = `concat_ws(' / ', coalesce(area_country, ${lit(DEFAULT_COUNTRY)}), area_admin1, area_admin2, area_place)`;
    const key = 'metric, population, area';
    const claimSets = `
      WITH c AS (SELECT id, metric, population, ${area} AS area, claimant, claimant_type, qualifier, value_low, value_best, value_high, event_id,
                        period_start AS ps, coalesce(period_end, period_start) AS pe
                 FROM final_claims WHERE metric <> 'other' AND coalesce(value_best, value_low, value_high) IS NOT NULL),
      s AS (SELECT *, CASE WHEN event_id IS NULL THEN ps ELSE min(ps) OVER (PARTITION BY ${key}, event_id) END AS gs,
                      CASE WHEN event_id IS NULL THEN pe ELSE max(pe) OVER (PARTITION BY ${key}, event_id) END AS ge FROM c),
      r AS (SELECT *, max(ge) OVER (PARTITION BY ${key} ORDER BY gs, ge, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM s),
      i AS (SELECT *, sum(CASE WHEN reach IS NULL OR gs > reach THEN 1 ELSE 0 END) OVER (PARTITION BY ${key} ORDER BY gs, ge, id ROWS UNBOUNDED PRECEDING) AS island FROM r),
      sets AS (SELECT ${key}, island, count(*) AS claims, count(DISTINCT claimant) AS claimants, max(pe) AS last FROM i GROUP BY ALL),
      ranked AS (SELECT *, row_number() OVER (ORDER BY claimants DESC, last DESC, ${key}, island) AS set_rank FROM sets)`;
    await this.db.run(`CREATE OR REPLACE TEMP TABLE landing_claims AS ${claimSets} SELECT i.*, ranked.set_rank FROM i JOIN ranked USING (${key}, island)`);
    const claims = await this.rows(
      `SELECT id, metric, population, area, claimant, claimant_type, qualifier, value_low, value_best, value_high, event_id,
              strftime(ps, '%Y-%m-%d') AS ps, strftime(pe, '%Y-%m-%d') AS pe, set_rank
       FROM landing_claims WHERE set_rank <= ${TOLL_MAX_GROUPS}
       QUALIFY row_number() OVER (PARTITION BY set_rank ORDER BY coalesce(value_best, value_low, value_high) DESC, id) <= ${TOLL_MAX_CLAIMS}
       ORDER BY set_rank, coalesce(value_best, value_low, value_high) DESC, id`,
    );
    const [claimTotals] = await this.rows('SELECT count(DISTINCT set_rank) AS sets, count(*) AS claims FROM landing_claims');
    const intOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    const recentEvents = await this.rows(
      `SELECT id, strftime(date_start, '%Y-%m-%d') AS ds, strftime(date_end, '%Y-%m-%d') AS de, event_type, coalesce(place, admin2, admin1) AS place,
              left(description, 300) AS description, left(description_fa, 300) AS description_fa
       FROM final_events ORDER BY date_start DESC, id LIMIT ${RECENT_ROWS}`,
    );
    const namedPersons = await this.rows(
      `SELECT id, name, name_fa, fate, strftime(fate_date, '%Y-%m-%d') AS fd FROM final_persons WHERE name IS NOT NULL OR name_fa IS NOT NULL
       ORDER BY fate_date DESC NULLS LAST, id LIMIT ${RECENT_ROWS}`,
    );
    return {
      events: { total: Number(ev!.total), perDay: perDay.map((r) => ({ day: r.day as string, type: r.type as string, n: Number(r.n) })), coarseDates: Number(ev!.coarse), beforeWindow: Number(ev!.before) },
      map: {
        bins: bins.map((b) => ({ lat: Number(b.lat), lon: Number(b.lon), n: Number(b.n), precision: GeoPrecision.options[Number(b.prec)]!, place: (b.place as string | null) ?? null })),
        withoutCoordinates: Number(ev!.total) - Number(ev!.located),
        omittedBins: Number(cellCount!.n) - bins.length,
        omittedEvents: Number(ev!.located) - shownEvents,
      },
      tolls: {
        claims: claims.map((r) => ({
          id: r.id as string,
          metric: r.metric as string,
          population: r.population as string,
          area: r.area as string,
          claimant: r.claimant as string,
          claimant_type: r.claimant_type as string,
          qualifier: r.qualifier as string,
          low: intOrNull(r.value_low),
          best: intOrNull(r.value_best),
          high: intOrNull(r.value_high),
          period_start: r.ps as string,
          period_end: r.pe as string,
          event_id: (r.event_id as string | null) ?? null,
        })),
        omittedSets: Math.max(0, Number(claimTotals!.sets) - TOLL_MAX_GROUPS),
        omittedClaims: Number(claimTotals!.claims) - claims.length,
      },
      recentEvents: recentEvents.map((r) => ({
        id: r.id as string,
        date_start: r.ds as string,
        date_end: (r.de as string | null) ?? null,
        event_type: r.event_type as string,
        place: (r.place as string | null) ?? null,
        description: r.description as string,
        description_fa: (r.description_fa as string | null) ?? null,
      })),
      namedPersons: namedPersons.map((r) => ({ id: r.id as string, name: (r.name as string | null) ?? null, name_fa: (r.name_fa as string | null) ?? null, fate: r.fate as string, fate_date: (r.fd as string | null) ?? null })),
    };
  }

  /** What waiting cannot fix, over the whole new release: dangling references (retractions) and unexplained drops. */
  private async qualityGates(maxDropShare: number, full: boolean): Promise<BuildResult['problems']> {
    const problems: BuildResult['problems'] = [];
    const LIMIT = 1000;
    for (const t of RECORD_TABLES) {
      const kind = TABLES[t].kind!;
      for (const ref of REFERENCE_FIELDS[kind]) {
        const target = `final_${KIND_TABLE[ref.target]}`;
        const refs = ref.many
          ? `SELECT id, unnest(${q(ref.field)}) AS ref, generate_subscripts(${q(ref.field)}, 1) - 1 AS i FROM ${q(`final_${t}`)}`
          : `SELECT id, ${q(ref.field)} AS ref, NULL::BIGINT AS i FROM ${q(`final_${t}`)} WHERE ${q(ref.field)} IS NOT NULL`;
        const rows = await this.rows(`SELECT r.id, r.ref, r.i FROM (${refs}) r ANTI JOIN ${q(target)} x ON r.ref = x.id ORDER BY r.id, r.i LIMIT ${LIMIT - problems.length + 1}`);
        for (const r of rows) {
          if (problems.length >= LIMIT) break;
          problems.push({
            path: `/${r.id as string}/${ref.field}${r.i === null ? '' : `/${Number(r.i)}`}`,
            code: 'dangling_reference',
            message: `${r.id as string} refers to ${ref.target} "${r.ref as string}", which would not be in the release (retracted): correct or retract ${r.id as string} first`,
          });
        }
      }
      const [drop] = await this.rows(
        `SELECT (SELECT count(*) FROM ${q(`prev_${t}`)}) AS before,
                (SELECT count(*) FROM ${q(full ? `prev_${t}` : `prev_touched_${t}`)} p WHERE p.id NOT IN (SELECT id FROM ${q(`final_${t}`)}) AND p.id NOT IN (SELECT id FROM touched WHERE reason IS NOT NULL)) AS gone`,
      );
      const before = Number(drop!.before);
      const gone = Number(drop!.gone);
      if (before > 0 && gone / before > maxDropShare) {
        problems.push({ path: `/${t}`, code: 'unexplained_drop', message: `${gone} of ${before} ${t} rows would vanish without a retraction (more than ${Math.round(maxDropShare * 100)}%): check the store before publishing` });
      }
    }
    return problems;
  }

  /**
   * Cuts a table into chunks of at most `chunkRows` rows and parts of at most `partRows`, in key
   * order: only the keys are numbered (a narrow window), never whole rows. A chunk is the range of
   * keys from its first row's up to the next chunk's; `part` is the index of the part it belongs to.
   */
  private async chunks(source: string, t: TableName, chunkRows: number, partRows: number): Promise<Chunk[]> {
    const keys = orderKeys(t);
    const keyList = keys.map(q).join(', ');
    const starts = await this.rows(
      `SELECT ${keyList}, __rn FROM (SELECT ${keyList}, row_number() OVER (ORDER BY ${keyList}) AS __rn FROM ${q(source)})
       WHERE ((__rn - 1) % ${partRows}) % ${chunkRows} = 0 ORDER BY __rn`,
    );
    const total = Number((await this.rows(`SELECT count(*) AS n FROM ${q(source)}`))[0]!.n);
    return starts.map((b, i) => {
      const next = starts[i + 1];
      const from = Number(b.__rn);
      return { from: i === 0 ? undefined : keys.map((k) => b[k]), to: next ? keys.map((k) => next[k]) : undefined, part: Math.floor((from - 1) / partRows), rows: (next ? Number(next.__rn) : total + 1) - from };
    });
  }

  /**
   * Parquet parts of at most partRows rows in the table's key order, and the gzip NDJSON in nested
   * shape. Sorting a whole table at once would hold it in memory (DuckDB's sort of wide rows does not
   * stay under its limit), so the table goes out in sorted chunks: each chunk to a plain Parquet file,
   * from which its NDJSON is written and compressed (gzip members, appended in order), then each part
   * is the ordered scan of its chunk files (insertion order preserved).
   */
  private async writeTable(t: TableName, input: BuildInput): Promise<BuiltTable> {
    const source = `final_${t}`;
    const chunkRows = Math.max(1, input.chunkRows ?? CHUNK_ROWS);
    const chunks = await this.chunks(source, t, chunkRows, input.partRows);
    const keys = orderKeys(t);
    const dir = join(this.scratch, 'chunks', t);
    await mkdir(dir, { recursive: true });
    await mkdir(join(input.outDir, 'tables', t), { recursive: true });
    const json = `json/${t}.ndjson.gz`;
    const gz = join(input.outDir, json);
    // A table with no rows still has a valid (empty) gzip file; chunks append members to it.
    await writeFile(gz, chunks.length === 0 ? gzipSync(new Uint8Array()) : new Uint8Array());
    const files: string[][] = [];
    for (const [i, chunk] of chunks.entries()) {
      const file = join(dir, `chunk-${String(i).padStart(6, '0')}.parquet`);
      const rows = `(SELECT * FROM ${q(source)} WHERE ${inRange(chunk, keys)})`;
      // An event's actors, in the order they were submitted, go back inside it (DATA.md: the nested
      // shape); the chunk's events' actors only, found by their event_id.
      const select =
        t === 'events'
          ? `SELECT f.*, a.actors AS __actors FROM ${rows} f LEFT JOIN (SELECT event_id, list({'name': name, 'actor_type': actor_type, 'role': role} ORDER BY __pos) AS actors
               FROM final_event_actors WHERE ${inRange(chunk, ['event_id'])} GROUP BY event_id) a ON a.event_id = f.id`
          : `SELECT * FROM ${rows} f`;
      await this.db.run(`COPY (${select} ORDER BY ${keys.map((k) => `f.${q(k)}`).join(', ')}) TO ${lit(file)} (FORMAT parquet, COMPRESSION uncompressed)`);
      (files[chunk.part] ??= []).push(file);
    }
    const parts: BuiltTable['parts'] = [];
    const partCount = Math.max(1, files.length);
    for (let p = 0; p < partCount; p++) {
      const path = `tables/${t}/part-${String(p).padStart(5, '0')}.parquet`;
      const partFiles = files[p] ?? [];
      const from = partFiles.length > 0 ? `read_parquet([${partFiles.map(lit).join(', ')}])` : `(SELECT *${t === 'events' ? ', NULL AS __actors' : ''} FROM ${q(source)} WHERE false)`;
      await this.db.run(`COPY (SELECT ${columnList(t)} FROM ${from}) TO ${lit(join(input.outDir, path))} ${parquetOptions(chunkRows)}`);
      parts.push({ path, rows: chunks.filter((c) => c.part === p).reduce((s, c) => s + c.rows, 0) });
      if (partFiles.length === 0) continue;
      const plain = join(dir, `part-${String(p).padStart(5, '0')}.ndjson`);
      const actors = t === 'events' ? ', f.__actors AS "actors"' : '';
      await this.db.run(`COPY (SELECT ${nestedSelect(t, TABLES[t].kind)}${actors} FROM ${from} f) TO ${lit(plain)} (FORMAT json)`);
      // Compressed while DuckDB goes on; the build waits for all of it at the end.
      this.compressing = this.compressing.then(async () => {
        await gzipFileInMembers(plain, gz, { append: true, escapeLineSeparators: true });
        await rm(plain, { force: true });
      });
      this.compressing.catch(() => undefined); // observed when the build awaits it
    }
    const total = chunks.reduce((s, c) => s + c.rows, 0);
    // The chunk files go once their parts are written; their NDJSON once compressed.
    this.compressing = this.compressing.then(() => rm(dir, { recursive: true, force: true }));
    this.compressing.catch(() => undefined);
    return { parts, json: { path: json, rows: total } };
  }

  async close(): Promise<void> {
    await this.compressing.catch(() => undefined);
    this.db.closeSync();
    this.instance.closeSync();
    if (this.ownScratch) await rm(this.scratch, { recursive: true, force: true });
  }
}
