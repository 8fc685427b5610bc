import { join } from 'node:path';
import { CfnOutput, CfnParameter, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { ENTRIES, type Entry } from '../functions/routes.ts';
import { REVIEW_POLICIES, type ReviewPolicy } from '../pipeline/ports.ts';
import { AthenaCatalog } from './athena-catalog.ts';
import { apiBundling, PROJECT_ROOT, PUBLISH_ARCHITECTURE, publishBundling } from './lambda-bundling.ts';
import { KMS_USERS, functionRoleName, type KmsUser } from './kms-names.ts';
import { LedgerApi } from './ledger-api.ts';
import { PUBLISHED_KEYS, type LedgerStorage } from './stateful-stack.ts';

export interface StatelessStackProps extends StackProps {
  storage: LedgerStorage;
  namePrefix: string;
  /** LEDGER_DATASET_NAME: the `name` of every manifest and of the catalog. */
  datasetName: string;
  /** LEDGER_MAX_DROP_SHARE: the quality gate's largest share of a table a release may drop unexplained. */
  maxDropShare: number;
  /** Minutes between scheduled publishes (a publish with no change writes nothing). */
  publishIntervalMinutes: number;
  /** The default of the ReviewPolicy stack parameter, which becomes LEDGER_REVIEW_POLICY. */
  reviewPolicy: ReviewPolicy;
}

type FunctionName = Entry | 'authorizer' | 'scheduled-publish';

interface FunctionProfile {
  architecture: Architecture;
  memorySize: number;
  timeout: Duration;
  ephemeralStorageSize?: Size;
  bundling: () => BundlingOptions;
}

// API Gateway gives up on an integration after 29 s; a handler has no use for longer.
const API_PROFILE: FunctionProfile = { architecture: Architecture.ARM_64, memorySize: 512, timeout: Duration.seconds(29), bundling: apiBundling };
// Publishing writes every table through DuckDB into /tmp before uploading (PUBLISHING.md).
const PUBLISH_PROFILE: FunctionProfile = {
  architecture: PUBLISH_ARCHITECTURE,
  memorySize: 2048,
  timeout: Duration.minutes(15),
  ephemeralStorageSize: Size.gibibytes(4),
  bundling: publishBundling,
};
const PROFILES: Record<FunctionName, FunctionProfile> = {
  'api-info': API_PROFILE,
  'api-submit': API_PROFILE,
  'api-records': API_PROFILE,
  'api-keys': API_PROFILE,
  'api-publish': PUBLISH_PROFILE,
  authorizer: API_PROFILE,
  'scheduled-publish': PUBLISH_PROFILE,
};

const pascal = (name: string) => name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** What can be rebuilt at will: the functions, the API, the schedule, the Glue tables and the workgroup. */
export class StatelessStack extends Stack {
  readonly functions: Readonly<Record<FunctionName, NodejsFunction>>;
  readonly api: LedgerApi;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { storage } = props;
    const table = dynamodb.Table.fromTableName(this, 'LedgerTable', storage.tableName);
    const bucket = s3.Bucket.fromBucketName(this, 'PublicBucket', storage.publicBucketName);

    // A stack parameter: four eyes can be switched on at deploy time (--parameters ReviewPolicy=four_eyes).
    const reviewPolicy = new CfnParameter(this, 'ReviewPolicy', {
      type: 'String',
      allowedValues: [...REVIEW_POLICIES],
      default: props.reviewPolicy,
      description: "LEDGER_REVIEW_POLICY: 'single' (editors' submissions land approved) or 'four_eyes' (every submission waits, and nobody approves a revision they submitted)",
    });

    const environment = {
      LEDGER_TABLE_NAME: storage.tableName,
      LEDGER_BUCKET_NAME: storage.publicBucketName,
      LEDGER_PUBLIC_BASE_URL: storage.publicBaseUrl,
      LEDGER_DATASET_NAME: props.datasetName,
      LEDGER_MAX_DROP_SHARE: String(props.maxDropShare),
      LEDGER_REVIEW_POLICY: reviewPolicy.valueAsString,
      NODE_OPTIONS: '--enable-source-maps',
    };

    const kmsUser = (name: FunctionName): name is KmsUser => name in KMS_USERS;
    const make = (name: FunctionName): NodejsFunction => {
      const profile = PROFILES[name];
      const id = pascal(name);
      // A fixed role name: the stateful stack's key policies name the roles that may use the keys.
      const role = new iam.Role(this, `${id}Role`, {
        roleName: functionRoleName(props.namePrefix, name),
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
      });
      // Only the functions that seal, open or hash know where the keys are; the publisher does not.
      const keysEnv: Record<string, string> = kmsUser(name) ? { LEDGER_KMS_KEY_ID: storage.kmsAliases.records, LEDGER_KMS_MAC_KEY_ID: storage.kmsAliases.mac } : {};
      return new NodejsFunction(this, id, {
        role,
        description: `rights-ledger ${name}`,
        entry: join(PROJECT_ROOT, 'functions', `${name}.ts`),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        runtime: Runtime.NODEJS_22_X,
        architecture: profile.architecture,
        memorySize: profile.memorySize,
        timeout: profile.timeout,
        ...(profile.ephemeralStorageSize ? { ephemeralStorageSize: profile.ephemeralStorageSize } : {}),
        environment: { ...environment, ...keysEnv },
        bundling: profile.bundling(),
        logGroup: new logs.LogGroup(this, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }),
      });
    };
    const functions = Object.fromEntries([...ENTRIES, 'authorizer', 'scheduled-publish'].map((n) => [n, make(n as FunctionName)])) as Record<FunctionName, NodejsFunction>;
    this.functions = functions;

    // Least privilege. The health check (GET /health) reads the table and asks S3 for the bucket (HeadBucket = s3:ListBucket).
    table.grantReadData(functions['api-info']);
    functions['api-info'].addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    for (const name of ['api-submit', 'api-records', 'api-keys'] as const) table.grantReadWriteData(functions[name]);
    table.grantReadData(functions.authorizer);
    // KMS, by key alias (the keys live in the stateful stack; their policies also name these roles).
    for (const [name, uses] of Object.entries(KMS_USERS) as Array<[KmsUser, (typeof KMS_USERS)[KmsUser]]>) {
      for (const which of ['records', 'mac'] as const) {
        const actions = [...uses[which]];
        if (actions.length === 0) continue;
        functions[name].addToRolePolicy(
          new iam.PolicyStatement({
            actions,
            resources: [`arn:${this.partition}:kms:${this.region}:${this.account}:key/*`],
            conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': storage.kmsAliases[which] } },
          }),
        );
      }
    }
    // Publishing reads the previous release, writes the new one, refreshes latest/ (deleting what left it) and lists.
    for (const name of ['api-publish', 'scheduled-publish'] as const) {
      const fn = functions[name];
      table.grantReadWriteData(fn);
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: PUBLISHED_KEYS.map((k) => bucket.arnForObjects(k)) }));
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    }

    this.api = new LedgerApi(this, 'Ledger', {
      handlers: functions,
      authorizer: functions.authorizer,
      throttle: { rateLimit: 25, burstLimit: 50 },
    });

    new events.Rule(this, 'PublishSchedule', {
      description: 'Publishes a release when anything changed since the last one',
      schedule: events.Schedule.rate(Duration.minutes(props.publishIntervalMinutes)),
      targets: [new targets.LambdaFunction(functions['scheduled-publish'])],
    });
    // No retry of a failed run: the next tick publishes anyway, and a refused release would only be refused again.
    functions['scheduled-publish'].configureAsyncInvoke({ retryAttempts: 0 });

    new AthenaCatalog(this, 'Athena', {
      publicBucketName: storage.publicBucketName,
      resultsBucketName: storage.athenaResultsBucketName,
      workGroupName: props.namePrefix,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.api.url, description: 'The upload endpoint (API.md)' });
    new CfnOutput(this, 'PublicBaseUrl', { value: storage.publicBaseUrl, description: 'Root of the published dataset (plain HTTPS, no account needed)' });
    new CfnOutput(this, 'CatalogUrl', { value: `${storage.publicBaseUrl}/catalog.json`, description: 'The index of releases' });
  }
}
