import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRIES, ROUTES } from '../../functions/routes.ts';
import { athenaDatabaseName } from '../../infra/athena-catalog.ts';
import { KMS_USERS } from '../../infra/kms-names.ts';
import { createLedger } from '../../infra/ledger.ts';
import type { StatelessStack } from '../../infra/stateless-stack.ts';
import { ATHENA_DATABASE, athenaColumns, athenaDdl, historyTableName, latestTableName } from '../../schemas/athena.ts';
import { TABLE_NAMES } from '../../schemas/tables.ts';
import { TABLE_SHAPE } from '../../storage/dynamodb-table.ts';

// One synth for the whole file: bundling the seven functions with esbuild takes most of it.
const ENV = { account: '123456789012', region: 'eu-west-1' };
const BUCKET = 'rights-ledger-public-123456789012-eu-west-1';
const RESULTS_BUCKET = 'rights-ledger-athena-results-123456789012-eu-west-1';
const PUBLISHED = ['athena/*', 'catalog.json', 'index.html', 'latest/*', 'releases/*'];

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };
let outdir: string;
let stateless: StatelessStack;
let stateful: Template;
let template: Template;

const resources = (t: Template, type: string): Array<[string, Resource]> => Object.entries(t.findResources(type)) as Array<[string, Resource]>;
const only = (t: Template, type: string): Resource => {
  const found = resources(t, type);
  expect(found).toHaveLength(1);
  return found[0]![1];
};
const lambda = (name: string): Resource => resources(template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Description === `rights-ledger ${name}`)![1];
const glueTable = (name: string): Resource => resources(template, 'AWS::Glue::Table').find(([, r]) => r.Properties.TableInput.Name === name)![1];
const publicBucketId = () => resources(stateful, 'AWS::S3::Bucket').find(([, r]) => r.Properties.BucketName === BUCKET)![0];
const publicBucketStatements = (): any[] =>
  resources(stateful, 'AWS::S3::BucketPolicy').find(([, r]) => r.Properties.Bucket.Ref === publicBucketId())![1].Properties.PolicyDocument.Statement;
const anonymousStatements = () => publicBucketStatements().filter((s) => s.Effect === 'Allow' && (s.Principal === '*' || s.Principal?.AWS === '*'));
const anonymousAllows = () => anonymousStatements().filter((s) => [s.Action].flat().includes('s3:GetObject'));
const anonymousLists = () => anonymousStatements().filter((s) => [s.Action].flat().includes('s3:ListBucket'));
/** `arn:aws:s3:::bucket/key` as CloudFormation renders it: [GetAtt bucket Arn, "/key"]. */
const objectKeyOf = (arn: any): string => (arn['Fn::Join'][1][1] as string).replace(/^\//, '');
const roleStatementsOf = (fn: Resource): any[] => {
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  return resources(template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
};

/** Full path of every API Gateway resource ("/records/{kind}/{id}"), and "/" for the root. */
function methodPaths(): Array<{ path: string; method: string; auth: string }> {
  const res = Object.fromEntries(resources(template, 'AWS::ApiGateway::Resource'));
  const pathOf = (ref: any): string => {
    if (ref['Fn::GetAtt']) return '';
    const r = res[ref.Ref]!;
    return `${pathOf(r.Properties.ParentId)}/${r.Properties.PathPart}`;
  };
  return resources(template, 'AWS::ApiGateway::Method').map(([, m]) => ({ path: pathOf(m.Properties.ResourceId) || '/', method: m.Properties.HttpMethod, auth: m.Properties.AuthorizationType }));
}

beforeAll(() => {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };
  outdir = mkdtempSync(join(tmpdir(), 'ledger-cdk-'));
  // The feature flags `npx cdk synth` uses, and a schedule that differs from the default.
  const app = new App({ outdir, context: { ...cdkJson.context, publishIntervalMinutes: 30 } });
  const stacks = createLedger(app, ENV);
  stateless = stacks.stateless;
  stateful = Template.fromStack(stacks.stateful);
  template = Template.fromStack(stacks.stateless);
}, 240_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('stateful stack: the table', () => {
  it('is keyed by pk (hash) and sk (range) from TABLE_SHAPE', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE_SHAPE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SHAPE.sortKey, KeyType: 'RANGE' },
      ],
    });
  });
  it('has the heads-only and review-queue indexes of storage/dynamodb-table.ts, projecting every attribute', () => {
    const indexes = only(stateful, 'AWS::DynamoDB::Table').Properties.GlobalSecondaryIndexes as any[];
    expect(indexes.map((i) => i.IndexName).sort()).toEqual(Object.values(TABLE_SHAPE.indexes).map((i) => i.name).sort());
    for (const ix of Object.values(TABLE_SHAPE.indexes)) {
      const found = indexes.find((i) => i.IndexName === ix.name);
      expect(found.KeySchema).toEqual([
        { AttributeName: ix.partitionKey, KeyType: 'HASH' },
        { AttributeName: ix.sortKey, KeyType: 'RANGE' },
      ]);
      expect(found.Projection).toEqual({ ProjectionType: 'ALL' });
    }
  });
  it('bills per request', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', { BillingMode: 'PAY_PER_REQUEST' });
  });
  it('has point-in-time recovery', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
  });
  it('expires items by the ttl attribute', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: { AttributeName: TABLE_SHAPE.ttlAttribute, Enabled: true } });
  });
  it('has deletion protection', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
  });
  it('is retained when the stack goes', () => {
    expect(only(stateful, 'AWS::DynamoDB::Table').DeletionPolicy).toBe('Retain');
  });
});

