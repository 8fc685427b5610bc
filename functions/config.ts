import { z } from 'zod';
import { OBJECT_LOCK_MODES, REVIEW_POLICIES, type ReviewPolicy } from '../pipeline/ports.ts';
import type { ReleaseLock } from '../pipeline/publish/lock-release.ts';
import type { Adapters } from '../storage/adapters.ts';
import { KmsKeyring, NoKeys } from '../storage/kek-kms.ts';
import { createStoreAdapters, type AdapterSettings, type StoreAdapters } from '../storage/store-adapters.ts';

const Env = z.object({
  LEDGER_TABLE_NAME: z.string().min(1, 'LEDGER_TABLE_NAME must name the DynamoDB table'),
  LEDGER_BUCKET_NAME: z.string().min(1, 'LEDGER_BUCKET_NAME must name the public bucket'),
  LEDGER_ATHENA_DATABASE: z.string().regex(/^[a-z0-9_]{1,255}$/, 'LEDGER_ATHENA_DATABASE must be a Glue database name (a-z, 0-9, _)').optional(),
  LEDGER_PUBLIC_BASE_URL: z.url({ message: 'LEDGER_PUBLIC_BASE_URL must be the public URL of the bucket root' }),
  LEDGER_DATASET_NAME: z.string().regex(/^[a-z0-9._-]+$/).default('rights-ledger'),
  LEDGER_MAX_DROP_SHARE: z.coerce.number().min(0).max(1).default(0.01),
  LEDGER_REVIEW_POLICY: z.enum(REVIEW_POLICIES, { message: `LEDGER_REVIEW_POLICY must be ${REVIEW_POLICIES.join(' or ')}` }).default('single'),
  LEDGER_DYNAMODB_ENDPOINT: z.url().optional(),
  LEDGER_S3_ENDPOINT: z.url().optional(),
  // The KMS keys of the functions that seal, open or hash (infra/stateless-stack.ts); the publisher has none.
  LEDGER_KMS_KEY_ID: z.string().min(1).optional(),
  LEDGER_KMS_MAC_KEY_ID: z.string().min(1).optional(),
  // S3 Object Lock of committed releases (the publisher's; infra/stateless-stack.ts): NONE, or a mode and years.
  LEDGER_OBJECT_LOCK_MODE: z.enum(['NONE', ...OBJECT_LOCK_MODES], { message: `LEDGER_OBJECT_LOCK_MODE must be NONE, ${OBJECT_LOCK_MODES.join(' or ')}` }).default('NONE'),
  LEDGER_OBJECT_LOCK_YEARS: z.coerce.number().int().min(1, 'LEDGER_OBJECT_LOCK_YEARS must be a whole number of years from 1 to 100').max(100, 'LEDGER_OBJECT_LOCK_YEARS must be a whole number of years from 1 to 100').optional(),
  AWS_REGION: z.string().optional(),
});

/** The deployment's facts that `GET /` tells and the settings the handlers follow, read from the environment. */
export interface ContextFacts {
  /** `athenaDatabase`: the Glue database the stack made (athena/tables.sql names it); default rights_ledger. */
  info: { name: string; version: string; publicBaseUrl: string; datasetName: string; bucketName: string; athenaDatabase?: string };
  /** Publishing settings (LEDGER_MAX_DROP_SHARE). */
  publishing: { maxDropShare: number };
  /** LEDGER_REVIEW_POLICY; absent = `single`. */
  reviewPolicy?: ReviewPolicy;
  /** LEDGER_OBJECT_LOCK_MODE and _YEARS: how the publisher locks committed releases; absent = not at all. */
  objectLock?: ReleaseLock;
}

/** What a handler that never touches the bucket needs: the table's adapters and the facts (no S3 client in its bundle). */
export interface StoreContext extends StoreAdapters, ContextFacts {}

/** What every handler may need: every adapter (the bucket's and DuckDB's too) and the facts. */
export interface AppContext extends Adapters, ContextFacts {}

