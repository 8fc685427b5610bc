import { CfnCondition, CfnParameter, Duration, Fn } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PUBLISH_METRICS } from '../schemas/publish-status.ts';

export interface LedgerAlarmsProps {
  /** Every function; the API ones (all but the publisher and the migration) are watched for throttles. */
  functions: Readonly<Record<string, IFunction>>;
  publisher: IFunction;
  api: apigw.RestApi;
  table: ITable;
  deadLetters: sqs.IQueue;
  /** The name prefix: the publisher's `service` metric dimension (POWERTOOLS_SERVICE_NAME). */
  deployment: string;
  /** Hours without a successful publish run before NoSuccessfulPublish. */
  publishAlarmHours: number;
}

const FIVE_MINUTES = Duration.minutes(5);
/** Operations whose DynamoDB SystemErrors count (one metric each; a math expression adds them up). */
const TABLE_OPERATIONS = ['GetItem', 'BatchGetItem', 'Query', 'Scan', 'PutItem', 'UpdateItem', 'BatchWriteItem', 'TransactWriteItems'] as const;

/**
 * One SNS topic every alarm goes to (and comes back OK to), with an optional e-mail subscription from
 * the AlarmEmail stack parameter. README "Deploying to AWS" says what each alarm means and what to do.
 */
export class LedgerAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<string, cloudwatch.Alarm> = {};

  constructor(scope: Construct, id: string, props: LedgerAlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: `rights-ledger ${props.deployment} alarms`, enforceSSL: true });

    const email = new CfnParameter(scope, 'AlarmEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description: 'An e-mail address that receives every alarm (confirm the subscription mail AWS sends); empty: none',
    });
    const hasEmail = new CfnCondition(scope, 'HasAlarmEmail', { expression: Fn.conditionNot(Fn.conditionEquals(email.valueAsString, '')) });
    const subscription = new sns.CfnSubscription(this, 'EmailSubscription', { topicArn: this.topic.topicArn, protocol: 'email', endpoint: email.valueAsString });
    subscription.cfnOptions.condition = hasEmail;

    const action = new SnsAction(this.topic);
    const alarm = (name: string, description: string, metric: cloudwatch.IMetric, opts: Partial<cloudwatch.AlarmProps> = {}) => {
      const a = new cloudwatch.Alarm(this, name, {
        alarmName: `${props.deployment}-${name}`,
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...opts,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      this.alarms[name] = a;
    };

    alarm('PublisherErrors', 'A publish failed (quality gate, store, bucket): Lambda retries it; see the publisher log line "publish failed" and GET /publish/status', props.publisher.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }));
    alarm(
      'NoSuccessfulPublish',
      `No publish run ended well for ${props.publishAlarmHours} h (with or without a new release): the schedule or the publisher is broken`,
      new cloudwatch.Metric({ namespace: PUBLISH_METRICS.namespace, metricName: PUBLISH_METRICS.publishSucceeded, dimensionsMap: { service: props.deployment }, statistic: 'Sum', period: Duration.hours(1) }),
      { comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, evaluationPeriods: props.publishAlarmHours, datapointsToAlarm: props.publishAlarmHours, treatMissingData: cloudwatch.TreatMissingData.BREACHING },
    );
    alarm('Api5xxRate', 'More than 5% of API requests answered 5xx in two of three 5-minute periods', props.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Average' }), {
      threshold: 0.05,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    alarm('ApiLatencyP99', 'The slowest 1% of API requests took over 10 s in two of three 5-minute periods', props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99' }), {
      threshold: 10_000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    const apiFunctions = Object.entries(props.functions).filter(([, fn]) => fn !== props.publisher && !fn.node.id.includes('Migration'));
    alarm(
      'Throttles',
      'Lambda throttled an API function or the authorizer (account concurrency exhausted): requests answered 5xx',
      new cloudwatch.MathExpression({
        expression: apiFunctions.map((_, i) => `t${i}`).join(' + '),
        usingMetrics: Object.fromEntries(apiFunctions.map(([, fn], i) => [`t${i}`, fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' })])),
        period: FIVE_MINUTES,
        label: 'Throttles of the API functions',
      }),
    );
    alarm('AuthorizerErrors', 'The authorizer failed (not a refused key): every authenticated request answers 503', props.functions.authorizer!.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }));
    alarm('DynamoDbSystemErrors', 'DynamoDB answered 5xx (its side): requests and publishes may fail and be retried', props.table.metricSystemErrorsForOperations({ operations: TABLE_OPERATIONS.map((o) => o as never), period: FIVE_MINUTES }));
    alarm(
      'PublishDeadLetters',
      'A publish event failed every retry and waits in the dead-letter queue: read it, fix the cause, publish again (POST /publish)',
      props.deadLetters.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: 'Maximum' }),
    );
  }
}