describe('stateful stack: the public bucket', () => {
  it('is retained when the stack goes', () => {
    expect(stateful.findResources('AWS::S3::Bucket')[publicBucketId()]!.DeletionPolicy).toBe('Retain');
  });
  it('is versioned', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', { BucketName: BUCKET, VersioningConfiguration: { Status: 'Enabled' } });
  });
  it('is encrypted with S3-managed keys', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', { BucketName: BUCKET, BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } });
  });
  it('still blocks public ACLs (only the policy is relaxed)', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', { BucketName: BUCKET, PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, IgnorePublicAcls: true }) });
  });
  it('lets anyone GET only the published keys', () => {
    expect(anonymousAllows().flatMap((s) => [s.Resource].flat().map(objectKeyOf)).sort()).toEqual(PUBLISHED);
  });
  it('grants anonymous callers nothing but s3:GetObject and s3:ListBucket', () => {
    expect(anonymousStatements().flatMap((s) => [s.Action].flat()).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });
  it('lets anyone list only the published prefixes (Athena lists a table location)', () => {
    expect(anonymousLists().map((s) => s.Condition)).toEqual([{ StringLike: { 's3:prefix': ['releases/*', 'latest/*'] } }]);
  });
  it('never makes the whole bucket public', () => {
    expect(anonymousAllows().flatMap((s) => [s.Resource].flat().map(objectKeyOf))).not.toContain('*');
  });
  it('refuses requests without TLS', () => {
    expect(publicBucketStatements()).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
  });
  it('answers cross-origin GETs (browsers, DuckDB-WASM)', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: BUCKET,
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedMethods: Match.arrayWith(['GET']), AllowedOrigins: ['*'] })] },
    });
  });
});

describe('stateful stack: the Athena results bucket', () => {
  it('blocks all public access', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: RESULTS_BUCKET,
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
  });
  it('expires query results', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', { BucketName: RESULTS_BUCKET, LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30 })] } });
  });
});

