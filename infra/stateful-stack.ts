import { Aws, CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { OBJECT_LOCK_MODES } from '../pipeline/ports.ts';
import { TABLE_SHAPE } from '../storage/dynamodb-table.ts';
import { expireAfter, publicReadBucket, secureBucketProps } from './bucket-defaults.ts';
import { KMS_USERS, functionRoleName, kmsAliases } from './kms-names.ts';
import { acknowledgeStatefulFindings } from './nag-acknowledgements.ts';

/** What the account's administrators may do with the deployment's keys: manage them, never use them (no Encrypt, Decrypt, GenerateDataKey, GenerateMac, CreateGrant). */
const KEY_ADMIN_ACTIONS = [
  'kms:Describe*',
  'kms:List*',
  'kms:Get*',
  'kms:Enable*',
  'kms:Disable*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:RetireGrant',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
];

/** What readers may GET without an account (PUBLISHING.md "Layout"); the publisher writes exactly these. */
export const PUBLISHED_KEYS = ['catalog.json', 'index.html', 'athena/*', 'releases/*', 'latest/*'] as const;

/**
 * Releases nobody can erase: no rule ever expires anything under releases/ (current or noncurrent).
 * Only what every release overwrites (latest/, catalog.json, index.html, athena/) loses its old versions
 * after a month, and uploads that never completed (a publish that died mid-way) are cleaned up.
 */
export const PUBLIC_BUCKET_LIFECYCLE: s3.LifecycleRule[] = [
  ...['latest/', 'catalog.json', 'index.html', 'athena/'].map((prefix) => ({ id: `old-versions-of-${prefix.replace(/[^a-z]/g, '')}`, prefix, noncurrentVersionExpiration: Duration.days(30) })),
  { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
];

/** The ObjectLockMode stack parameter: NONE (default), or one of the modes the publisher locks releases with. */
export const OBJECT_LOCK_SETTINGS = ['NONE', ...OBJECT_LOCK_MODES] as const;

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
  /** Aliases of the KEK (`records`) and of the HMAC key the deployment secret comes from (`mac`). */
  kmsAliases: { records: string; mac: string };
  /**
   * SSM parameters holding this stack's ObjectLockMode and ObjectLockYears: the stateless stack reads
   * them at deploy (parameters of type AWS::SSM::Parameter::Value) into the publisher's environment, so
   * the bucket's lock and the publisher's can never be set apart.
   */
  objectLockParameters: { mode: string; years: string };
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
      kmsAliases: kmsAliases(namePrefix),
      objectLockParameters: { mode: `/${namePrefix}/object-lock-mode`, years: `/${namePrefix}/object-lock-years` },
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

    this.createKeys(namePrefix, storage.kmsAliases);

    const publicBucket = publicReadBucket(this, 'PublicBucket', {
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
      lifecycleRules: PUBLIC_BUCKET_LIFECYCLE,
    });
    this.lockReleases(publicBucket, storage.objectLockParameters);

    const resultsBucket = new s3.Bucket(this, 'AthenaResultsBucket', secureBucketProps({ bucketName: storage.athenaResultsBucketName, lifecycleRules: [expireAfter(30)] }));
    acknowledgeStatefulFindings({ publicBucket, resultsBucket });
  }

  /**
   * Optional S3 Object Lock (stack parameters ObjectLockMode, ObjectLockYears). The bucket only has Object
   * Lock enabled, with no default retention: a default would lock every object version written, latest/,
   * catalog.json and index.html included. The publisher locks each release instead, object by object,
   * once the release is committed (pipeline/publish/lock-release.ts), so the folder of a publish that
   * failed is never locked and the orphan clean-up can still remove it. It learns the mode and years
   * from the SSM parameters written here. README "Releases nobody can erase".
   */
  private lockReleases(bucket: s3.Bucket, names: { mode: string; years: string }): void {
    const mode = new CfnParameter(this, 'ObjectLockMode', {
      type: 'String',
      allowedValues: [...OBJECT_LOCK_SETTINGS],
      default: 'NONE',
      description: 'S3 Object Lock of every published release: NONE, GOVERNANCE (deletable only with s3:BypassGovernanceRetention) or COMPLIANCE (by no one until the retention ends)',
    });
    const years = new CfnParameter(this, 'ObjectLockYears', { type: 'Number', default: 10, minValue: 1, maxValue: 100, description: 'Years each object of a release is locked for, from its release time, when ObjectLockMode is not NONE' });
    const locked = new CfnCondition(this, 'ObjectLockOn', { expression: Fn.conditionNot(Fn.conditionEquals(mode.valueAsString, 'NONE')) });
    const cfn = bucket.node.defaultChild as s3.CfnBucket;
    cfn.objectLockEnabled = Fn.conditionIf(locked.logicalId, true, Aws.NO_VALUE) as unknown as boolean;
    cfn.objectLockConfiguration = Fn.conditionIf(locked.logicalId, { ObjectLockEnabled: 'Enabled' }, Aws.NO_VALUE) as unknown as s3.CfnBucket.ObjectLockConfigurationProperty;
    new ssm.StringParameter(this, 'ObjectLockModeSetting', { parameterName: names.mode, stringValue: mode.valueAsString, description: 'ObjectLockMode of the public bucket, for the publisher (LEDGER_OBJECT_LOCK_MODE)' });
    new ssm.StringParameter(this, 'ObjectLockYearsSetting', { parameterName: names.years, stringValue: years.valueAsString, description: 'ObjectLockYears of the public bucket, for the publisher (LEDGER_OBJECT_LOCK_YEARS)' });
  }

  /**
   * The deployment's key material, RETAIN (losing it loses the restricted data): a symmetric KMS key
   * wrapping the data keys of sealed values (rotated yearly by KMS; older backing keys still decrypt),
   * and an HMAC key from which the deployment secret of API keys and content hashes is derived. The key
   * policies let the account administer them but not use them; only the roles of the functions in
   * KMS_USERS may use them, each for what it needs (matched by role ARN: the roles are made by the
   * stateless stack, with fixed names). Roles given in the `keyOperatorArns` context setting
   * (comma-separated) may also use them from the command line (`keys create --table`, `keys rotate-kek`).
   */
  private createKeys(namePrefix: string, aliases: { records: string; mac: string }): void {
    const account = new iam.AccountRootPrincipal();
    const roleArn = (fn: string) => `arn:${this.partition}:iam::${this.account}:role/${functionRoleName(namePrefix, fn)}`;
    const operators = String(this.node.tryGetContext('keyOperatorArns') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const policy = (which: 'records' | 'mac', operatorActions: string[]) => {
      const doc = new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ sid: 'KeyAdministration', principals: [account], actions: KEY_ADMIN_ACTIONS, resources: ['*'] })] });
      for (const [fn, uses] of Object.entries(KMS_USERS)) {
        const actions = [...uses[which]];
        if (actions.length === 0) continue;
        doc.addStatements(new iam.PolicyStatement({ sid: `Use${fn.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`, principals: [account], actions, resources: ['*'], conditions: { ArnEquals: { 'aws:PrincipalArn': roleArn(fn) } } }));
      }
      if (operators.length > 0) doc.addStatements(new iam.PolicyStatement({ sid: 'UseByKeyOperators', principals: [account], actions: operatorActions, resources: ['*'], conditions: { ArnEquals: { 'aws:PrincipalArn': operators } } }));
      return doc;
    };
    new kms.Key(this, 'RecordsKey', {
      description: 'rights-ledger: wraps the data keys of sealed restricted fields and withheld names',
      alias: aliases.records,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
      policy: policy('records', ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']),
    });
    new kms.Key(this, 'ApiMacKey', {
      description: 'rights-ledger: derives the deployment secret (HMAC of API keys and content hashes)',
      alias: aliases.mac,
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
      policy: policy('mac', ['kms:GenerateMac']),
    });
  }
}
