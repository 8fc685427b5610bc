// The table's adapters and the public bucket's: what GET /health needs, without DuckDB's builder or the publisher.
import { S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore } from '../pipeline/ports.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { CLIENT_TIMEOUTS, createStoreAdapters, retriesButNotTimeouts, type AdapterSettings, type ClientTimeouts, type StoreAdapters } from './store-adapters.ts';

/** The table's adapters and the bucket's. */
export interface BucketAdapters extends StoreAdapters {
  objects: ObjectStore;
  s3: S3Client;
}

/** {@link createStoreAdapters} and the bucket, through an S3 client with {@link CLIENT_TIMEOUTS} (or the settings' own). */
export function createBucketAdapters(settings: AdapterSettings): BucketAdapters {
  const s3 = s3Client(settings, { ...CLIENT_TIMEOUTS, ...settings.timeouts });
  return { ...createStoreAdapters(settings), objects: new S3ObjectStore(s3, settings.bucketName), s3 };
}

/** An S3 client bounded by `t` (see {@link ClientTimeouts}), pointed where the settings say. */
export function s3Client(settings: AdapterSettings, t: ClientTimeouts): S3Client {
  // WHEN_REQUIRED: no aws-chunked streaming uploads (the local S3 server would store their framing).
  // An idle-socket bound, not a whole-request one: a release's multipart upload may take minutes.
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: t.maxAttempts,
    retryStrategy: retriesButNotTimeouts(t.maxAttempts),
    requestHandler: { connectionTimeout: t.connectionMs, socketTimeout: t.s3SocketIdleMs },
    ...(settings.s3 ?? {}),
  });
}