describe('stateless stack: functions', () => {
  it('has one function per entry, plus the authorizer, the publisher, the sealing migration and its provider framework', () => {
    template.resourceCountIs('AWS::Lambda::Function', ENTRIES.length + 4);
  });
  it.each([...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'])('%s exists', (name) => {
    expect(lambda(name)).toBeDefined();
  });
  it('all of ours run on nodejs22.x', () => {
    for (const name of [...ENTRIES, 'authorizer', 'publisher', 'sealing-migration']) expect(lambda(name).Properties.Runtime, name).toBe('nodejs22.x');
  });
  it.each([...ENTRIES, 'authorizer', 'publisher'])('%s gets every variable functions/config.ts reads', (name) => {
    expect(Object.keys(lambda(name).Properties.Environment.Variables)).toEqual(
      expect.arrayContaining(['LEDGER_TABLE_NAME', 'LEDGER_BUCKET_NAME', 'LEDGER_PUBLIC_BASE_URL', 'LEDGER_DATASET_NAME', 'LEDGER_MAX_DROP_SHARE', 'LEDGER_REVIEW_POLICY']),
    );
  });
  it('the review policy is a stack parameter: single or four_eyes, single by default', () => {
    template.hasParameter('ReviewPolicy', { Type: 'String', AllowedValues: ['single', 'four_eyes'], Default: 'single' });
  });
  it.each([...ENTRIES, 'authorizer', 'publisher'])('%s reads LEDGER_REVIEW_POLICY from that parameter', (name) => {
    expect(lambda(name).Properties.Environment.Variables.LEDGER_REVIEW_POLICY).toEqual({ Ref: 'ReviewPolicy' });
  });
  it('the parameter defaults to the reviewPolicy context setting', () => {
    // No bundling: only the parameter is looked at.
    const app = new App({ context: { reviewPolicy: 'four_eyes', 'aws:cdk:bundling-stacks': [] } });
    const stacks = createLedger(app, ENV);
    expect(stacks.stateless.node.tryFindChild('ReviewPolicy')).toMatchObject({ default: 'four_eyes' });
    expect(() => createLedger(new App({ context: { reviewPolicy: 'twice' } }), ENV)).toThrow(/reviewPolicy/);
  });
  it('point at the public bucket by name (no cross-stack export)', () => {
    expect(lambda('api-info').Properties.Environment.Variables.LEDGER_BUCKET_NAME).toBe(BUCKET);
  });
  it('import nothing from the stateful stack', () => {
    expect(JSON.stringify(template.toJSON())).not.toContain('Fn::ImportValue');
  });
  it('publish: 2048 MB', () => {
    expect(lambda('publisher').Properties.MemorySize).toBe(2048);
  });
  it('publish: 15 minutes', () => {
    expect(lambda('publisher').Properties.Timeout).toBe(900);
  });
  it('publish: 4 GB of /tmp', () => {
    expect(lambda('publisher').Properties.EphemeralStorage).toEqual({ Size: 4096 });
  });
  it('POST /publish is a small API function (it hands the publish to the publisher)', () => {
    expect(lambda('api-publish').Properties.MemorySize).toBe(512);
  });
  it('POST /publish carries no DuckDB (arm64, no node_modules)', () => {
    expect(lambda('api-publish').Properties.Architectures).toEqual(['arm64']);
  });
  it('publish runs on x86_64, where the copied DuckDB binding runs', () => {
    expect(lambda('publisher').Properties.Architectures).toEqual(['x86_64']);
  });
  it('only the publisher carries DuckDB (one 70 MB copy, not two)', () => {
    const withDuckDb = Object.entries(stateless.functions).filter(([, fn]) => existsSync(join(outdir, (fn.node.findChild('Code') as Asset).assetPath, 'node_modules/@duckdb')));
    expect(withDuckDb.map(([n]) => n)).toEqual(['publisher']);
  });
  it('API handlers run on arm64', () => {
    expect(lambda('api-submit').Properties.Architectures).toEqual(['arm64']);
  });
  it('API handlers stop at 29 s', () => {
    expect(lambda('api-submit').Properties.Timeout).toBe(29);
  });
  it('the publish bundle carries the DuckDB native binding', () => {
    const code = stateless.functions['publisher'].node.findChild('Code') as Asset;
    expect(existsSync(join(outdir, code.assetPath, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node'))).toBe(true);
  });
  it('an API bundle carries no node_modules', () => {
    const code = stateless.functions['api-submit'].node.findChild('Code') as Asset;
    expect(existsSync(join(outdir, code.assetPath, 'node_modules'))).toBe(false);
  });
  it('the authorizer cannot write the table', () => {
    expect(roleStatementsOf(lambda('authorizer')).flatMap((s) => [s.Action].flat())).not.toContain('dynamodb:PutItem');
  });
  it('the authorizer cannot touch the bucket', () => {
    expect(roleStatementsOf(lambda('authorizer')).flatMap((s) => [s.Action].flat()).filter((a: string) => a.startsWith('s3:'))).toEqual([]);
  });
  it('publish may write only the published keys', () => {
    const put = roleStatementsOf(lambda('publisher')).find((s) => [s.Action].flat().includes('s3:PutObject'));
    expect(put.Resource.map((arn: any) => (typeof arn === 'string' ? arn : arn['Fn::Join'][1].join(''))).sort()).toEqual(PUBLISHED.map((k) => `arn:aws:s3:::${BUCKET}/${k}`));
  });
  it('an API handler cannot write the bucket', () => {
    expect(roleStatementsOf(lambda('api-submit')).flatMap((s) => [s.Action].flat())).not.toContain('s3:PutObject');
  });
});

describe('the KMS keys (issue 12: sealed storage)', () => {
  const keyOf = (spec: string | undefined): Resource => resources(stateful, 'AWS::KMS::Key').find(([, r]) => r.Properties.KeySpec === spec)![1];
  const records = () => keyOf(undefined);
  const mac = () => keyOf('HMAC_256');
  const statements = (key: Resource): any[] => key.Properties.KeyPolicy.Statement;
  const actionsOf = (s: any): string[] => [s.Action].flat();
  const CRYPTO = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateMac', 'kms:ReEncrypt*', 'kms:CreateGrant', 'kms:*'];
  const roleArnOf = (name: string) => `arn:aws:iam::123456789012:role/rights-ledger-${name}`;
  const kmsActionsOf = (name: string) => roleStatementsOf(lambda(name)).flatMap((s) => [s.Action].flat()).filter((a: string) => a.startsWith('kms:'));
  /** Key-policy actions allowed to a role, by ARN. */
  const allowedTo = (key: Resource, name: string) =>
    statements(key)
      .filter((s) => s.Effect === 'Allow' && [s.Condition?.ArnEquals?.['aws:PrincipalArn']].flat().some((a: any) => a !== undefined && JSON.stringify(a).includes(`role/rights-ledger-${name}"`)))
      .flatMap(actionsOf);

  it('the stateful stack has two customer-managed keys: a symmetric KEK and an HMAC key', () => {
    expect(resources(stateful, 'AWS::KMS::Key')).toHaveLength(2);
    expect(mac().Properties.KeyUsage).toBe('GENERATE_VERIFY_MAC');
  });
  it('both are retained when the stack goes (losing them loses the restricted data)', () => {
    for (const key of [records(), mac()]) expect(key.DeletionPolicy).toBe('Retain');
  });
  it('the KEK is rotated by KMS (older backing keys still decrypt)', () => {
    expect(records().Properties.EnableKeyRotation).toBe(true);
  });
  it('the account administers the keys but cannot use them through the key policy', () => {
    for (const key of [records(), mac()]) {
      const admin = statements(key).filter((s) => !s.Condition);
      expect(admin.length).toBeGreaterThan(0);
      for (const s of admin) expect(actionsOf(s).filter((a) => CRYPTO.includes(a) || a === 'kms:*')).toEqual([]);
    }
  });
  it('the key policies let exactly the functions of KMS_USERS use the keys, each for what it needs', () => {
    for (const [name, uses] of Object.entries(KMS_USERS)) {
      expect(allowedTo(records(), name).sort(), name).toEqual([...uses.records].sort());
      expect(allowedTo(mac(), name).sort(), name).toEqual([...uses.mac].sort());
    }
  });
  it('the key policies give the publisher (and GET /, /health) nothing', () => {
    for (const name of ['api-publish', 'publisher', 'api-info']) {
      for (const key of [records(), mac()]) expect(allowedTo(key, name), name).toEqual([]);
    }
  });
  it('the publisher has no KMS permission at all in its role, and is not told where the keys are', () => {
    for (const name of ['api-publish', 'publisher']) {
      expect(kmsActionsOf(name), name).toEqual([]);
      expect(lambda(name).Properties.Environment.Variables, name).not.toHaveProperty('LEDGER_KMS_KEY_ID');
      expect(lambda(name).Properties.Environment.Variables, name).not.toHaveProperty('LEDGER_KMS_MAC_KEY_ID');
    }
  });
  it('each function that seals, opens or hashes gets exactly its KMS actions, on the keys by alias', () => {
    for (const [name, uses] of Object.entries(KMS_USERS)) {
      expect(kmsActionsOf(name).sort(), name).toEqual([...uses.records, ...uses.mac].sort());
      expect(lambda(name).Properties.Environment.Variables).toMatchObject({ LEDGER_KMS_KEY_ID: 'alias/rights-ledger-records', LEDGER_KMS_MAC_KEY_ID: 'alias/rights-ledger-api-mac' });
    }
  });
  it("the roles the key policies name are the functions' roles", () => {
    const roles = Object.fromEntries(resources(template, 'AWS::IAM::Role').map(([id, r]) => [id, r.Properties.RoleName]));
    for (const name of Object.keys(KMS_USERS)) {
      const roleName = roles[lambda(name).Properties.Role['Fn::GetAtt'][0]];
      expect(roleArnOf(name)).toBe(`arn:aws:iam::123456789012:role/${roleName}`);
    }
  });
  it('API handlers other than those cannot call KMS', () => {
    expect(kmsActionsOf('api-info')).toEqual([]);
  });
});

describe('stateless stack: API', () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.resource}`, r] as const))('%s is a method with the right authorization', (_, route) => {
    expect(methodPaths()).toContainEqual({ path: route.resource, method: route.method, auth: route.auth ? 'CUSTOM' : 'NONE' });
  });
  it('has exactly the routes of ROUTES', () => {
    template.resourceCountIs('AWS::ApiGateway::Method', ROUTES.length);
  });
  it('authorizes with a REQUEST authorizer on the Authorization header', () => {
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { Type: 'REQUEST', IdentitySource: 'method.request.header.Authorization' });
  });
  it('never caches an authorization (a disabled key stops at once)', () => {
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { AuthorizerResultTtlInSeconds: 0 });
  });
  it('passes every body to the handlers as binary', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { BinaryMediaTypes: ['*/*'] });
  });
  it.each(['UNAUTHORIZED', 'ACCESS_DENIED', 'DEFAULT_4XX', 'DEFAULT_5XX'])('answers %s with problem+json', (type) => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', { ResponseType: type, ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Content-Type': "'application/problem+json'" }) });
  });
  it('throttles the stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', { MethodSettings: Match.arrayWith([Match.objectLike({ ThrottlingRateLimit: 25 })]) });
  });
  it('writes access logs', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', { AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }) });
  });
});

describe('stateless stack: schedule', () => {
  it('publishes on the interval from context', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
  });
  it('targets the scheduled-publish function', () => {
    const id = resources(template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Description === 'rights-ledger publisher')![0];
    template.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id, 'Arn'] } })] });
  });
});

describe('stateless stack: Glue and Athena', () => {
  it('defines the database', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: ATHENA_DATABASE }) });
  });
  it('has a history and a latest table per published table', () => {
    template.resourceCountIs('AWS::Glue::Table', 2 * TABLE_NAMES.length);
  });
  it('history tables find a release under releases/${v}/tables/<table>/', () => {
    expect(glueTable(historyTableName('events')).Properties.TableInput.Parameters['storage.location.template']).toBe(`s3://${BUCKET}/releases/\${v}/tables/events/`);
  });
  it('history tables project partitions', () => {
    expect(glueTable(historyTableName('events')).Properties.TableInput.Parameters['projection.enabled']).toBe('true');
  });
  it('history tables take the release id as an injected value', () => {
    expect(glueTable(historyTableName('events')).Properties.TableInput.Parameters['projection.v.type']).toBe('injected');
  });
  it('history tables are partitioned by v', () => {
    expect(glueTable(historyTableName('events')).Properties.TableInput.PartitionKeys.map((k: any) => [k.Name, k.Type])).toEqual([['v', 'string']]);
  });
  it('history tables read Parquet', () => {
    expect(glueTable(historyTableName('events')).Properties.TableInput.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
  });
  it('latest tables read latest/tables/<table>/', () => {
    expect(glueTable(latestTableName('claims')).Properties.TableInput.StorageDescriptor.Location).toBe(`s3://${BUCKET}/latest/tables/claims/`);
  });
  it.each([...TABLE_NAMES])('%s has the columns athenaColumns() derives', (t) => {
    expect(glueTable(historyTableName(t)).Properties.TableInput.StorageDescriptor.Columns.map((c: any) => ({ name: c.Name, type: c.Type, comment: c.Comment }))).toEqual(athenaColumns(t));
  });
  it('the latest table has the same columns', () => {
    expect(glueTable(latestTableName('persons')).Properties.TableInput.StorageDescriptor.Columns.map((c: any) => c.Name)).toEqual(athenaColumns('persons').map((c) => c.name));
  });
  it('the workgroup enforces its configuration', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', { WorkGroupConfiguration: Match.objectLike({ EnforceWorkGroupConfiguration: true }) });
  });
  it('the workgroup cuts off large scans', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', { WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: Match.anyValue() }) });
  });
  it('the workgroup writes results to the results bucket', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({ ResultConfiguration: Match.objectLike({ OutputLocation: `s3://${RESULTS_BUCKET}/results/` }) }),
    });
  });
});

