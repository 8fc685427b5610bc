import { join } from 'node:path';
import { CfnOutput, CfnParameter, CustomResource, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as cr from 'aws-cdk-lib/custom-resources';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
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
import { AthenaCatalog, athenaDatabaseName } from './athena-catalog.ts';
import { apiBundling, PROJECT_ROOT, PUBLISH_ARCHITECTURE, publishBundling } from './lambda-bundling.ts';
import { LedgerAlarms } from './alarms.ts';
import { grantMigrationAccess, grantTableAccess, kmsStatement, TABLE_ACCESS, type TableUser } from './functions-access.ts';
import { KMS_USERS, functionRoleName, type KmsUser } from './kms-names.ts';
import { LedgerApi } from './ledger-api.ts';
import { acknowledgeStatelessFindings } from './nag-acknowledgements.ts';
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
  /** Hours without a successful publish run before the NoSuccessfulPublish alarm goes off. */
  publishAlarmHours: number;
}

/** Every function of the stack: the API entries, the authorizer, the one publisher and the sealing migration. */
export type FunctionName = Entry | 'authorizer' | 'publisher' | 'sealing-migration';
/** The file in functions/ of each function that is not named after its file. */
const ENTRY_FILES: Partial<Record<FunctionName, string>> = { publisher: 'scheduled-publish' };
/** The migration the SealingMigration custom resource runs: a new name runs again, the same name never. */
export const SEALING_MIGRATION = 'sealing-v1';

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
  // In AWS POST /publish only hands the publish to the publisher: no DuckDB, answers at once.
  'api-publish': API_PROFILE,
  authorizer: API_PROFILE,
  publisher: PUBLISH_PROFILE,
  // Scans and rewrites the whole table once at deploy: as long as Lambda allows.
  'sealing-migration': { ...API_PROFILE, memorySize: 1024, timeout: Duration.minutes(15) },
};

const pascal = (name: string) => name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** What can be rebuilt at will: the functions, the API, the schedule, the Glue tables and the workgroup. */
export class StatelessStack extends Stack {
  readonly functions: Readonly<Record<FunctionName, NodejsFunction>>;
  readonly api: LedgerApi;
  readonly deadLetters: sqs.Queue;
  readonly alarms: LedgerAlarms;

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

    // The bucket's Object Lock setting, read at deploy from the SSM parameters the stateful stack writes
    // from its own ObjectLockMode and ObjectLockYears: one setting for the bucket and the publisher.
    const lockMode = new CfnParameter(this, 'ObjectLockMode', {
      type: 'AWS::SSM::Parameter::Value<String>',
      default: storage.objectLockParameters.mode,
      description: "SSM parameter with the stateful stack's ObjectLockMode (LEDGER_OBJECT_LOCK_MODE of the publisher); change it there",
    });
    const lockYears = new CfnParameter(this, 'ObjectLockYears', {
      type: 'AWS::SSM::Parameter::Value<String>',
      default: storage.objectLockParameters.years,
      description: "SSM parameter with the stateful stack's ObjectLockYears (LEDGER_OBJECT_LOCK_YEARS of the publisher); change it there",
    });

    const environment = {
      LEDGER_TABLE_NAME: storage.tableName,
      LEDGER_BUCKET_NAME: storage.publicBucketName,
      LEDGER_PUBLIC_BASE_URL: storage.publicBaseUrl,
      LEDGER_DATASET_NAME: props.datasetName,
      LEDGER_ATHENA_DATABASE: athenaDatabaseName(props.namePrefix),
      LEDGER_MAX_DROP_SHARE: String(props.maxDropShare),
      LEDGER_REVIEW_POLICY: reviewPolicy.valueAsString,
      NODE_OPTIONS: '--enable-source-maps',
    };

