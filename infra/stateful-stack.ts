import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { TABLE_SHAPE } from '../storage/dynamodb-table.ts';
import { expireAfter, publicReadBucket, secureBucketProps } from './bucket-defaults.ts';

/** What readers may GET without an account (PUBLISHING.md "Layout"); the publish functions write exactly these. */
export const PUBLISHED_KEYS = ['catalog.json', 'index.html', 'athena/*', 'releases/*', 'latest/*'] as const;

/**
 * What the stateless stack needs from this one. Plain names derived from the prefix, account and
 * region, not CloudFormation exports: the stateless stack can then be changed, replaced or deleted
 * without an export pinning this stack in place.
 */
export interface LedgerStorage {
  tableName: string;
  publicBucketName: string;
  athenaResultsBucketName: string;
  /** `https://<bucket>.s3.<region>.amazonaws.com`, the root every published key hangs from. */
  publicBaseUrl: string;
}

export interface StatefulStackProps extends StackProps {
  /** Prefix of every physical name (table, buckets); lower-case letters, digits and hyphens. */
  namePrefix: string;
}

/** The data that must outlive any deployment: the table and the buckets, all RETAIN. */
export class StatefulStack extends Stack {
  readonly storage: LedgerStorage;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { namePrefix } = props;
    const storage: LedgerStorage = {
      tableName: namePrefix,
      publicBucketName: `${namePrefix}-public-${this.account}-${this.region}`,
      athenaResultsBucketName: `${namePrefix}-athena-results-${this.account}-${this.region}`,
      publicBaseUrl: `https://${namePrefix}-public-${this.account}-${this.region}.s3.${this.region}.${this.urlSuffix}`,
    };
    this.storage = storage;

    const table = new dynamodb.Table(this, 'LedgerTable', {
      tableName: storage.tableName,
      partitionKey: { name: TABLE_SHAPE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SHAPE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_SHAPE.ttlAttribute,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The same indexes as the local table (storage/dynamodb-table.ts): heads only (full rebuilds, listings) and the review queue.
    for (const index of Object.values(TABLE_SHAPE.indexes)) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    publicReadBucket(this, 'PublicBucket', {
      bucketName: storage.publicBucketName,
      publicKeys: PUBLISHED_KEYS,
      publicListPrefixes: ['releases/', 'latest/'],
      // Browsers and DuckDB-WASM read Parquet with ranged GETs (and HEAD for the size) from any origin.
      cors: [
        {
          allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.HEAD],
          allowedOrigins: ['*'],
          allowedHeaders: ['*'],
          exposedHeaders: ['Content-Length', 'Content-Range', 'Accept-Ranges', 'ETag', 'Last-Modified'],
          maxAge: 3600,
        },
      ],
      // latest/ and catalog.json are overwritten by every release: their old versions are kept a month.
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });

    new s3.Bucket(this, 'AthenaResultsBucket', secureBucketProps({ bucketName: storage.athenaResultsBucketName, lifecycleRules: [expireAfter(30)] }));
  }
}