describe('outputs', () => {
  it.each(['ApiUrl', 'PublicBaseUrl', 'CatalogUrl'])('%s', (name) => {
    expect(Object.keys(template.findOutputs(name))).toEqual([name]);
  });
  it('the public base URL is the bucket virtual-hosted URL', () => {
    expect(template.findOutputs('PublicBaseUrl').PublicBaseUrl!.Value).toEqual({ 'Fn::Join': ['', [`https://${BUCKET}.s3.eu-west-1.`, { Ref: 'AWS::URLSuffix' }]] });
  });
});

// ——— issue 9: AWS in production ———

const dynamoStatements = (name: string) => roleStatementsOf(lambda(name)).filter((s) => [s.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
const actionsOfFn = (name: string): string[] => roleStatementsOf(lambda(name)).flatMap((s) => [s.Action].flat());
const API_FUNCTIONS = [...ENTRIES, 'authorizer'];
const logicalIdOf = (name: string) => resources(template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Description === `rights-ledger ${name}`)![0];
const alarmNamed = (name: string): Resource => resources(template, 'AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName === `rights-ledger-${name}`)?.[1]!;
const queueId = () => resources(template, 'AWS::SQS::Queue')[0]![0];

describe('alarms and where they go', () => {
  it('one SNS topic', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
  });
  it('an optional e-mail address is a stack parameter, empty by default', () => {
    template.hasParameter('AlarmEmail', { Type: 'String', Default: '' });
  });
  it('the e-mail subscription exists only when an address is given', () => {
    const [, sub] = resources(template, 'AWS::SNS::Subscription')[0]!;
    expect([(sub as any).Condition, sub.Properties.Protocol, sub.Properties.Endpoint]).toEqual(['HasAlarmEmail', 'email', { Ref: 'AlarmEmail' }]);
  });
  it.each(['PublisherErrors', 'NoSuccessfulPublish', 'Api5xxRate', 'ApiLatencyP99', 'Throttles', 'AuthorizerErrors', 'DynamoDbSystemErrors', 'PublishDeadLetters'])('%s goes to the topic', (name) => {
    const topicId = resources(template, 'AWS::SNS::Topic')[0]![0];
    expect(alarmNamed(name).Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });
  it('publisher errors: the Errors metric of the publisher', () => {
    expect(alarmNamed('PublisherErrors').Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: logicalIdOf('publisher') } }]);
  });
  it('no successful publish: the publisher\'s own EMF metric, by deployment', () => {
    expect(alarmNamed('NoSuccessfulPublish').Properties).toMatchObject({ Namespace: 'RightsLedger', MetricName: 'PublishSucceeded', Dimensions: [{ Name: 'service', Value: 'rights-ledger' }] });
  });
  it('no successful publish: silence is a breach', () => {
    expect(alarmNamed('NoSuccessfulPublish').Properties.TreatMissingData).toBe('breaching');
  });
  it('no successful publish: over the configured window (6 h by default)', () => {
    expect(alarmNamed('NoSuccessfulPublish').Properties.EvaluationPeriods * alarmNamed('NoSuccessfulPublish').Properties.Period).toBe(6 * 3600);
  });
  it('the publisher names its metrics after the deployment', () => {
    expect(lambda('publisher').Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe('rights-ledger');
  });
  it('API 5xx: the rate (average of 5XXError)', () => {
    expect(alarmNamed('Api5xxRate').Properties).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError', Statistic: 'Average' });
  });
  it('API latency: p99', () => {
    expect(alarmNamed('ApiLatencyP99').Properties).toMatchObject({ MetricName: 'Latency', ExtendedStatistic: 'p99' });
  });
  it('throttles: every API function and the authorizer', () => {
    const metrics = alarmNamed('Throttles').Properties.Metrics.filter((m: any) => m.MetricStat);
    expect(metrics.map((m: any) => m.MetricStat.Metric.Dimensions[0].Value.Ref).sort()).toEqual(API_FUNCTIONS.map(logicalIdOf).sort());
  });
  it('authorizer errors', () => {
    expect(alarmNamed('AuthorizerErrors').Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: logicalIdOf('authorizer') } }]);
  });
  it('DynamoDB system errors of the table', () => {
    const metrics = alarmNamed('DynamoDbSystemErrors').Properties.Metrics.filter((m: any) => m.MetricStat);
    expect(new Set(metrics.map((m: any) => `${m.MetricStat.Metric.MetricName} ${m.MetricStat.Metric.Dimensions.find((d: any) => d.Name === 'TableName').Value}`))).toEqual(new Set(['SystemErrors rights-ledger']));
  });
  it('the DLQ not being empty', () => {
    expect(alarmNamed('PublishDeadLetters').Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(), 'QueueName'] } }] });
  });
});

