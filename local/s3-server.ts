/**
 * The local S3 server: s3rver with the pieces of real S3 behaviour this project relies on.
 *
 * Run it as a child process, never in-process:
 *
 *   node --openssl-legacy-provider --import tsx local/s3-server.ts \
 *     --port 0 --directory .data/s3 --bucket public --bucket staging [--exit-with-stdin] [--remove-directory-on-exit]
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers through the
 * legacy provider; without the flag every truncated listing is a 500. Keeping the flag in this child
 * spares the rest of the application from running with it.
 *
 * Settings come from argv, else from LEDGER_S3_PORT, LEDGER_S3_DIRECTORY and LEDGER_S3_BUCKETS (comma
 * separated). One line `READY <port>` goes to stdout once the server listens; errors go to stderr.
 */
import { createHash, createCipheriv, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Server, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { fileURLToPath } from 'node:url';

/** Settings of one local S3 server. */
export interface S3ServerSettings {
  port: number;
  directory: string;
  buckets: string[];
  /** Exit when stdin closes: the parent died without being able to signal us. */
  exitWithStdin: boolean;
  /** Delete the directory on exit: it was a temporary one and the parent may not live to do it. */
  removeDirectoryOnExit: boolean;
}

// s3rver ships no types; these are the parts of its surface this file touches.
interface S3rverObject {
  bucket: string;
  key: string;
  content: Readable | Buffer | null;
  metadata: Record<string, string>;
}
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  existsObject(bucket: string, key: string): Promise<boolean>;
  getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  /** Resolves to the destination's metadata (as getMetadata). `replacementMetadata` is null for COPY. */
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacementMetadata: Record<string, string> | null): Promise<Record<string, string | number>>;
  /** `parts` as the CompleteMultipartUpload body lists them, ETags without quotes; `md5` becomes the ETag. */
  putObjectMultipart(bucket: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<{ size: number; md5: string }>;
}
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  req: IncomingMessage;
  status: number;
  body?: unknown;
  set(field: string, value: string): void;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverInstance {
  middleware: KoaMiddleware[];
  store: S3rverStore;
  httpServer?: Server;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'error', listener: (err: Error & { status?: number }) => void): void;
}
interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  vhostBuckets: boolean;
  allowMismatchedSignatures: boolean;
  configureBuckets: { name: string }[];
}
type S3ErrorConstructor = new (code: string, message?: string, detail?: Record<string, string | number>) => Error;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: S3rverOptions) => S3rverInstance;
// s3rver's own error type, so that its context.onerror renders our refusals as S3 XML error bodies.
const S3Error = require('s3rver/lib/models/error.js') as S3ErrorConstructor;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The message every refused aws-chunked upload carries; tests and callers may match on it. */
export const AWS_CHUNKED_REFUSAL =
  "aws-chunked uploads are not supported by the local S3 server (it would store the chunk framing inside the object): create the S3 client with requestChecksumCalculation: 'WHEN_REQUIRED' and responseChecksumValidation: 'WHEN_REQUIRED' (see s3ClientConfig in local/services.ts).";

/**
 * Reads the server settings from argv, falling back to environment variables.
 * @param argv - the arguments after the script name
 * @param env - the environment to fall back on
 * @returns the settings, or throws an Error saying which one is wrong
 */
