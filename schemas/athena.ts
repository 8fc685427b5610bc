import { TABLES, TABLE_NAMES, athenaType, type TableName } from './tables.ts';

export const ATHENA_DATABASE = 'rights_ledger';

/** Glue/Athena table names: `<table>` (every release, partitioned by `v`) and `<table>_latest`. */
export const historyTableName = (t: TableName) => t;
export const latestTableName = (t: TableName) => `${t}_latest`;

/** Athena columns of a table, derived from the same definitions as the Parquet files. */
export const athenaColumns = (t: TableName) => TABLES[t].columns.map((c) => ({ name: c.name, type: athenaType(c.type), comment: c.description }));

/**
 * CREATE EXTERNAL TABLE statements for every table, for use from any AWS account: history tables
 * project the partition `v` (the release id, injected: name it in WHERE) onto
 * `releases/${v}/tables/<table>/`; `_latest` tables read `latest/tables/<table>/`.
 */
export function athenaDdl(bucket: string, database = ATHENA_DATABASE): string {
  const root = `s3://${bucket}`;
  const lines: string[] = [
    '-- rights-ledger: Athena tables over the public bucket. Generated from the record schemas; do not edit.',
    `-- History tables need the release in WHERE, e.g. SELECT count(*) FROM ${database}.events WHERE v = '20260118T120000Z';`,
    `CREATE DATABASE IF NOT EXISTS ${database};`,
    '',
  ];
  for (const t of TABLE_NAMES) {
    const cols = athenaColumns(t)
      .map((c) => `  \`${c.name}\` ${c.type}`)
      .join(',\n');
    lines.push(
      `CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${historyTableName(t)} (\n${cols}\n)`,
      "PARTITIONED BY (`v` string)",
      'STORED AS PARQUET',
      `LOCATION '${root}/releases/'`,
      'TBLPROPERTIES (',
      "  'projection.enabled' = 'true',",
      "  'projection.v.type' = 'injected',",
      `  'storage.location.template' = '${root}/releases/\${v}/tables/${t}/'`,
      ');',
      '',
      `CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${latestTableName(t)} (\n${cols}\n)`,
      'STORED AS PARQUET',
      `LOCATION '${root}/latest/tables/${t}/';`,
      '',
    );
  }
  return lines.join('\n');
}
