import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { BuildInput, BuildResult, BuiltTable, ReleaseBuilder } from '../pipeline/ports.ts';
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

const RECORD_TABLES = dependencyOrder().map((k) => KIND_TABLE[k]);
const ACTORS: TableName = 'event_actors';

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

/**
 * Builds a release in DuckDB (PUBLISHING.md "Consistency and failure", "Cost"): the previous release's
 * Parquet minus the changed and retracted ids, plus the changed records' public rows; a changed record
 * whose references are not all in the release is deferred (kept at its previous revision, or held
 * back); `changes` is the diff; the reference and drop gates run over the whole new release. Every
 * table streams through DuckDB under a memory limit, spilling to a temp directory: nothing per record
 * is held in JavaScript.
 */
export class DuckDbReleaseBuilder implements ReleaseBuilder {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
  ) {}

  static async open(opts: { memoryLimit?: string; tempDirectory?: string; threads?: number } = {}): Promise<DuckDbReleaseBuilder> {
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: opts.memoryLimit ?? '1GB',
      ...(opts.tempDirectory ? { temp_directory: opts.tempDirectory } : {}),
      ...(opts.threads ? { threads: String(opts.threads) } : {}),
      preserve_insertion_order: 'false',
    });
    return new DuckDbReleaseBuilder(instance, await instance.connect());
  }

  private async rows(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.db.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
  }

  /** `prev_<t>`: the previous release's table (columns it lacks read as null), or an empty one. */
  private async loadPrevious(t: TableName, parts: string[] | undefined): Promise<void> {
    const cols = columnsOf(t);
    if (!parts || parts.length === 0) {
      await this.db.run(`CREATE OR REPLACE TEMP TABLE ${q(`prev_${t}`)} AS SELECT ${cols.map((c) => `NULL::${duckType(c.type)} AS ${q(c.name)}`).join(', ')}${t === ACTORS ? ', NULL::BIGINT AS __pos' : ''} WHERE false`);
      return;
    }
    const present = new Set((await this.rows(`DESCRIBE SELECT * FROM read_parquet(${lit(parts[0]!)})`)).map((r) => r.column_name as string));
    const select = cols.map((c) => (present.has(c.name) ? `${q(c.name)}::${duckType(c.type)} AS ${q(c.name)}` : `NULL::${duckType(c.type)} AS ${q(c.name)}`)).join(', ');
    // An actor's position: the order of its rows in the previous release (part by part), which is the
    // order they were submitted in.
    const union = parts.map((p, i) => `SELECT ${select}${t === ACTORS ? `, (${i}::BIGINT << 40) + file_row_number AS __pos` : ''} FROM read_parquet(${lit(p)}${t === ACTORS ? ', file_row_number = true' : ''})`).join(' UNION ALL ');
    await this.db.run(`CREATE OR REPLACE TEMP VIEW ${q(`prev_${t}`)} AS SELECT * FROM (${union})`);
  }

  private readRows(path: string, cols: ReadonlyArray<Pick<Column, 'name' | 'type'>>): string {
    return `read_json(${lit(path)}, format = 'newline_delimited', columns = {${cols.map(typed).join(', ')}}, maximum_object_size = 4194304)`;
  }

  async build(input: BuildInput): Promise<BuildResult> {
    const { changesDir, version } = input;
    await this.db.run(`CREATE OR REPLACE TEMP TABLE touched AS SELECT * FROM ${this.readRows(join(changesDir, 'touched.ndjson'), [
      { name: 'id', type: 'string' },
      { name: 'table_name', type: 'string' },
      { name: 'reason', type: 'string' },
    ])}`);
    for (const t of [...RECORD_TABLES, ACTORS]) await this.loadPrevious(t, input.previous?.[t]);

    // Changed rows, then deferral, table by table in dependency order: a record is checked against the
    // final tables of the kinds it refers to, which are complete by then.
    const deferred: BuildResult['deferred'] = [];
    for (const t of RECORD_TABLES) {
      const kind = TABLES[t].kind!;
      const cols = columnsOf(t);
      await this.db.run(`CREATE OR REPLACE TEMP TABLE ${q(`changed_${t}`)} AS SELECT * FROM ${this.readRows(join(changesDir, `${t}.ndjson`), cols)}`);
      const checks = REFERENCE_FIELDS[kind].map((ref) => {
        const target = `final_${KIND_TABLE[ref.target]}`;
        const refs = ref.many ? `SELECT id, unnest(${q(ref.field)}) AS ref FROM ${q(`changed_${t}`)}` : `SELECT id, ${q(ref.field)} AS ref FROM ${q(`changed_${t}`)} WHERE ${q(ref.field)} IS NOT NULL`;
        return `SELECT r.id, ${lit(`${ref.field}: ${ref.target} "`)} || r.ref || '" is not in this release yet (not approved, or deferred itself)' AS reason FROM (${refs}) r ANTI JOIN ${q(target)} x ON r.ref = x.id`;
      });
      await this.db.run(
        `CREATE OR REPLACE TEMP TABLE ${q(`bad_${t}`)} AS ${checks.length > 0 ? `SELECT id, min(reason) AS reason FROM (${checks.join(' UNION ALL ')}) GROUP BY id` : 'SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS reason WHERE false'}`,
      );
      const deferredKeepPrevious = input.carryPrevious ? ` OR id IN (SELECT id FROM ${q(`bad_${t}`)})` : '';
      const keepPrevious = input.full ? (input.carryPrevious ? `id IN (SELECT id FROM ${q(`bad_${t}`)})` : 'false') : `id NOT IN (SELECT id FROM touched)${deferredKeepPrevious}`;
      const fresh = cols.map((c) => (c.name === 'first_published' ? `coalesce(p.first_published, ${lit(version)}) AS first_published` : `c.${q(c.name)}`)).join(', ');
      await this.db.run(
        `CREATE OR REPLACE TEMP TABLE ${q(`final_${t}`)} AS SELECT *, row_number() OVER (ORDER BY id) AS __rn FROM (
           SELECT ${fresh}, 'new' AS __src FROM ${q(`changed_${t}`)} c LEFT JOIN ${q(`prev_${t}`)} p ON p.id = c.id WHERE c.id NOT IN (SELECT id FROM ${q(`bad_${t}`)})
           UNION ALL SELECT ${columnList(t)}, 'prev' AS __src FROM ${q(`prev_${t}`)} WHERE ${keepPrevious})`,
      );
      for (const r of await this.rows(`SELECT id, reason FROM ${q(`bad_${t}`)} ORDER BY id`)) deferred.push({ id: r.id as string, reason: r.reason as string });
    }

    // Actors follow their event: from the changed rows for a new event row, from the previous release otherwise.
    const actorCols = [...columnsOf(ACTORS), { name: '__pos', type: 'integer' as const }];
    await this.db.run(
      `CREATE OR REPLACE TEMP TABLE final_event_actors AS SELECT *, row_number() OVER (ORDER BY event_id, __pos) AS __rn FROM (
         SELECT ${columnList(ACTORS, 'a.')}, a.__pos FROM ${this.readRows(join(changesDir, `${ACTORS}.ndjson`), actorCols)} a JOIN final_events e ON e.id = a.event_id AND e.__src = 'new'
         UNION ALL SELECT ${columnList(ACTORS, 'a.')}, a.__pos FROM prev_event_actors a JOIN final_events e ON e.id = a.event_id AND e.__src = 'prev')`,
    );

    deferred.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const problems = await this.qualityGates(input.maxDropShare);
    const tollRows = await this.rows(
      `SELECT claimant, qualifier, coalesce(value_best, value_low, value_high) AS value, period_start::VARCHAR AS ps, period_end::VARCHAR AS pe FROM final_claims
       WHERE metric = 'killed' AND population = 'all' AND area_admin1 IS NULL AND coalesce(value_best, value_low, value_high) IS NOT NULL ORDER BY id LIMIT 40`,
    );
    const tolls = tollRows.map((r) => ({
      claimant: r.claimant as string,
      qualifier: r.qualifier as string,
      value: Number(r.value),
      period: r.pe && r.pe !== r.ps ? `${r.ps as string} – ${r.pe as string}` : `from ${r.ps as string}`,
    }));
    if (problems.length > 0) return { tables: {}, changes: { add: 0, modify: 0, delete: 0 }, deferred, added: [], problems, tolls };

    // The diff. Incrementally only touched ids can differ; a full rebuild compares every row.
    const diffs = RECORD_TABLES.map((t) => {
      const only = input.full ? '' : ' WHERE id IN (SELECT id FROM touched)';
      const differs = columnsOf(t).map((c) => `f.${q(c.name)} IS DISTINCT FROM p.${q(c.name)}`).join(' OR ');
      return `SELECT CASE WHEN p.id IS NULL THEN 'add' WHEN f.id IS NULL THEN 'delete' ELSE 'modify' END AS op, ${lit(t)} AS table_name, coalesce(f.id, p.id) AS id,
                f.revision AS revision, p.revision AS previous_revision, CASE WHEN f.id IS NULL THEN tr.reason END AS reason
              FROM (SELECT * FROM ${q(`final_${t}`)}${only}) f FULL OUTER JOIN (SELECT * FROM ${q(`prev_${t}`)}${only}) p ON f.id = p.id
              LEFT JOIN (SELECT * FROM touched WHERE reason IS NOT NULL) tr ON tr.id = coalesce(f.id, p.id)
              WHERE f.id IS NULL OR p.id IS NULL OR ${differs}`;
    });
    const changeCols = columnsOf('changes');
    await this.db.run(
      `CREATE OR REPLACE TEMP TABLE final_changes AS SELECT ${changeCols.map((c) => `${q(c.name)}::${duckType(c.type)} AS ${q(c.name)}`).join(', ')}, row_number() OVER (ORDER BY table_name, id) AS __rn FROM (${diffs.join(' UNION ALL ')})`,
    );
    const counts = { add: 0, modify: 0, delete: 0 };
    for (const r of await this.rows('SELECT op, count(*) AS n FROM final_changes GROUP BY op')) counts[r.op as keyof typeof counts] = Number(r.n);
    const added = (await this.rows(`SELECT id FROM final_changes WHERE op = 'add' ORDER BY id`)).map((r) => r.id as string);

    const tables: Record<string, BuiltTable> = {};
    if (counts.add + counts.modify + counts.delete > 0) {
      await mkdir(join(input.outDir, 'json'), { recursive: true });
      for (const t of [...RECORD_TABLES, ACTORS, 'changes' as const]) tables[t] = await this.writeTable(t, input);
    }
    return { tables, changes: counts, deferred, added, problems, tolls };
  }

  /** What waiting cannot fix, over the whole new release: dangling references (retractions) and unexplained drops. */
  private async qualityGates(maxDropShare: number): Promise<BuildResult['problems']> {
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
                (SELECT count(*) FROM ${q(`prev_${t}`)} p WHERE p.id NOT IN (SELECT id FROM ${q(`final_${t}`)}) AND p.id NOT IN (SELECT id FROM touched WHERE reason IS NOT NULL)) AS gone`,
      );
      const before = Number(drop!.before);
      const gone = Number(drop!.gone);
      if (before > 0 && gone / before > maxDropShare) {
        problems.push({ path: `/${t}`, code: 'unexplained_drop', message: `${gone} of ${before} ${t} rows would vanish without a retraction (more than ${Math.round(maxDropShare * 100)}%): check the store before publishing` });
      }
    }
    return problems;
  }

  /** Parquet parts of at most partRows rows in the table's order, and the gzip NDJSON in nested shape. */
  private async writeTable(t: TableName, input: BuildInput): Promise<BuiltTable> {
    const total = Number((await this.rows(`SELECT count(*) AS n FROM ${q(`final_${t}`)}`))[0]!.n);
    const partsCount = Math.max(1, Math.ceil(total / input.partRows));
    await mkdir(join(input.outDir, 'tables', t), { recursive: true });
    const parts: BuiltTable['parts'] = [];
    for (let p = 0; p < partsCount; p++) {
      const path = `tables/${t}/part-${String(p).padStart(5, '0')}.parquet`;
      const from = p * input.partRows;
      const rows = Math.min(input.partRows, total - from);
      await this.db.run(
        `COPY (SELECT ${columnList(t)} FROM ${q(`final_${t}`)} WHERE __rn > ${from} AND __rn <= ${from + input.partRows} ORDER BY __rn) TO ${lit(join(input.outDir, path))} (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V1, ROW_GROUP_SIZE 122880)`,
      );
      parts.push({ path, rows: Math.max(0, rows) });
    }
    const path = `json/${t}.ndjson.gz`;
    const kind = TABLES[t].kind;
    // An event's actors, in the order they were submitted, go back inside it (DATA.md: the nested shape).
    const actors = t === 'events' ? ', a.actors' : '';
    const join_ =
      t === 'events'
        ? ` LEFT JOIN (SELECT event_id, list({'name': name, 'actor_type': actor_type, 'role': role} ORDER BY __pos) AS actors FROM final_event_actors GROUP BY event_id) a ON a.event_id = f.id`
        : '';
    await this.db.run(`COPY (SELECT ${nestedSelect(t, kind)}${actors} FROM ${q(`final_${t}`)} f${join_} ORDER BY f.__rn) TO ${lit(join(input.outDir, path))} (FORMAT json, COMPRESSION gzip)`);
    return { parts, json: { path, rows: total } };
  }

  async close(): Promise<void> {
    this.db.closeSync();
    this.instance.closeSync();
  }
}