export function parseS3ServerSettings(argv: readonly string[], env: NodeJS.ProcessEnv): S3ServerSettings {
  let port: string | undefined = env['LEDGER_S3_PORT'];
  let directory: string | undefined = env['LEDGER_S3_DIRECTORY'];
  const buckets: string[] = [];
  let exitWithStdin = false;
  let removeDirectoryOnExit = false;
  const envBuckets = env['LEDGER_S3_BUCKETS'];
  let argvBuckets = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port':
        port = value();
        break;
      case '--directory':
        directory = value();
        break;
      case '--bucket':
      case '--buckets':
        argvBuckets = true;
        buckets.push(...splitList(value()));
        break;
      case '--exit-with-stdin':
        exitWithStdin = true;
        break;
      case '--remove-directory-on-exit':
        removeDirectoryOnExit = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!argvBuckets && envBuckets) buckets.push(...splitList(envBuckets));
  const portNumber = port === undefined || port === '' ? 0 : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) throw new Error(`invalid port ${port}`);
  if (!directory) throw new Error('--directory (or LEDGER_S3_DIRECTORY) is required');
  for (const bucket of buckets) {
    // Bucket names become directory names: refuse anything S3 itself would refuse.
    if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) throw new Error(`invalid bucket name "${bucket}"`);
  }
  return { port: portNumber, directory: resolve(directory), buckets: [...new Set(buckets)], exitWithStdin, removeDirectoryOnExit };
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function header(ctx: KoaContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Bucket and key of a path-style object URL, decoded the way s3rver's router decodes them. */
function objectAddress(path: string): { bucket: string; key: string } | undefined {
  const slash = path.indexOf('/', 1);
  if (!path.startsWith('/') || slash === -1 || slash === path.length - 1) return undefined;
  try {
    return { bucket: decodeURIComponent(path.slice(1, slash)), key: decodeURIComponent(path.slice(slash + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * A per-key mutex: callers for the same key run one after another, in arrival order.
 */
function createKeyLocks(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<void>>();
  return async (key, fn) => {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // Only the last waiter may drop the entry, or a later arrival would skip the queue.
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/**
 * Consumes the rest of a request body so an early error reaches clients that are still sending,
 * instead of them seeing EPIPE/ECONNRESET.
 */
async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  req.resume();
  await finished(req).catch(() => undefined);
}

const has = (query: KoaContext['query'], name: string): boolean => Object.prototype.hasOwnProperty.call(query, name);

/** What an object-level request does to the object's bytes, from S3's point of view. */
function classify(ctx: KoaContext): 'write' | 'delete' | 'other' {
  const q = ctx.query;
  switch (ctx.method) {
    case 'PUT':
      // PutObject and CopyObject; parts, tagging and ACLs leave the object's bytes alone.
      return ['uploadId', 'partNumber', 'tagging', 'acl', 'retention', 'legal-hold'].some((p) => has(q, p)) ? 'other' : 'write';
    case 'POST':
      // CompleteMultipartUpload is the moment a multipart object appears.
      return has(q, 'uploadId') ? 'write' : 'other';
    case 'DELETE':
      return has(q, 'uploadId') || has(q, 'tagging') ? 'other' : 'delete';
    default:
      return 'other';
  }
}

/**
 * The middleware that goes in front of s3rver's own: refuses aws-chunked bodies, makes object writes
 * to one key linearizable, implements `If-None-Match: *` (create only) and `If-Match: <etag>` on
 * PutObject, CopyObject and CompleteMultipartUpload like S3 does, and AbortMultipartUpload.
 */
/** A request signed with SigV4 (or V2), in its Authorization header or as a presigned URL. */
function isSigned(ctx: KoaContext): boolean {
  const auth = header(ctx, 'authorization') ?? '';
  return /^(AWS4-HMAC-SHA256|AWS) /.test(auth) || has(ctx.query, 'X-Amz-Signature') || has(ctx.query, 'Signature');
}

export function createS3Guard(store: S3rverStore): KoaMiddleware {
  const withKeyLock = createKeyLocks();
  return async function s3Guard(ctx, next) {
    if (ctx.method === 'PUT' || ctx.method === 'POST') {
      const encoding = (header(ctx, 'content-encoding') ?? '').toLowerCase();
      const sha = header(ctx, 'x-amz-content-sha256') ?? '';
      if (encoding.split(',').some((e) => e.trim() === 'aws-chunked') || sha.startsWith('STREAMING-') || header(ctx, 'x-amz-decoded-content-length') !== undefined) {
        await drain(ctx.req);
        throw new S3Error('InvalidRequest', AWS_CHUNKED_REFUSAL);
      }
    }

    // Like the public bucket: anyone may read and list, only signed requests may change anything
    // (s3rver then checks the signature against its credentials). A local user cannot rewrite a release.
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.method !== 'OPTIONS' && !isSigned(ctx)) {
      await drain(ctx.req);
      throw new S3Error('AccessDenied', 'Anonymous writes and deletes are refused: sign the request (the local credentials are S3RVER / S3RVER)');
    }
    const address = objectAddress(ctx.path);
    if (!address && ctx.method === 'POST' && has(ctx.query, 'delete')) {
      // DeleteObjects would delete locked objects (s3rver knows nothing of Object Lock); nothing here uses it.
      await drain(ctx.req);
      throw new S3Error('NotImplemented', 'DeleteObjects is not supported by the local S3 server (it could not honour Object Lock): delete objects one by one', { Header: 'delete' });
    }
    if (address && has(ctx.query, 'retention') && ctx.method === 'GET') return getRetention(ctx, next, store, address);
    if ((ctx.method === 'GET' || ctx.method === 'HEAD') && address) {
      await rewriteSuffixRange(ctx, store, address);
      await next();
      if (ctx.status === 200 || ctx.status === 206) await addRetentionHeaders(ctx, store, address);
      return;
    }
    if (!address) return next();
    const lockKey = `${address.bucket}/${address.key}`;
    if (has(ctx.query, 'retention') && ctx.method === 'PUT') return withKeyLock(lockKey, () => putRetention(ctx, next, store, address));

    if (has(ctx.query, 'uploadId')) {
      // s3rver would create a fresh upload directory for a part of an unknown (or aborted) upload.
      const uploadDir = await existingUpload(store, address, ctx.query['uploadId']);
      if (!uploadDir) {
        await drain(ctx.req);
        throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: String(ctx.query['uploadId']) });
      }
      if (ctx.method === 'DELETE') return withKeyLock(lockKey, () => abortUpload(ctx, next, uploadDir));
    }

    const kind = classify(ctx);
    if (kind === 'other') return next();

    const ifNoneMatch = header(ctx, 'if-none-match');
    const ifMatch = header(ctx, 'if-match');
    if (kind === 'write' && ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
      await drain(ctx.req);
      throw new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'If-None-Match' });
    }

    // Every write and delete of a key takes its lock, so an unconditional PUT cannot slip between a
    // conditional write's check and its write.
    await withKeyLock(lockKey, async () => {
      if (kind === 'write') {
        const failed =
          ifNoneMatch !== undefined && (await store.existsObject(address.bucket, address.key))
            ? 'If-None-Match'
            : ifMatch !== undefined && !etagMatches(ifMatch, await currentETag(store, address))
              ? 'If-Match'
              : undefined;
        if (failed) {
          await drain(ctx.req);
          throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: failed });
        }
      }
      await refuseIfLocked(ctx, store, address, kind);
      await next();
    });
  };
}

