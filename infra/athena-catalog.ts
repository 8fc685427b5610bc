import { Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import { athenaColumns, historyTableName, latestTableName } from '../schemas/athena.ts';
import { TABLE_NAMES, TABLES, type TableName } from '../schemas/tables.ts';

const PARQUET = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe', parameters: { 'serialization.format': '1' } },
};

/** Stops a runaway query over the whole history: 10 GiB is far beyond any one release today. */
const BYTES_SCANNED_CUTOFF = 10 * 1024 ** 3;

/** The Glue database of a deployment: its name prefix, `_` for `-` (Glue names take no hyphen); `rights_ledger` for the default prefix, as athenaDdl()'s default. */
export const athenaDatabaseName = (namePrefix: string): string => namePrefix.replace(/-/g, '_');

export interface AthenaCatalogProps {
  /** The Glue database (athenaDatabaseName): one per deployment, so two can share an account. */
  databaseName: string;
  publicBucketName: string;
  resultsBucketName: string;
  workGroupName: string;
}

/**
 * The same tables as schemas/athena.ts `athenaDdl` (what other accounts run by hand), as Glue
 * resources: `<table>` over every release, partition `v` projected (injected: name it in WHERE), and
 * `<table>_latest` over latest/. Columns come from athenaColumns(), never written here.
 */
export class AthenaCatalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly workGroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, props: AthenaCatalogProps) {
    super(scope, id);
    const catalogId = Stack.of(this).account;
    const root = `s3://${props.publicBucketName}`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId,
      databaseInput: { name: props.databaseName, description: 'rights-ledger releases in the public bucket (Parquet)' },
    });

    const table = (t: TableName, name: string, location: string, extra: Partial<glue.CfnTable.TableInputProperty>) => {
      const resource = new glue.CfnTable(this, `Table-${name}`, {
        catalogId,
        databaseName: props.databaseName,
        tableInput: {
          name,
          description: TABLES[t].description,
          tableType: 'EXTERNAL_TABLE',
          storageDescriptor: { columns: athenaColumns(t), location, ...PARQUET },
          ...extra,
          parameters: { classification: 'parquet', EXTERNAL: 'TRUE', ...extra.parameters },
        },
      });
      resource.addResourceDependency(this.database);
    };

    for (const t of TABLE_NAMES) {
      table(t, historyTableName(t), `${root}/releases/`, {
        partitionKeys: [{ name: 'v', type: 'string', comment: 'The release id (YYYYMMDDTHHMMSSZ); required in WHERE' }],
        parameters: {
          'projection.enabled': 'true',
          'projection.v.type': 'injected',
          'storage.location.template': `${root}/releases/\${v}/tables/${t}/`,
        },
      });
      table(t, latestTableName(t), `${root}/latest/tables/${t}/`, {});
    }

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName,
      description: 'Queries over the rights-ledger tables; results expire with the results bucket lifecycle',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: BYTES_SCANNED_CUTOFF,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${props.resultsBucketName}/results/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }
}