    const kmsUser = (name: FunctionName): name is KmsUser => name in KMS_USERS;
    const make = (name: FunctionName): NodejsFunction => {
      const profile = PROFILES[name];
      const id = pascal(name);
      // A fixed role name: the stateful stack's key policies name the roles that may use the keys.
      const role = new iam.Role(this, `${id}Role`, { roleName: functionRoleName(props.namePrefix, name), assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      // Its own log group only (not AWSLambdaBasicExecutionRole, which may write any log group of the account).
      const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteItsOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
      // Only the functions that seal, open or hash know where the keys are; the publisher does not.
      const keysEnv: Record<string, string> = kmsUser(name) ? { LEDGER_KMS_KEY_ID: storage.kmsAliases.records, LEDGER_KMS_MAC_KEY_ID: storage.kmsAliases.mac } : {};
      return new NodejsFunction(this, id, {
        role,
        description: `rights-ledger ${name}`,
        entry: join(PROJECT_ROOT, 'functions', `${ENTRY_FILES[name] ?? name}.ts`),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        runtime: Runtime.NODEJS_22_X,
        architecture: profile.architecture,
        memorySize: profile.memorySize,
        timeout: profile.timeout,
        ...(profile.ephemeralStorageSize ? { ephemeralStorageSize: profile.ephemeralStorageSize } : {}),
        environment: {
          ...environment,
          ...keysEnv,
          ...(name === 'publisher' ? { POWERTOOLS_SERVICE_NAME: props.namePrefix, LEDGER_OBJECT_LOCK_MODE: lockMode.valueAsString, LEDGER_OBJECT_LOCK_YEARS: lockYears.valueAsString } : {}),
        },
        bundling: profile.bundling(),
        logGroup,
      });
    };
    const functions = Object.fromEntries([...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'].map((n) => [n, make(n as FunctionName)])) as Record<FunctionName, NodejsFunction>;
    this.functions = functions;

    // Least privilege: each API function reaches only its partitions of the table (functions-access.ts).
    for (const name of Object.keys(TABLE_ACCESS) as TableUser[]) grantTableAccess(functions[name], name, table);
    // The health check asks S3 for the bucket (HeadBucket = s3:ListBucket).
    functions['api-info'].addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    // KMS, by key alias (the keys live in the stateful stack; their policies also name these roles).
    for (const [name, uses] of Object.entries(KMS_USERS) as Array<[KmsUser, (typeof KMS_USERS)[KmsUser]]>) {
      for (const which of ['records', 'mac'] as const) {
        const actions = [...uses[which]];
        if (actions.length > 0) functions[name].addToRolePolicy(kmsStatement(this, actions, storage.kmsAliases[which]));
      }
    }

    // The one publisher: the schedule and POST /publish. One at a time (its lease would refuse a second anyway).
    const publisher = functions.publisher;
    (publisher.node.defaultChild as import('aws-cdk-lib/aws-lambda').CfnFunction).reservedConcurrentExecutions = 1;
    // It reads the previous release, writes the new one, refreshes latest/ (deleting what left it) and lists.
    table.grantReadWriteData(publisher);
    publisher.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: PUBLISHED_KEYS.map((k) => bucket.arnForObjects(k)) }));
    publisher.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    // It locks every object of a committed release (with Object Lock on): it may set a retention, never
    // bypass one (no s3:BypassGovernanceRetention), so not even it can delete a locked release.
    publisher.addToRolePolicy(new iam.PolicyStatement({ sid: 'LockCommittedReleases', actions: ['s3:PutObjectRetention'], resources: [bucket.arnForObjects('releases/*')] }));
    // POST /publish starts it asynchronously and answers 202 (API Gateway would give up after 29 s).
    functions['api-publish'].addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [publisher.functionArn] }));
    functions['api-publish'].addEnvironment('LEDGER_PUBLISHER_FUNCTION', publisher.functionName);

    // A failed run is retried by Lambda with back-off (about 1 and 2 minutes later); then its event waits in the DLQ, which alarms.
    this.deadLetters = new sqs.Queue(this, 'PublishDeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    publisher.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6), onFailure: new destinations.SqsDestination(this.deadLetters) });

    new events.Rule(this, 'PublishSchedule', {
      description: 'Publishes a release when anything changed since the last one',
      schedule: events.Schedule.rate(Duration.minutes(props.publishIntervalMinutes)),
      // EventBridge retries its own delivery too, and keeps what it could not deliver in the same DLQ.
      targets: [new targets.LambdaFunction(publisher, { retryAttempts: 8, maxEventAge: Duration.hours(2), deadLetterQueue: this.deadLetters })],
    });

    this.api = new LedgerApi(this, 'Ledger', {
      handlers: functions,
      authorizer: functions.authorizer,
      throttle: { rateLimit: 25, burstLimit: 50 },
    });

    // The one-time sealing migration (issue 12) of a deployment that already holds data: at deploy, once per migration name.
    const migration = functions['sealing-migration'];
    grantMigrationAccess(migration, table);
    const provider = new cr.Provider(this, 'MigrationProvider', { onEventHandler: migration });
    new CustomResource(this, 'SealingMigrationRun', { serviceToken: provider.serviceToken, resourceType: 'Custom::LedgerMigration', properties: { Migration: SEALING_MIGRATION } });

    this.alarms = new LedgerAlarms(this, 'Alarms', {
      functions,
      publisher,
      api: this.api.api,
      table,
      deadLetters: this.deadLetters,
      deployment: props.namePrefix,
      publishAlarmHours: props.publishAlarmHours,
    });

    new AthenaCatalog(this, 'Athena', {
      publicBucketName: storage.publicBucketName,
      resultsBucketName: storage.athenaResultsBucketName,
      workGroupName: props.namePrefix,
      databaseName: athenaDatabaseName(props.namePrefix),
    });

    acknowledgeStatelessFindings(this, { bucketName: storage.publicBucketName, functions, migrationProvider: provider, deadLetters: this.deadLetters, api: this.api });

    new CfnOutput(this, 'ApiUrl', { value: this.api.api.url, description: 'The upload endpoint (API.md)' });
    new CfnOutput(this, 'PublicBaseUrl', { value: storage.publicBaseUrl, description: 'Root of the published dataset (plain HTTPS, no account needed)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn, description: 'Where every alarm goes (subscribe more addresses here)' });
    new CfnOutput(this, 'PublishDeadLetterQueueUrl', { value: this.deadLetters.queueUrl, description: 'Publish events that failed every retry' });
    new CfnOutput(this, 'CatalogUrl', { value: `${storage.publicBaseUrl}/catalog.json`, description: 'The index of releases' });
  }
}
