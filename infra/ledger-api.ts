import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES, type Entry } from '../functions/routes.ts';
import { STATUS_TITLES, unauthorized } from '../pipeline/errors.ts';

export interface LedgerApiProps {
  handlers: Readonly<Record<Entry, IFunction>>;
  authorizer: IFunction;
  /** Steady requests per second and burst for the whole stage (a request carries up to 1000 records). */
  throttle: { rateLimit: number; burstLimit: number };
}

interface GatewayProblem {
  type: apigw.ResponseType;
  /** Omitted: the status API Gateway chose (the DEFAULT_ responses cover many). */
  status?: number;
  title: string;
  code: string;
  /** Omitted: API Gateway's own message for the case. */
  detail?: string;
}

/** Errors API Gateway answers itself, before or instead of a handler: problem+json like the handlers' (API.md). */
const GATEWAY_PROBLEMS: GatewayProblem[] = [
  { type: apigw.ResponseType.UNAUTHORIZED, status: 401, title: STATUS_TITLES[401]!, code: 'unauthorized', detail: unauthorized().message },
  { type: apigw.ResponseType.ACCESS_DENIED, status: 403, title: STATUS_TITLES[403]!, code: 'forbidden' },
  // What API Gateway answers for a path or method with no route.
  { type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, status: 404, title: STATUS_TITLES[404]!, code: 'not_found', detail: 'no such route: see GET / and API.md' },
  { type: apigw.ResponseType.REQUEST_TOO_LARGE, status: 413, title: STATUS_TITLES[413]!, code: 'payload_too_large' },
  { type: apigw.ResponseType.THROTTLED, status: 429, title: 'Too Many Requests', code: 'throttled', detail: 'too many requests: wait a moment and retry' },
  { type: apigw.ResponseType.INTEGRATION_TIMEOUT, status: 504, title: 'Gateway Timeout', code: 'gateway_timeout', detail: 'the request took longer than API Gateway waits (29 s); it may have been done all the same, and sending it again is safe (a resubmitted batch changes nothing twice)' },
  // The authorizer threw something other than "Unauthorized": the key store did not answer (functions/authorizer.ts).
  { type: apigw.ResponseType.AUTHORIZER_FAILURE, status: 503, title: STATUS_TITLES[503]!, code: 'store_unavailable', detail: 'the key store is not answering: nothing in your request needs changing; try again later' },
  { type: apigw.ResponseType.DEFAULT_4XX, title: 'Client Error', code: 'client_error' },
  { type: apigw.ResponseType.DEFAULT_5XX, title: 'Server Error', code: 'gateway_error' },
];

const DETAIL_FROM_GATEWAY = '__detail__';

function problemTemplate(p: GatewayProblem): string {
  const body = JSON.stringify({ type: `urn:rights-ledger:problem:${p.code}`, title: p.title, ...(p.status ? { status: p.status } : {}), detail: p.detail ?? DETAIL_FROM_GATEWAY, code: p.code });
  // $context.error.messageString is API Gateway's message, already a quoted JSON string.
  return body.replace(`"${DETAIL_FROM_GATEWAY}"`, '$context.error.messageString');
}

const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  method: '$context.httpMethod',
  resource: '$context.resourcePath',
  status: '$context.status',
  bytes: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  keyId: '$context.authorizer.keyId',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
  integrationError: '$context.integration.error',
};

/** The REST API, built from functions/routes.ts ROUTES: the same table the local server routes by. */
export class LedgerApi extends Construct {
  readonly api: apigw.RestApi;

  constructor(scope: Construct, id: string, props: LedgerApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });

    this.api = new apigw.RestApi(this, 'Api', {
      description: 'rights-ledger upload, review and publish endpoint (API.md)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // Every body reaches the handlers base64-encoded, byte for byte: they check UTF-8 and JSON themselves.
      binaryMediaTypes: ['*/*'],
      // Access logs need the account-wide API Gateway CloudWatch role; kept if this stack goes, as other APIs may rely on it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: 'v1',
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        metricsEnabled: true,
        // Execution logs of errors only (AwsSolutions-APIG6): authorizer and integration failures, never bodies.
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    // The stack has its own, better-named ApiUrl output.
    this.api.node.tryRemoveChild('Endpoint');

    const authorizer = new apigw.RequestAuthorizer(this, 'KeyAuthorizer', {
      handler: props.authorizer,
      identitySources: [apigw.IdentitySource.header('Authorization')],
      // No caching: a disabled key must stop working on its next request.
      resultsCacheTtl: Duration.seconds(0),
    });

    const integrations = new Map<Entry, apigw.LambdaIntegration>();
    for (const route of ROUTES) {
      let integration = integrations.get(route.entry);
      if (!integration) {
        integration = new apigw.LambdaIntegration(props.handlers[route.entry], { allowTestInvoke: false });
        integrations.set(route.entry, integration);
      }
      this.api.root
        .resourceForPath(route.resource)
        .addMethod(route.method, integration, route.auth ? { authorizationType: apigw.AuthorizationType.CUSTOM, authorizer } : { authorizationType: apigw.AuthorizationType.NONE });
    }

    for (const p of GATEWAY_PROBLEMS) {
      this.api.addGatewayResponse(`Problem${p.type.responseType}`, {
        type: p.type,
        ...(p.status ? { statusCode: String(p.status) } : {}),
        responseHeaders: {
          'Content-Type': "'application/problem+json'",
          'Cache-Control': "'no-store'",
          ...(p.status === 401 ? { 'WWW-Authenticate': "'Bearer'" } : {}),
          ...(p.status === 503 ? { 'Retry-After': "'5'" } : {}),
        },
        templates: { 'application/json': problemTemplate(p) },
      });
    }
  }
}