/**
 * S3 Object Lock retention, which s3rver lacks, kept in a file beside the object's. Like S3: PutObjectRetention
 * (with a Content-MD5 or x-amz-checksum-* header, checked) sets it, may lengthen it, and may shorten it or
 * change its mode only in GOVERNANCE mode with `x-amz-bypass-governance-retention: true`; GetObjectRetention
 * and HEAD/GET tell it; a locked object cannot be deleted (GOVERNANCE: unless bypassed; COMPLIANCE: by
 * nobody) until the date has passed. Unlike S3, this server keeps one version per key: where S3 would
 * add a delete marker or a new version and keep the locked one, it refuses (AccessDenied) a delete or an
 * overwrite of a locked object, without a version id or with one. The IAM side (who holds
 * s3:BypassGovernanceRetention) is the stack's: every signed caller here is trusted with the header.
 */
interface StoredRetention {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  /** ISO 8601, as S3 answers it. */
  until: string;
}

const retentionPath = (store: S3rverStore, address: { bucket: string; key: string }) => store.getResourcePath(address.bucket, address.key, 'retention.json');

async function readRetention(store: S3rverStore, address: { bucket: string; key: string }): Promise<StoredRetention | undefined> {
  const text = await readFile(retentionPath(store, address), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : (JSON.parse(text) as StoredRetention);
}

/** The retention of the object if it still holds now. */
async function activeRetention(store: S3rverStore, address: { bucket: string; key: string }): Promise<StoredRetention | undefined> {
  const r = await readRetention(store, address);
  return r && Date.parse(r.until) > Date.now() ? r : undefined;
}

const bypassesGovernance = (ctx: KoaContext) => (header(ctx, 'x-amz-bypass-governance-retention') ?? '').toLowerCase() === 'true';

/** Before a write or delete of `address`: refused while the object is locked; otherwise its lapsed retention goes with it. */
async function refuseIfLocked(ctx: KoaContext, store: S3rverStore, address: { bucket: string; key: string }, kind: 'write' | 'delete'): Promise<void> {
  const locked = await activeRetention(store, address);
  const bypassed = locked?.mode === 'GOVERNANCE' && kind === 'delete' && bypassesGovernance(ctx);
  if (locked && !bypassed) {
    await drain(ctx.req);
    throw new S3Error(
      'AccessDenied',
      `Access Denied: ${address.key} is locked (Object Lock ${locked.mode}) until ${locked.until}` + (kind === 'write' ? '; the local S3 server keeps one version per key, so it refuses to overwrite a locked object' : ''),
    );
  }
  // A new object (or none) has no retention of its own, as a new version in S3.
  await rm(retentionPath(store, address), { force: true });
}

/** Lets s3rver authenticate the request and check the bucket, then takes over where it would refuse the sub-resource. */
async function afterS3rverChecks(next: () => Promise<void>, refusal: string): Promise<void> {
  try {
    await next();
  } catch (err) {
    if ((err as { code?: unknown }).code !== refusal) throw err;
  }
}

async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      await drain(req);
      throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** S3 requires an integrity header on PutObjectRetention; the two the SDK and the CLI send are checked. */
function checkBodyDigest(ctx: KoaContext, body: Buffer): void {
  const md5 = header(ctx, 'content-md5');
  const crc = header(ctx, 'x-amz-checksum-crc32');
  const others = Object.keys(ctx.headers).filter((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-crc32' && h !== 'x-amz-checksum-type');
  if (md5 === undefined && crc === undefined && others.length === 0) {
    throw new S3Error('InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
  }
  if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  if (crc !== undefined) {
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(crc32(body));
    if (crc !== expected.toString('base64')) throw new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
  }
}

async function putRetention(ctx: KoaContext, next: () => Promise<void>, store: S3rverStore, address: { bucket: string; key: string }): Promise<void> {
  await afterS3rverChecks(next, 'MethodNotAllowed');
  const body = await readSmallBody(ctx.req, 64 * 1024);
  checkBodyDigest(ctx, body);
  const xml = body.toString('utf8');
  const mode = /<Mode>\s*(GOVERNANCE|COMPLIANCE)\s*<\/Mode>/.exec(xml)?.[1] as StoredRetention['mode'] | undefined;
  const untilText = /<RetainUntilDate>\s*([^<]+?)\s*<\/RetainUntilDate>/.exec(xml)?.[1];
  const until = untilText === undefined ? NaN : Date.parse(untilText);
  if (!mode || Number.isNaN(until)) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  if (until <= Date.now()) throw new S3Error('InvalidArgument', 'The retain until date must be in the future!', { ArgumentName: 'RetainUntilDate', ArgumentValue: untilText! });
  if (!(await store.existsObject(address.bucket, address.key))) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: address.key });
  const existing = await activeRetention(store, address);
  if (existing && (until < Date.parse(existing.until) || mode !== existing.mode) && !(existing.mode === 'GOVERNANCE' && bypassesGovernance(ctx))) {
    throw new S3Error('AccessDenied', `Access Denied: ${address.key} is locked (Object Lock ${existing.mode}) until ${existing.until}; its retention can be lengthened, not shortened or changed`);
  }
  const path = retentionPath(store, address);
  const temporary = `${path}.${randomUUID()}.partial`;
  await writeFile(temporary, JSON.stringify({ mode, until: new Date(until).toISOString() } satisfies StoredRetention));
  await rename(temporary, path);
  ctx.status = 200;
  ctx.body = '';
}

async function getRetention(ctx: KoaContext, next: () => Promise<void>, store: S3rverStore, address: { bucket: string; key: string }): Promise<void> {
  await afterS3rverChecks(next, 'NotImplemented');
  if (!(await store.existsObject(address.bucket, address.key))) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: address.key });
  const r = await readRetention(store, address);
  if (!r) {
    const err = new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
    Object.assign(err, { status: 404, expose: true });
    throw err;
  }
  ctx.set('Content-Type', 'application/xml');
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>${r.mode}</Mode><RetainUntilDate>${r.until}</RetainUntilDate></Retention>`;
}

/** HEAD and GET of a locked object tell its lock, as S3 does for callers allowed to read it. */
async function addRetentionHeaders(ctx: KoaContext, store: S3rverStore, address: { bucket: string; key: string }): Promise<void> {
  const r = await readRetention(store, address);
  if (!r) return;
  ctx.set('x-amz-object-lock-mode', r.mode);
  ctx.set('x-amz-object-lock-retain-until-date', r.until);
}

/** The object's ETag as s3rver reports it (quoted), or undefined when there is no object. */
async function currentETag(store: S3rverStore, address: { bucket: string; key: string }): Promise<string | undefined> {
  try {
    return String((await store.getMetadata(address.bucket, address.key))['etag']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** RFC 7232 If-Match: `*` or a list of ETags, each taken with or without its quotes. */
function etagMatches(ifMatch: string, etag: string | undefined): boolean {
  if (etag === undefined) return false;
  const unquote = (t: string): string => t.trim().replace(/^"(.*)"$/, '$1');
  return ifMatch.split(',').some((t) => t.trim() === '*' || unquote(t) === unquote(etag));
}

function uploadDirectory(store: S3rverStore, bucket: string, uploadId: string): string {
  return join(store.getResourcePath(bucket, '', 'uploads'), uploadId);
}

/** The directory of an upload in progress for this key, or undefined when there is none. */
async function existingUpload(store: S3rverStore, address: { bucket: string; key: string }, uploadId: string | string[] | undefined): Promise<string | undefined> {
  // s3rver's ids are 32 hex digits; anything else must not reach a path.
  if (typeof uploadId !== 'string' || !/^[0-9a-f]{32}$/.test(uploadId)) return undefined;
  const dir = uploadDirectory(store, address.bucket, uploadId);
  const key = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
  return key === address.key ? dir : undefined;
}

/**
 * AbortMultipartUpload, which s3rver 3.7.1 lacks: its router authenticates the request and checks the
 * bucket, then answers 405. Let it do the first two and replace only the 405.
 */
async function abortUpload(ctx: KoaContext, next: () => Promise<void>, uploadDir: string): Promise<void> {
  try {
    await next();
    return;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'MethodNotAllowed') throw err;
  }
  await rm(uploadDir, { recursive: true, force: true });
  ctx.status = 204;
}

/**
 * s3rver reads `Range: bytes=-N` as "the first N+1 bytes"; S3 (RFC 7233) means "the last N bytes".
 * Parquet readers ask for the footer exactly that way, so translate it into an explicit range.
 */
async function rewriteSuffixRange(ctx: KoaContext, store: S3rverStore, address: { bucket: string; key: string }): Promise<void> {
  const match = /^bytes=-(\d+)$/.exec((header(ctx, 'range') ?? '').trim());
  if (!match) return;
  const metadata = await store.getMetadata(address.bucket, address.key).catch(() => undefined);
  if (!metadata) return; // s3rver answers NoSuchKey itself
  const size = Number(metadata['content-length']);
  const suffix = Number(match[1]);
  if (suffix === 0 || size === 0) {
    ctx.headers['range'] = `bytes=${size}-`; // unsatisfiable, as in S3
    return;
  }
  ctx.headers['range'] = `bytes=${Math.max(0, size - suffix)}-${size - 1}`;
}

/**
 * Replaces s3rver's FilesystemStore.putObject, which resolves before the bytes reach the disk, ignores
 * write errors (an unhandled 'error' crashes the server) and truncates the live file in place (a reader
 * can see half an object). This one writes a temporary file, waits for it to be closed, then renames it
 * over the object: the per-key lock really covers the whole write and readers see old or new, never half.
 */
export function makeAtomicPutObject(store: S3rverStore): S3rverStore['putObject'] {
  return (object) => writeObjectAtomically(store, object);
}

/**
 * Writes an object as {@link makeAtomicPutObject} describes; `etag` (unquoted) replaces the MD5 of the
 * bytes as the object's ETag, as S3 does for multipart objects.
 */
async function writeObjectAtomically(store: S3rverStore, object: S3rverObject, etag?: string): Promise<{ size: number; md5: string }> {
  const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  // The suffix keeps listings blind to it: s3rver only lists files ending in "._S3rver_object".
  const temporary = `${objectPath}.${randomUUID()}.partial`;
  const md5 = createHash('md5');
  let size = 0;
  try {
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      await writeFile(temporary, object.content);
    } else if (object.content) {
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      await pipeline(object.content, measure, createWriteStream(temporary));
    } else {
      await writeFile(temporary, Buffer.alloc(0));
    }
    const digest = etag ?? md5.digest('hex');
    // Metadata first: a new key stays invisible (no object file) until its bytes are complete.
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    await rename(temporary, objectPath);
    return { size, md5: digest };
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/**
 * Replaces s3rver's copyObject, which copies over the live file in place and, with
 * `MetadataDirective: REPLACE`, keeps the destination's old MD5 file: the copy would carry the ETag of
 * the object it replaced. This one copies atomically, like {@link makeAtomicPutObject}, with the ETag
 * of the bytes copied.
 */
export function makeAtomicCopyObject(store: S3rverStore): S3rverStore['copyObject'] {
  return async (srcBucket, srcKey, destBucket, destKey, replacementMetadata) => {
    const metadata =
      replacementMetadata ??
      (JSON.parse(await readFile(store.getResourcePath(srcBucket, srcKey, 'metadata.json'), 'utf8').catch(() => '{}')) as Record<string, string>);
    const content = createReadStream(store.getResourcePath(srcBucket, srcKey, 'object'));
    await writeObjectAtomically(store, { bucket: destBucket, key: destKey, content, metadata });
    return store.getMetadata(destBucket, destKey);
  };
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

/**
 * Replaces s3rver's putObjectMultipart, which checks nothing and dies on a part that was never uploaded
 * (the read error is an unhandled 'error' event: an uncaught exception in the server). Like S3 this one refuses parts out of order,
 * parts that were not uploaded or whose ETag differs (InvalidPart) and parts below 5 MiB but the last
 * (EntityTooSmall); it writes atomically and gives the object S3's multipart ETag: the MD5 of the
 * parts' binary MD5s, then `-` and the number of parts.
 */
export function makeAtomicPutObjectMultipart(store: S3rverStore): S3rverStore['putObjectMultipart'] {
  return async (bucket, uploadId, parts) => {
    const uploadDir = uploadDirectory(store, bucket, uploadId);
    const [key, metadata] = await Promise.all([
      readFile(join(uploadDir, 'key'), 'utf8'),
      readFile(join(uploadDir, 'metadata'), 'utf8').then((m) => JSON.parse(m) as Record<string, string>),
    ]).catch(() => {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
    });
    const paths: string[] = [];
    const digests: Buffer[] = [];
    for (const [i, part] of parts.entries()) {
      if (!Number.isInteger(part.number) || part.number < 1 || (i > 0 && part.number <= parts[i - 1]!.number)) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
      }
      const path = join(uploadDir, String(part.number));
      const [md5, size] = await Promise.all([readFile(`${path}.md5`, 'utf8').catch(() => undefined), stat(path).then((s) => s.size, () => undefined)]);
      if (md5 === undefined || size === undefined || md5 !== part.etag) {
        throw new S3Error('InvalidPart', "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.", { PartNumber: part.number, ETag: part.etag });
      }
      if (size < MIN_PART_SIZE && i < parts.length - 1) {
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { PartNumber: part.number, ProposedSize: size, MinSizeAllowed: MIN_PART_SIZE });
      }
      paths.push(path);
      digests.push(Buffer.from(md5, 'hex'));
    }
    const etag = `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${parts.length}`;
    const content = Readable.from(
      (async function* () {
        for (const path of paths) yield* createReadStream(path);
      })(),
    );
    const result = await writeObjectAtomically(store, { bucket, key, content, metadata }, etag);
    await rm(uploadDir, { recursive: true, force: true });
    return result;
  };
}

/**
 * Starts the local S3 server and resolves once it listens.
 * @param settings - port (0 = any free one), data directory and buckets to create
 * @returns the running s3rver instance and the port it listens on
 */
export async function startS3Server(settings: S3ServerSettings): Promise<{ server: S3rverInstance; port: number }> {
  // Fail at start, with the fix, rather than with a 500 on the first truncated listing.
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    throw new Error('s3rver needs the legacy OpenSSL provider: run this script with `node --openssl-legacy-provider`.');
  }
  await mkdir(settings.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: settings.port,
    directory: settings.directory,
    silent: true,
    // Path-style only: a hostname like "myhost.local" must not be taken for a bucket.
    vhostBuckets: false,
    allowMismatchedSignatures: false,
    configureBuckets: settings.buckets.map((name) => ({ name })),
  });
  server.store.putObject = makeAtomicPutObject(server.store);
  server.store.copyObject = makeAtomicCopyObject(server.store);
  server.store.putObjectMultipart = makeAtomicPutObjectMultipart(server.store);
  // Koa composes `middleware` when the server starts listening, so this lands in front of s3rver's own.
  server.middleware.unshift(createS3Guard(server.store));
  // s3rver sets Koa's `silent`, which would hide 500s too; the parent keeps our stderr for diagnostics.
  server.on('error', (err) => {
    if ((err.status ?? 500) >= 500) process.stderr.write(`s3-server: ${err.stack ?? String(err)}\n`);
  });
  const address = await server.run();
  return { server, port: address.port };
}

async function main(): Promise<void> {
  let settings: S3ServerSettings;
  try {
    settings = parseS3ServerSettings(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`s3-server: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const { server, port } = await startS3Server(settings);

  let stopping = false;
  const exit = (): never => {
    if (settings.removeDirectoryOnExit) rmSync(settings.directory, { recursive: true, force: true });
    process.exit(0);
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Idle keep-alive sockets would hold close() open; give in-flight requests a moment, then go.
    const force = setTimeout(exit, 2000);
    force.unref();
    server.httpServer?.closeIdleConnections();
    server.close().then(exit, exit);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (settings.exitWithStdin) {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
  process.stdout.write(`READY ${port}\n`);
}

// Only when run as a script: tests import the pieces above.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`s3-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
