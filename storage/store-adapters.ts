// The adapters of the table alone: what every API function needs. No S3 client, no DuckDB (storage/adapters.ts adds
// them for the functions that read or write the bucket), so the API bundles that never touch the bucket do not carry them.
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { ChangeLog, Clock, KeyStore, LeaseStore, RecordListing, RecordStore, ReleaseStateStore } from '../pipeline/ports.ts';
import { systemClock } from '../pipeline/ports.ts';
import { EnvelopeSealer, type KeyEncryptionKeys } from '../pipeline/sealing.ts';
import { DynamoDbChangeLog } from './dynamodb-change-log.ts';
import { DynamoDbKeyStore } from './dynamodb-key-store.ts';
import { DynamoDbLeaseStore } from './dynamodb-lease-store.ts';
import { DynamoDbRecordStore } from './dynamodb-record-store.ts';
import { DynamoDbReleaseStateStore } from './dynamodb-release-state.ts';
import { documentClient } from './dynamodb-table.ts';
import { ephemeralKeyring } from './kek-local.ts';

/** Where the adapters point: AWS by default, the local servers when endpoints are given. */
export interface AdapterSettings {
  tableName: string;
  bucketName: string;
  dynamodb?: DynamoDBClientConfig;
  s3?: S3ClientConfig;
  /** DuckDB's memory_limit while building a release (default 1GB); it spills to disk beyond it. */
  duckdbMemoryLimit?: string;
  /**
   * The deployment's key-encryption keys (KMS in AWS, the local master keys on one machine). Absent: a
   * key that lives as long as the process, for tests and benchmarks only.
   */
  keyring?: KeyEncryptionKeys;
  /** Client timeouts and attempts; defaults: {@link CLIENT_TIMEOUTS}. */
  timeouts?: Partial<ClientTimeouts>;
  /** The publisher's; defaults: {@link PUBLISHER_TIMEOUTS}. */
  publisherTimeouts?: Partial<ClientTimeouts>;
}

/**
 * How long a store may stay silent before a request gives up on it. Without these the SDK waits for
 * ever on a stopped server (issue 8). A timeout is never retried (see {@link retriesButNotTimeouts}),
 * so an outage answers 503 after one timeout plus the short back-offs of refused connections: under 5 s.
 */
export interface ClientTimeouts {
  /** TCP connect (both clients). */
  connectionMs: number;
  /** DynamoDB: a whole request and its response (thrown, not just warned: throwOnRequestTimeout). */
  dynamodbRequestMs: number;
  /** S3: the socket may be idle this long; a long upload that keeps sending bytes is not cut. */
  s3SocketIdleMs: number;
  /** Attempts per call, the first included, for throttling, 5xx and refused or reset connections. */
  maxAttempts: number;
}

export const CLIENT_TIMEOUTS: ClientTimeouts = { connectionMs: 1_000, dynamodbRequestMs: 4_000, s3SocketIdleMs: 4_000, maxAttempts: 3 };

/**
 * The publisher's: a batch job that answers nobody within seconds, whose requests are pages of a Scan
 * or a Query, batches of 100 keys and multipart uploads. A slow page is waited for (a loaded DynamoDB
 * Local took over 4 s per Scan page in the benchmark), a dead store still ends it within minutes.
 */
export const PUBLISHER_TIMEOUTS: ClientTimeouts = { connectionMs: 3_000, dynamodbRequestMs: 60_000, s3SocketIdleMs: 60_000, maxAttempts: 3 };

/** Longest back-off between two attempts (ms): with 3 attempts, at most 2 × this is spent waiting. */
export const MAX_BACKOFF_MS = 250;

/**
 * The SDK's retry, bounded in time: throttling, 5xx and refused or reset connections are tried again
 * after a short jittered back-off, up to `maxAttempts`; a timeout is not (one silent wait already spent
 * the budget, and a second would only double the client's wait for its 503); nor is a client error.
 */
export function retriesButNotTimeouts(maxAttempts: number): NonNullable<DynamoDBClientConfig['retryStrategy']> & NonNullable<S3ClientConfig['retryStrategy']> {
  const token = (count: number, delay: number) => ({ getRetryCount: () => count, getRetryDelay: () => delay });
  return {
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous: ReturnType<typeof token>, info: { errorType: string; error?: unknown }) => {
      const next = previous.getRetryCount() + 1;
      const timedOut = info.error instanceof Error && info.error.name === 'TimeoutError';
      if (next >= maxAttempts || timedOut || info.errorType === 'CLIENT_ERROR') throw info.error ?? new Error('not retried');
      return token(next, Math.min(MAX_BACKOFF_MS, 50 * 2 ** next) * (0.5 + Math.random() / 2));
    },
    recordSuccess: () => undefined,
  };
}

/** The ports that live in the table, and the sealer: what the API functions that never touch the bucket run on. */
export interface StoreAdapters {
  records: RecordStore;
  /** The listing behind GET /records (the same store, through its indexes). */
  listing: RecordListing;
  keys: KeyStore;
  leases: LeaseStore;
  releases: ReleaseStateStore;
  clock: Clock;
  changes: ChangeLog;
  /** Seals restricted values and withheld names, opens them for the views that show them, keys the hashes beside them. */
  sealer: EnvelopeSealer;
  dynamodb: DynamoDBClient;
  settings: AdapterSettings;
}

/** The table's adapters, through a client with {@link CLIENT_TIMEOUTS} (or the settings' own). */
export function createStoreAdapters(settings: AdapterSettings): StoreAdapters {
  const dynamodb = dynamodbClient(settings, { ...CLIENT_TIMEOUTS, ...settings.timeouts });
  const db = documentClient(dynamodb);
  const records = new DynamoDbRecordStore(db, settings.tableName);
  const sealer = new EnvelopeSealer(settings.keyring ?? ephemeralKeyring());
  return {
    records,
    listing: records,
    keys: new DynamoDbKeyStore(db, settings.tableName, (sha256) => sealer.apiKeyMac(sha256)),
    leases: new DynamoDbLeaseStore(db, settings.tableName),
    releases: new DynamoDbReleaseStateStore(db, settings.tableName),
    clock: systemClock,
    changes: new DynamoDbChangeLog(db, settings.tableName),
    sealer,
    dynamodb,
    settings,
  };
}

/** A DynamoDB client bounded by `t` (see {@link ClientTimeouts}), pointed where the settings say. */
export function dynamodbClient(settings: AdapterSettings, t: ClientTimeouts): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: t.maxAttempts,
    retryStrategy: retriesButNotTimeouts(t.maxAttempts),
    requestHandler: { connectionTimeout: t.connectionMs, requestTimeout: t.dynamodbRequestMs, throwOnRequestTimeout: true },
    ...(settings.dynamodb ?? {}),
  });
}