export const SOFTWARE_NAME = 'rights-ledger';
/** Kept in step with package.json by test/unit/config.test.ts. */
export const SOFTWARE_VERSION = '0.1.0';

/**
 * Reads the Lambda environment once, at cold start: a missing or malformed variable fails then, with
 * one sentence naming it, not on the first request. `build` chooses the adapters: the table's alone
 * (the default: the API functions that never touch the bucket), or storage/adapters.ts `createAdapters`
 * for the functions that read or write it; each function's bundle then holds only the clients it calls.
 */
export function contextFromEnv(env?: NodeJS.ProcessEnv): StoreContext;
export function contextFromEnv<A extends StoreAdapters>(env: NodeJS.ProcessEnv, build: (settings: AdapterSettings) => A): A & ContextFacts;
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env, build: (settings: AdapterSettings) => StoreAdapters = createStoreAdapters): StoreContext {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`configuration: ${first.path.join('.')}: ${first.message}`);
  }
  const e = parsed.data;
  if (Boolean(e.LEDGER_KMS_KEY_ID) !== Boolean(e.LEDGER_KMS_MAC_KEY_ID)) throw new Error('configuration: LEDGER_KMS_KEY_ID and LEDGER_KMS_MAC_KEY_ID go together: set both or neither');
  if (e.LEDGER_OBJECT_LOCK_MODE !== 'NONE' && e.LEDGER_OBJECT_LOCK_YEARS === undefined) throw new Error(`configuration: LEDGER_OBJECT_LOCK_YEARS: required when LEDGER_OBJECT_LOCK_MODE is ${e.LEDGER_OBJECT_LOCK_MODE}`);
  const objectLock = e.LEDGER_OBJECT_LOCK_MODE !== 'NONE' ? { mode: e.LEDGER_OBJECT_LOCK_MODE, years: e.LEDGER_OBJECT_LOCK_YEARS! } : undefined;
  const adapters = build({
    tableName: e.LEDGER_TABLE_NAME,
    bucketName: e.LEDGER_BUCKET_NAME,
    dynamodb: e.LEDGER_DYNAMODB_ENDPOINT ? { endpoint: e.LEDGER_DYNAMODB_ENDPOINT } : {},
    s3: e.LEDGER_S3_ENDPOINT ? { endpoint: e.LEDGER_S3_ENDPOINT, forcePathStyle: true } : {},
    keyring: e.LEDGER_KMS_KEY_ID && e.LEDGER_KMS_MAC_KEY_ID ? new KmsKeyring({ keyId: e.LEDGER_KMS_KEY_ID, macKeyId: e.LEDGER_KMS_MAC_KEY_ID }) : new NoKeys(),
  });
  return { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl: e.LEDGER_PUBLIC_BASE_URL.replace(/\/$/, ''), datasetName: e.LEDGER_DATASET_NAME, bucketName: e.LEDGER_BUCKET_NAME, ...(e.LEDGER_ATHENA_DATABASE ? { athenaDatabase: e.LEDGER_ATHENA_DATABASE } : {}) }, publishing: { maxDropShare: e.LEDGER_MAX_DROP_SHARE }, reviewPolicy: e.LEDGER_REVIEW_POLICY, ...(objectLock ? { objectLock } : {}) };
}

const cached = new Map<(settings: AdapterSettings) => StoreAdapters, StoreContext>();
/**
 * The context for Lambda entry points: built on first use, then shared by every invocation. Kept per
 * `build`: a Lambda process has one entry point, but a process that loads several (the tests) must not
 * hand one function the adapters another asked for.
 */
export function lambdaContext(): StoreContext;
export function lambdaContext<A extends StoreAdapters>(build: (settings: AdapterSettings) => A): A & ContextFacts;
export function lambdaContext(build: (settings: AdapterSettings) => StoreAdapters = createStoreAdapters): StoreContext {
  let ctx = cached.get(build);
  if (!ctx) cached.set(build, (ctx = contextFromEnv(process.env, build)));
  return ctx;
}