describe('failures are seen and retried', () => {
  it('a failed publish is retried by Lambda', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: logicalIdOf('publisher') }, MaximumRetryAttempts: 2 });
  });
  it('then goes to the SQS dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId(), 'Arn'] } } } });
  });
  it('the schedule retries delivery and keeps what it could not deliver in the DLQ', () => {
    template.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }), DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } } })] });
  });
  it('the DLQ is encrypted', () => {
    expect(only(template, 'AWS::SQS::Queue').Properties.SqsManagedSseEnabled).toBe(true);
  });
  it('the 401 of the authorizer is kept for keys; its failure is a 503 problem', () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', { ResponseType: 'AUTHORIZER_FAILURE', StatusCode: '503', ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Content-Type': "'application/problem+json'" }) });
  });
});

describe('one publisher', () => {
  it('one function carries the publish (reserved concurrency 1)', () => {
    expect(lambda('publisher').Properties.ReservedConcurrentExecutions).toBe(1);
  });
  it('the schedule and POST /publish reach the same function', () => {
    expect(lambda('api-publish').Properties.Environment.Variables.LEDGER_PUBLISHER_FUNCTION).toEqual({ Ref: logicalIdOf('publisher') });
  });
  it('POST /publish may invoke the publisher', () => {
    expect([roleStatementsOf(lambda('api-publish')).find((s) => [s.Action].flat().includes('lambda:InvokeFunction'))!.Resource].flat()).toEqual([{ 'Fn::GetAtt': [logicalIdOf('publisher'), 'Arn'] }]);
  });
  it('GET /publish/status is an authorized route', () => {
    expect(methodPaths()).toContainEqual({ path: '/publish/status', method: 'GET', auth: 'CUSTOM' });
  });
});

