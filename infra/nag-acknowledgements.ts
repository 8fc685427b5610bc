import { Stack, Token, Validations } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Provider } from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';

/**
 * The cdk-nag AwsSolutions findings this app keeps on purpose, each with why, on the construct it
 * concerns (test/infra/nag.test.ts runs the checks; everything else was fixed: own-log-group policies
 * instead of AWSLambdaBasicExecutionRole, the exact function ARN to invoke, the index ARNs by name,
 * execution logging at ERROR). A new finding fails the test until it is fixed or written here.
 */
const ack = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });

const LAMBDA_BASIC = 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';

export function acknowledgeStatefulFindings(b: { publicBucket: s3.Bucket; resultsBucket: s3.Bucket }): void {
  ack(b.publicBucket, 'AwsSolutions-S1', 'No access logs of the public bucket on purpose: they would keep the IP address of everyone who reads human-rights documentation. Writes are by the publisher role only (CloudTrail records those).');
  ack(b.publicBucket, 'AwsSolutions-S2', 'Public by design: the published dataset. The bucket policy grants anonymous s3:GetObject on the published keys and s3:ListBucket under releases/ and latest/ only; ACLs stay blocked (bucket-defaults.ts publicReadBucket).');
  ack(b.resultsBucket, 'AwsSolutions-S1', 'Athena query results over public data, private, expiring after 30 days; the queries themselves are in Athena\'s history and CloudTrail.');
}

export function acknowledgeStatelessFindings(
  stack: Stack,
  p: { bucketName: string; functions: Readonly<Record<string, IFunction>>; migrationProvider: Provider; deadLetters: sqs.Queue; api: { api: apigw.RestApi } },
): void {
  // As cdk-nag prints a finding: the partition, and an account the app was not told, as pseudo parameters (an ID must be plain text).
  const rendered = (text: string) => text.split(stack.account).join(Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account).replace('arn:aws:', 'arn:<AWS::Partition>:');
  const kmsKeys = rendered(`arn:aws:kms:${stack.region}:${stack.account}:key/*`);
  for (const fn of Object.values(p.functions)) {
    ack(fn, 'AwsSolutions-L1', 'nodejs22.x on purpose: the bundles target node22 and are loaded in a fresh Node process by the tests; moving to a newer runtime is a tested change, not a default.');
    ack(fn.role!, `AwsSolutions-IAM5[Resource::${kmsKeys}]`, 'The key ids live in the stateful stack and are not exported; the statement is limited by kms:ResourceAliases to the one alias, and the key policies name this role.');
  }
  const publisher = p.functions.publisher!;
  for (const prefix of ['releases', 'latest', 'athena']) {
    ack(publisher.role!, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${rendered(p.bucketName)}/${prefix}/*]`, `The publisher writes every object of a release under ${prefix}/ (object names are made at publish time); nothing outside the published keys.`);
  }
  ack(p.migrationProvider, LAMBDA_BASIC, "The provider framework's own function (aws-cdk-lib custom-resources), which only relays to the migration function.");
  ack(p.migrationProvider, 'AwsSolutions-L1', "The provider framework's own function: its runtime is chosen by aws-cdk-lib.");
  ack(p.migrationProvider, `AwsSolutions-IAM5[Resource::<${Stack.of(p.functions['sealing-migration']!).getLogicalId(p.functions['sealing-migration']!.node.defaultChild as never)}.Arn>:*]`, 'The provider framework invokes the migration function (and its versions), as aws-cdk-lib grants it.');
  ack(p.deadLetters, 'AwsSolutions-SQS3', 'This queue is the dead-letter queue of the publisher: nothing goes beyond it; the PublishDeadLetters alarm watches it.');
  const api = p.api.api;
  ack(api, 'AwsSolutions-APIG2', 'The handlers validate every body and query with the zod schemas of the contract and answer per-field problem+json errors (API.md); a gateway validator would answer in another format first.');
  ack(api, 'AwsSolutions-APIG3', 'No WAF by default (from about 6 USD a month): the stage is throttled (25 rps, burst 50), bodies are capped at 5 MiB, every write needs a key. README says how to add one.');
  ack(api, 'AwsSolutions-APIG4', 'GET /, GET /health and GET /openapi.json are public on purpose (API.md); every other route has the Lambda authorizer.');
  ack(api, 'AwsSolutions-COG4', 'Callers are organisations with API keys checked by the Lambda authorizer (HMAC under a KMS key), not Cognito users; the three public routes are anonymous on purpose.');
  ack(api, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]', "API Gateway's account-wide logging role, with the policy AWS maintains for exactly that.");
}
