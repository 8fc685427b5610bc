import type { z } from 'zod';
import {
  ApiInfo,
  CreateKeyBody,
  CreatedKey,
  DisabledKey,
  Health,
  ListRecordsQuery,
  ListRecordsResult,
  OpenApiDocument,
  PublishAnswer,
  PublishBody,
  RecordHistory,
  RecordView,
  RetractBody,
  ReviewBody,
  ReviewDecision,
  ReviewsBody,
  ReviewsResult,
  SubmitBody,
  SubmitResult,
} from '../schemas/api.ts';
import { PublishAccepted, PublishStatus } from '../schemas/publish-status.ts';
import { RECORD_SCHEMAS } from '../schemas/records.ts';

/**
 * The API's routes, shared by the local server (which routes requests itself), the CDK stack (which
 * builds API Gateway resources from it) and GET /openapi.json (which describes them from the same zod
 * schemas the handlers validate with). `entry` is the file in functions/ that handles the route.
 */
export const ENTRIES = ['api-info', 'api-submit', 'api-records', 'api-keys', 'api-publish'] as const;
export type Entry = (typeof ENTRIES)[number];

export interface RouteSpec {
  method: 'GET' | 'POST';
  resource: string;
  entry: Entry;
  /** Needs an API key (checked by the authorizer before the handler runs). */
  auth: boolean;
  operationId: string;
  summary: string;
  /** The query string's schema (a strict object: unknown parameters are refused). */
  query?: z.ZodObject;
  /**
   * The JSON body's schema. `items`: an array field of the body whose members are each checked on
   * their own by one of these schemas (a bad member fails alone, not the request).
   */
  body?: { schema: z.ZodType; required: boolean; items?: { field: string; schemas: z.ZodType[] }; ndjson?: boolean };
  /** The successful answer. */
  response: { status: number; description: string; schema: z.ZodType };
  /** Other successful answers (POST /publish: 202 where the platform cannot wait). */
  otherResponses?: ReadonlyArray<{ status: number; description: string; schema: z.ZodType }>;
}

const RECORD_ITEMS = { field: 'records', schemas: Object.values(RECORD_SCHEMAS) };

export const ROUTES: ReadonlyArray<RouteSpec> = [
  { method: 'GET', resource: '/', entry: 'api-info', auth: false, operationId: 'getInfo', summary: 'What this service is and where its data is published', response: { status: 200, description: 'The service', schema: ApiInfo } },
  { method: 'GET', resource: '/health', entry: 'api-info', auth: false, operationId: 'getHealth', summary: 'Whether the store and the bucket answer (503 if not)', response: { status: 200, description: 'Both answer', schema: Health } },
  {
    method: 'GET',
    resource: '/openapi.json',
    entry: 'api-info',
    auth: false,
    operationId: 'getOpenApi',
    summary: 'This document: OpenAPI 3.1, generated from the schemas that validate requests',
    response: { status: 200, description: 'The OpenAPI document', schema: OpenApiDocument },
  },
  {
    method: 'POST',
    resource: '/records',
    entry: 'api-submit',
    auth: true,
    operationId: 'submitRecords',
    summary: 'Submit 1–1000 records; each is judged on its own',
    body: { schema: SubmitBody, required: true, items: RECORD_ITEMS, ndjson: true },
    response: { status: 200, description: 'One result per record, in order', schema: SubmitResult },
  },
  {
    method: 'GET',
    resource: '/records',
    entry: 'api-records',
    auth: true,
    operationId: 'listRecords',
    summary: 'The review queue and record listing (contributors: their own records, redacted)',
    query: ListRecordsQuery,
    response: { status: 200, description: 'One page', schema: ListRecordsResult },
  },
  { method: 'GET', resource: '/records/{kind}/{id}', entry: 'api-records', auth: true, operationId: 'getRecord', summary: 'The current record with its server fields', response: { status: 200, description: 'The record', schema: RecordView } },
  {
    method: 'GET',
    resource: '/records/{kind}/{id}/history',
    entry: 'api-records',
    auth: true,
    operationId: 'getRecordHistory',
    summary: 'Every revision with its patch, and every review action (contributors: their own revisions)',
    response: { status: 200, description: 'The history, oldest first', schema: RecordHistory },
  },
  {
    method: 'POST',
    resource: '/records/{kind}/{id}/review',
    entry: 'api-records',
    auth: true,
    operationId: 'reviewRecord',
    summary: 'Approve or reject the newest revision (editors)',
    body: { schema: ReviewBody, required: true },
    response: { status: 200, description: 'The record after the decision', schema: RecordView },
  },
  {
    method: 'POST',
    resource: '/records/{kind}/{id}/retract',
    entry: 'api-records',
    auth: true,
    operationId: 'retractRecord',
    summary: 'Retract a record (editors): the next release lists it as a delete',
    body: { schema: RetractBody, required: true },
    response: { status: 200, description: 'The retracted record', schema: RecordView },
  },
  {
    method: 'POST',
    resource: '/reviews',
    entry: 'api-records',
    auth: true,
    operationId: 'reviewMany',
    summary: 'Up to 100 review decisions, each judged on its own (editors)',
    body: { schema: ReviewsBody, required: true, items: { field: 'decisions', schemas: [ReviewDecision] } },
    response: { status: 200, description: 'One result per decision, in order', schema: ReviewsResult },
  },
  {
    method: 'POST',
    resource: '/keys',
    entry: 'api-keys',
    auth: true,
    operationId: 'createKey',
    summary: 'Create an API key (editors); the key is shown only in this answer',
    body: { schema: CreateKeyBody, required: true },
    response: { status: 201, description: 'The new key', schema: CreatedKey },
  },
  { method: 'POST', resource: '/keys/{key_id}/disable', entry: 'api-keys', auth: true, operationId: 'disableKey', summary: 'Disable an API key (editors)', response: { status: 200, description: 'Disabled', schema: DisabledKey } },
  {
    method: 'POST',
    resource: '/publish',
    entry: 'api-publish',
    auth: true,
    operationId: 'publish',
    summary: 'Publish a release now (editors)',
    body: { schema: PublishBody, required: false },
    response: { status: 200, description: 'Published, or why not (when the publish finishes within the request: on one machine)', schema: PublishAnswer },
    otherResponses: [{ status: 202, description: 'Started; GET /publish/status tells how it went (in AWS, where API Gateway waits at most 29 s)', schema: PublishAccepted }],
  },
  {
    method: 'GET',
    resource: '/publish/status',
    entry: 'api-publish',
    auth: true,
    operationId: 'getPublishStatus',
    summary: 'The last publish: running, published (version), no changes, or failed (code, message) (editors)',
    response: { status: 200, description: 'The last publish', schema: PublishStatus },
  },
];