describe('least privilege', () => {
  it.each(API_FUNCTIONS)('%s cannot Scan, DeleteItem or use dynamodb:*', (name) => {
    expect(actionsOfFn(name).filter((a) => ['dynamodb:Scan', 'dynamodb:DeleteItem', 'dynamodb:*'].includes(a))).toEqual([]);
  });
  it.each(API_FUNCTIONS)('%s reaches table items only through dynamodb:LeadingKeys', (name) => {
    const onTable = dynamoStatements(name).filter((s) => !JSON.stringify(s.Resource).includes('/index/'));
    expect(onTable.length).toBeGreaterThan(0);
    for (const s of onTable) expect(s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'], name).toBeDefined();
  });
  it('the authorizer only reads key items', () => {
    expect(dynamoStatements('authorizer').map((s) => [[s.Action].flat(), s.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys']])).toEqual([[['dynamodb:GetItem'], ['KEY#*', 'KEYID#*']]]);
  });
  it.each(['api-submit', 'api-records', 'api-info', 'api-publish'])('%s cannot reach API-key, lease or status items it does not own', (name) => {
    const leading = dynamoStatements(name).flatMap((s) => s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []);
    expect(leading.filter((k: string) => k.startsWith('KEY') || k.startsWith('LEASE') || (name !== 'api-publish' && k === 'PUBLISH#STATUS') || k === '*')).toEqual([]);
  });
  it('POST /publish reaches only the publish status item', () => {
    expect(dynamoStatements('api-publish').flatMap((s) => s.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'])).toEqual(['PUBLISH#STATUS']);
  });
  it('only the publisher writes or deletes in the bucket', () => {
    const writers = [...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'].filter((n) => actionsOfFn(n).some((a) => ['s3:PutObject', 's3:DeleteObject', 's3:*'].includes(a)));
    expect(writers).toEqual(['publisher']);
  });
  it.each([...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'])('%s: its role has no AWS managed policy (it may write only its own log group)', (name) => {
    const role = resources(template, 'AWS::IAM::Role').find(([id]) => id === lambda(name).Properties.Role['Fn::GetAtt'][0])![1];
    expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
  });
  it('a function writes logs only to its own log group', () => {
    const logs = roleStatementsOf(lambda('api-submit')).filter((s) => [s.Action].flat().some((a: string) => a.startsWith('logs:')));
    expect(logs.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [lambda('api-submit').Properties.LoggingConfig.LogGroup.Ref, 'Arn'] }]);
  });
  it('the publisher gets no KMS permission', () => {
    expect(actionsOfFn('publisher').filter((a) => a.startsWith('kms:'))).toEqual([]);
  });
});

describe('releases nobody can erase', () => {
  const rules = (): any[] => stateful.findResources('AWS::S3::Bucket')[publicBucketId()]!.Properties.LifecycleConfiguration.Rules;
  it('no lifecycle rule expires noncurrent versions without a prefix', () => {
    expect(rules().filter((r) => r.NoncurrentVersionExpiration && !r.Prefix)).toEqual([]);
  });
  it('no lifecycle rule touches releases/', () => {
    expect(rules().filter((r) => (r.Prefix ?? '').startsWith('releases') || (r.NoncurrentVersionExpiration || r.ExpirationInDays) && 'releases/x'.startsWith(r.Prefix ?? ''))).toEqual([]);
  });
  it('no lifecycle rule expires current objects', () => {
    expect(rules().filter((r) => r.ExpirationInDays || r.ExpirationDate)).toEqual([]);
  });
  it('old versions of latest/ still expire', () => {
    expect(rules()).toContainEqual(expect.objectContaining({ Prefix: 'latest/', NoncurrentVersionExpiration: { NoncurrentDays: 30 } }));
  });
  it('Object Lock is a parameter: NONE, GOVERNANCE or COMPLIANCE, off by default', () => {
    stateful.hasParameter('ObjectLockMode', { AllowedValues: ['NONE', 'GOVERNANCE', 'COMPLIANCE'], Default: 'NONE' });
  });
  it('with it on, Object Lock is enabled on the bucket', () => {
    expect(stateful.findResources('AWS::S3::Bucket')[publicBucketId()]!.Properties.ObjectLockEnabled).toEqual({ 'Fn::If': ['ObjectLockOn', true, { Ref: 'AWS::NoValue' }] });
  });
  it('with it on, the lock configuration is enabled with no default rule', () => {
    expect(stateful.findResources('AWS::S3::Bucket')[publicBucketId()]!.Properties.ObjectLockConfiguration).toEqual({ 'Fn::If': ['ObjectLockOn', { ObjectLockEnabled: 'Enabled' }, { Ref: 'AWS::NoValue' }] });
  });
  it('no bucket has a default retention (it would lock latest/, catalog.json and index.html too)', () => {
    expect(JSON.stringify(stateful.findResources('AWS::S3::Bucket'))).not.toContain('DefaultRetention');
  });
  it('the mode goes to an SSM parameter named from the prefix, for the publisher', () => {
    stateful.hasResourceProperties('AWS::SSM::Parameter', { Name: '/rights-ledger/object-lock-mode', Value: { Ref: 'ObjectLockMode' } });
  });
  it('the years go to an SSM parameter named from the prefix, for the publisher', () => {
    stateful.hasResourceProperties('AWS::SSM::Parameter', { Name: '/rights-ledger/object-lock-years', Value: { Ref: 'ObjectLockYears' } });
  });
  it('the stateless stack reads the mode from that SSM parameter at deploy', () => {
    template.hasParameter('ObjectLockMode', { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/rights-ledger/object-lock-mode' });
  });
  it('the stateless stack reads the years from that SSM parameter at deploy', () => {
    template.hasParameter('ObjectLockYears', { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/rights-ledger/object-lock-years' });
  });
  it('the publisher gets the mode in LEDGER_OBJECT_LOCK_MODE', () => {
    expect(lambda('publisher').Properties.Environment.Variables.LEDGER_OBJECT_LOCK_MODE).toEqual({ Ref: 'ObjectLockMode' });
  });
  it('the publisher gets the years in LEDGER_OBJECT_LOCK_YEARS', () => {
    expect(lambda('publisher').Properties.Environment.Variables.LEDGER_OBJECT_LOCK_YEARS).toEqual({ Ref: 'ObjectLockYears' });
  });
  it('the publisher may set the retention of release objects', () => {
    const retention = roleStatementsOf(lambda('publisher')).filter((s) => [s.Action].flat().includes('s3:PutObjectRetention'));
    expect(retention.flatMap((s) => [s.Resource].flat().map((arn: any) => (typeof arn === 'string' ? arn : arn['Fn::Join'][1].join(''))))).toEqual([`arn:aws:s3:::${BUCKET}/releases/*`]);
  });
  it('the publisher may not bypass a governance retention', () => {
    expect(actionsOfFn('publisher').filter((a) => a === 's3:BypassGovernanceRetention' || a === 's3:*' || a === '*')).toEqual([]);
  });
  it('no function may bypass a retention or set one, but the publisher', () => {
    const names = [...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'];
    const lockers = names.filter((n) => actionsOfFn(n).some((a) => ['s3:PutObjectRetention', 's3:BypassGovernanceRetention', 's3:PutObjectLegalHold'].includes(a)));
    expect(lockers).toEqual(['publisher']);
  });
  it('no other function reads the Object Lock setting', () => {
    const names = [...ENTRIES, 'authorizer', 'sealing-migration'];
    expect(names.filter((n) => 'LEDGER_OBJECT_LOCK_MODE' in (lambda(n).Properties.Environment?.Variables ?? {}))).toEqual([]);
  });
});

describe('the sealing migration (issue 12) at deploy time', () => {
  const migration = () => only(template, 'Custom::LedgerMigration');
  it('a custom resource names the migration', () => {
    expect(migration().Properties.Migration).toBe('sealing-v1');
  });
  it('runs through a provider whose onEvent is the migration function', () => {
    const framework = resources(template, 'AWS::Lambda::Function').find(([id]) => id !== logicalIdOf('sealing-migration') && JSON.stringify(resources(template, 'AWS::Lambda::Function').find(([i]) => i === id)![1].Properties.Environment ?? {}).includes(logicalIdOf('sealing-migration')))!;
    expect(migration().Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [framework[0], 'Arn'] });
  });
  it('its function may use the keys for exactly GenerateMac, GenerateDataKey and Decrypt', () => {
    expect(actionsOfFn('sealing-migration').filter((a) => a.startsWith('kms:')).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateMac']);
  });
  it('its function touches no bucket', () => {
    expect(actionsOfFn('sealing-migration').filter((a) => a.startsWith('s3:'))).toEqual([]);
  });
  it('its function may rewrite table items but not change the table', () => {
    expect(actionsOfFn('sealing-migration').filter((a) => /^dynamodb:(Create|Delete|Update)Table|^dynamodb:\*$/.test(a))).toEqual([]);
  });
});

describe('the bundles load', () => {
  // A fresh Node process imports each bundled handler as Lambda would: a missing module, a native
  // binding that is not there or a top-level await that fails shows here, not at the first invocation.
  it.each([...ENTRIES, 'authorizer', 'publisher', 'sealing-migration'] as const)('%s: its handler is a function', (name) => {
    const code = stateless.functions[name].node.findChild('Code') as Asset;
    const file = join(outdir, code.assetPath, 'index.mjs');
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(typeof m.handler);`], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 60_000 });
    expect(out.stderr.split('\n').filter((l) => /Error/.test(l))).toEqual([]);
    expect(out.stdout).toBe('function');
  });
});

describe('the Glue database of a deployment', () => {
  it('is named from namePrefix', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: 'rights_ledger' }) });
  });
  it('a second deployment in the account gets its own database, tables and workgroup', () => {
    const app = new App({ context: { namePrefix: 'staging-ledger', 'aws:cdk:bundling-stacks': [] } });
    const t = Template.fromStack(createLedger(app, ENV).stateless);
    t.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: 'staging_ledger' }) });
    t.allResourcesProperties('AWS::Glue::Table', { DatabaseName: 'staging_ledger' });
    // … and the publisher writes athena/tables.sql for that database, not the default one.
    t.hasResourceProperties('AWS::Lambda::Function', { Description: 'rights-ledger publisher', Environment: { Variables: Match.objectLike({ LEDGER_ATHENA_DATABASE: 'staging_ledger' }) } });
    expect(athenaDdl(BUCKET, 'staging_ledger')).toContain('CREATE DATABASE IF NOT EXISTS staging_ledger;');
  });
  it('the default deployment\'s database is the one the published Athena DDL creates', () => {
    expect(athenaDdl(BUCKET)).toContain(`CREATE DATABASE IF NOT EXISTS ${athenaDatabaseName('rights-ledger')}`);
  });
});
