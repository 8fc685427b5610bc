import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ParquetWriter } from '../pipeline/ports.ts';
import { duckType, type ColumnType } from '../schemas/tables.ts';

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const quoteString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * Parquet through DuckDB: ZSTD, data page V1, DATE, INT64 TIMESTAMP (µs, UTC), standard 3-level LISTs,
 * every column present even when all null. Why DuckDB: see README ("Why DuckDB writes the Parquet").
 */
export class DuckDbParquetWriter implements ParquetWriter {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
  ) {}

  static async open(opts: { memoryLimit?: string; tempDirectory?: string } = {}): Promise<DuckDbParquetWriter> {
    const instance = await DuckDBInstance.create(':memory:', {
      ...(opts.memoryLimit ? { memory_limit: opts.memoryLimit } : {}),
      ...(opts.tempDirectory ? { temp_directory: opts.tempDirectory } : {}),
    });
    return new DuckDbParquetWriter(instance, await instance.connect());
  }

  async write(
    table: { name: string; columns: ReadonlyArray<{ name: string; type: string }> },
    rowsPath: string,
    outPrefix: string,
    opts: { partRows: number; orderBy: string[] },
  ): Promise<string[]> {
    const columns = `{${table.columns.map((c) => `${quoteString(c.name)}: ${quoteString(duckType(c.type as ColumnType))}`).join(', ')}}`;
    const source = `read_json(${quoteString(rowsPath)}, format = 'newline_delimited', columns = ${columns}, maximum_object_size = 67108864)`;
    // Sorted ONCE and numbered, then cut by number: re-sorting per part could order ties differently
    // each time and duplicate one row while dropping another at a part boundary.
    const order = [...opts.orderBy, ...table.columns.map((c) => c.name).filter((n) => !opts.orderBy.includes(n))].map(quoteIdent).join(', ');
    const select = table.columns.map((c) => quoteIdent(c.name)).join(', ');
    await this.db.run(`CREATE OR REPLACE TEMP TABLE staged AS SELECT ${select}, row_number() OVER (ORDER BY ${order}) AS __rn FROM ${source}`);
    const count = Number((await this.db.runAndReadAll('SELECT count(*) AS n FROM staged')).getRowObjects()[0]!.n);
    const parts = Math.max(1, Math.ceil(count / opts.partRows));
    const paths: string[] = [];
    try {
      for (let p = 0; p < parts; p++) {
        const path = `${outPrefix}-${String(p).padStart(5, '0')}.parquet`;
        const from = p * opts.partRows;
        await this.db.run(
          `COPY (SELECT ${select} FROM staged WHERE __rn > ${from} AND __rn <= ${from + opts.partRows} ORDER BY __rn) TO ${quoteString(path)} (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V1, ROW_GROUP_SIZE 122880)`,
        );
        paths.push(path);
      }
    } finally {
      await this.db.run('DROP TABLE IF EXISTS staged');
    }
    return paths;
  }

  async close(): Promise<void> {
    this.db.closeSync();
    this.instance.closeSync();
  }
}
