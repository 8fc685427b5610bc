import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3ServiceException,
  UploadPartCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectChangedError, ObjectExistsError, type ObjectInfo, type ObjectRetention, type ObjectStore, type PutOptions } from '../pipeline/ports.ts';

const MiB = 1024 * 1024;
/** S3's smallest part, except the last. */
const MIN_PART_SIZE = 5 * MiB;
/** S3's largest number of parts in one upload. */
const MAX_PARTS = 10_000;

/** How {@link S3ObjectStore} uploads files and lists keys; every field has a default. */
export interface S3ObjectStoreOptions {
  /** Files of at least this many bytes are uploaded in parts (default 16 MiB). */
  multipartThreshold?: number;
  /** Bytes per part, at least 5 MiB (default 8 MiB); raised when a file would need more than 10 000 parts. */
  partSize?: number;
  /** Parts uploaded at once (default 4). */
  partConcurrency?: number;
  /** Keys per ListObjectsV2 page (default: S3's own, 1000). */
  listPageSize?: number;
}

/** ObjectStore on S3 (or the local S3-compatible server). */
export class S3ObjectStore implements ObjectStore {
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly listPageSize: number | undefined;

  /**
   * @param s3 - a client created with `requestChecksumCalculation: 'WHEN_REQUIRED'` (see adapters.ts):
   *   file bodies are streamed, and the local S3 server refuses them aws-chunked
   */
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    options: S3ObjectStoreOptions = {},
  ) {
    this.multipartThreshold = options.multipartThreshold ?? 16 * MiB;
    this.partSize = options.partSize ?? 8 * MiB;
    this.partConcurrency = options.partConcurrency ?? 4;
    this.listPageSize = options.listPageSize;
    if (!(this.partSize >= MIN_PART_SIZE)) throw new Error(`partSize must be at least ${MIN_PART_SIZE} bytes (S3's minimum part size), not ${this.partSize}`);
    if (!(this.multipartThreshold >= 1)) throw new Error(`multipartThreshold must be at least 1 byte, not ${this.multipartThreshold}`);
    if (!(Number.isInteger(this.partConcurrency) && this.partConcurrency >= 1)) throw new Error(`partConcurrency must be a positive integer, not ${this.partConcurrency}`);
  }

  async put(key: string, body: Uint8Array, opts: PutOptions): Promise<void> {
    checkConditions(opts);
    try {
      await this.s3.send(new PutObjectCommand({ ...this.target(key, opts), Body: body, ContentLength: body.byteLength }));
    } catch (err) {
      throw this.writeError(err, key, opts);
    }
  }

  async putFile(key: string, path: string, opts: PutOptions): Promise<void> {
    checkConditions(opts);
    const { size } = await stat(path);
    if (size >= this.multipartThreshold) return this.putFileInParts(key, path, size, opts);
    const body = createReadStream(path);
    try {
      // ContentLength lets the SDK send the stream as is (no aws-chunked encoding, no buffering).
      await this.s3.send(new PutObjectCommand({ ...this.target(key, opts), Body: body, ContentLength: size }));
    } catch (err) {
      throw this.writeError(err, key, opts);
    } finally {
      body.destroy(); // a request that failed before reading it would leave the file open
    }
  }

  private async putFileInParts(key: string, path: string, size: number, opts: PutOptions): Promise<void> {
    const partSize = Math.max(this.partSize, Math.ceil(size / MAX_PARTS));
    const count = Math.ceil(size / partSize);
    const { ContentType, CacheControl, ContentEncoding } = this.target(key, opts);
    const created = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType, CacheControl, ContentEncoding }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 started no multipart upload for s3://${this.bucket}/${key}`);
    try {
      const etags: string[] = [];
      let next = 0;
      let failed = false;
      const uploadParts = async (): Promise<void> => {
        while (!failed && next < count) {
          const index = next++;
          const start = index * partSize;
          const end = Math.min(size, start + partSize) - 1;
          const body = createReadStream(path, { start, end });
          try {
            const out = await this.s3.send(
              new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, Body: body, ContentLength: end - start + 1 }),
            );
            if (!out.ETag) throw new Error(`S3 returned no ETag for part ${index + 1} of s3://${this.bucket}/${key}`);
            etags[index] = out.ETag;
          } catch (err) {
            failed = true;
            throw err;
          } finally {
            body.destroy();
          }
        }
      };
      // Settle every worker before aborting: a part still in flight could outlive the abort.
      const results = await Promise.allSettled(Array.from({ length: Math.min(this.partConcurrency, count) }, uploadParts));
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          IfNoneMatch: opts.ifNoneMatch ? '*' : undefined,
          IfMatch: opts.ifMatch,
        }),
      );
    } catch (err) {
      // Best effort: an upload left behind only costs storage until the bucket lifecycle aborts it (1 day).
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw this.writeError(err, key, opts);
    }
  }

  async copy(fromKey: string, toKey: string, opts: PutOptions): Promise<void> {
    // S3 takes If-None-Match/If-Match on CopyObject too, but no use case needs them: refused rather
    // than silently dropped, so that nobody believes a copy was conditional.
    if (opts.ifNoneMatch || opts.ifMatch !== undefined) throw new Error(`conditional copies are not supported (copy of ${fromKey} to ${toKey})`);
    const source = `${this.bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`;
    await this.s3.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: toKey,
        CopySource: source,
        MetadataDirective: 'REPLACE',
        ContentType: opts.contentType,
        CacheControl: opts.cacheControl,
        ContentEncoding: opts.contentEncoding,
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const out = await this.getObject(key);
    if (!out) return undefined;
    return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
  }

  async getWithTag(key: string): Promise<{ body: Uint8Array; etag: string } | undefined> {
    const out = await this.getObject(key);
    if (!out) return undefined;
    if (!out.ETag) throw new Error(`S3 returned no ETag for s3://${this.bucket}/${key}`);
    return { body: out.Body ? await out.Body.transformToByteArray() : new Uint8Array(), etag: out.ETag };
  }

  async download(key: string, path: string): Promise<boolean> {
    const out = await this.getObject(key);
    if (!out) return false;
    if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no readable body for s3://${this.bucket}/${key}`);
    const partial = `${path}.part`;
    try {
      await pipeline(out.Body, createWriteStream(partial));
      // Only a complete download ever has the final name.
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    return true;
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.listPageSize }));
      for (const o of out.Contents ?? []) {
        if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async *listFolders(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token, MaxKeys: this.listPageSize }),
      );
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix) yield p.Prefix;
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async retain(key: string, retention: ObjectRetention): Promise<void> {
    // S3 wants a checksum of this request's body: the SDK adds one (x-amz-checksum-crc32) even with
    // requestChecksumCalculation WHEN_REQUIRED, because PutObjectRetention requires it. No VersionId: the
    // current version, which for a release object is its only one (written with If-None-Match).
    await this.s3.send(new PutObjectRetentionCommand({ Bucket: this.bucket, Key: key, Retention: { Mode: retention.mode, RetainUntilDate: retention.until } }));
  }

  async ping(): Promise<void> {
    await this.s3.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  private target(key: string, opts: PutOptions) {
    return {
      Bucket: this.bucket,
      Key: key,
      ContentType: opts.contentType,
      CacheControl: opts.cacheControl,
      ContentEncoding: opts.contentEncoding,
      IfNoneMatch: opts.ifNoneMatch ? '*' : undefined,
      IfMatch: opts.ifMatch,
    };
  }

  private async getObject(key: string): Promise<GetObjectCommandOutput | undefined> {
    try {
      return await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (err instanceof NoSuchKey || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404 && err.name !== 'NoSuchBucket')) return undefined;
      throw err;
    }
  }

  /** The port's error for a failed condition; any other error unchanged. */
  private writeError(err: unknown, key: string, opts: PutOptions): unknown {
    if (!(err instanceof S3ServiceException)) return err;
    const status = err.$metadata.httpStatusCode;
    const preconditionFailed = status === 412 || err.name === 'PreconditionFailed';
    if (opts.ifNoneMatch && preconditionFailed) {
      return new ObjectExistsError(`s3://${this.bucket}/${key} exists already and is never overwritten`, { cause: err });
    }
    if (opts.ifMatch !== undefined) {
      // 404: the object is gone. 409 ConditionalRequestConflict: another write raced this one; S3's
      // advice is to read the ETag again, which is what ObjectChangedError asks of the caller.
      const vanished = status === 404 && err.name !== 'NoSuchBucket' && err.name !== 'NoSuchUpload';
      if (preconditionFailed || vanished || status === 409) {
        return new ObjectChangedError(`s3://${this.bucket}/${key} is no longer the version with ETag ${opts.ifMatch}`, { cause: err });
      }
    }
    return err;
  }
}

function checkConditions(opts: PutOptions): void {
  // Each failure maps to one error: with both, a 412 could not say which condition failed.
  if (opts.ifNoneMatch && opts.ifMatch !== undefined) throw new Error('ifNoneMatch and ifMatch cannot be combined');
}
