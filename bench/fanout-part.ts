/**
 * One part build of the fan-out simulation (child process → DuckDB): the rows of an id range of the
 * previous release's table, minus the changed ids, plus the changed rows in that range (first_published
 * kept from the previous row), written in id order as one Parquet part and one gzip NDJSON part, under
 * the publisher's memory limit. Prints `BENCH_RESULT <json>` with its time (DuckDB alone), rows and
 * peak RSS. bench/fanout.ts runs it.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { TABLES, duckType, type TableName } from '../schemas/tables.ts';
import { isMain } from './support.ts';

export interface PartInput {
  table: TableName;
  /** The previous release's Parquet parts of the table. */
  previous: string[];
  /** Flat rows (NDJSON) of the changed records of the table. */
  changes: string;
  /** Ids in [lo, hi); null = unbounded. */
  lo: string | null;
  hi: string | null;
  out: string;
  version: string;
  tempDirectory: string;
}

export interface PartOutput {
  ms: number;
  rows: number;
  maxRss: number;
}

const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function buildPart(input: PartInput): Promise<PartOutput> {
  const t0 = performance.now();
  const cols = TABLES[input.table].columns;
  const range = [input.lo === null ? 'true' : `id >= ${lit(input.lo)}`, input.hi === null ? 'true' : `id < ${lit(input.hi)}`].join(' AND ');
  const previous = `read_parquet([${input.previous.map(lit).join(', ')}])`;
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: input.tempDirectory, preserve_insertion_order: 'false' });
  const db = await instance.connect();
  try {
    await db.run(
      `CREATE TEMP TABLE changed AS SELECT * FROM read_json(${lit(input.changes)}, format = 'newline_delimited', maximum_object_size = 67108864, columns = {${cols.map((c) => `${q(c.name)}: ${lit(duckType(c.type))}`).join(', ')}}) WHERE ${range}`,
    );
    const fresh = cols.map((c) => (c.name === 'first_published' ? `coalesce(p.first_published, ${lit(input.version)}) AS first_published` : `c.${q(c.name)}`)).join(', ');
    await db.run(
      `CREATE TEMP TABLE part AS
         SELECT ${cols.map((c) => q(c.name)).join(', ')} FROM ${previous} WHERE ${range} AND id NOT IN (SELECT id FROM changed)
         UNION ALL SELECT ${fresh} FROM changed c LEFT JOIN (SELECT id, first_published FROM ${previous} WHERE ${range}) p ON p.id = c.id`,
    );
    await db.run(`COPY (SELECT * FROM part ORDER BY id) TO ${lit(`${input.out}.parquet`)} (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V1, ROW_GROUP_SIZE 122880)`);
    await db.run(`COPY (SELECT * FROM part ORDER BY id) TO ${lit(`${input.out}.ndjson.gz`)} (FORMAT json, COMPRESSION gzip)`);
    const rows = Number((await db.runAndReadAll('SELECT count(*) AS n FROM part')).getRowObjects()[0]!.n);
    return { ms: performance.now() - t0, rows, maxRss: process.resourceUsage().maxRSS * 1024 };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

if (isMain(import.meta.url)) {
  buildPart(JSON.parse(process.argv[2]!) as PartInput).then(
    (out) => process.stdout.write(`BENCH_RESULT ${JSON.stringify(out)}\n`),
    (err: unknown) => {
      process.stderr.write(`part build failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
