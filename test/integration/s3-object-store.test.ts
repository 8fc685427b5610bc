import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { s3ClientConfig } from '../../local/services.ts';
import { ObjectChangedError, ObjectExistsError, type PutOptions } from '../../pipeline/ports.ts';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../../storage/s3-object-store.ts';

const MiB = 1024 * 1024;
const endpoint = inject('s3Endpoint');
const bucket = `store-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
// Small enough to make multipart cheap here, within S3's rules (parts of at least 5 MiB but the last).
const sizes: S3ObjectStoreOptions = { multipartThreshold: 6 * MiB, partSize: 5 * MiB };
const octets: PutOptions = { contentType: 'application/octet-stream' };

/** The commands each client sent, in order, recorded by an SDK middleware (the requests are real). */
function recordedClient(): { s3: S3Client; commands: string[] } {
  const s3 = new S3Client(s3ClientConfig(endpoint));
  const commands: string[] = [];
  s3.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { s3, commands };
}

const { s3, commands } = recordedClient();
const store = new S3ObjectStore(s3, bucket, sizes);
let dir: string;

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');

/** A file of random bytes in this file's temporary directory. */
async function randomFile(name: string, size: number): Promise<{ path: string; bytes: Buffer }> {
  const path = join(dir, name);
  const bytes = randomBytes(size);
  await writeFile(path, bytes);
  return { path, bytes };
}

/** The object as S3 answers a plain GetObject, independently of the store under test. */
async function stored(key: string): Promise<{ bytes: Buffer; etag: string; contentType?: string; cacheControl?: string; contentEncoding?: string }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: Buffer.from(await out.Body!.transformToByteArray()), etag: out.ETag!, contentType: out.ContentType, cacheControl: out.CacheControl, contentEncoding: out.ContentEncoding };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  dir = await mkdtemp(join(tmpdir(), 'rights-ledger-store-'));
});

beforeEach(() => {
  commands.length = 0;
});

afterAll(async () => {
  s3.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('S3ObjectStore on the local S3 server', () => {
  it('uploads a file below the threshold with one streamed PutObject, byte for byte, with its headers', async () => {
    const { path, bytes } = await randomFile('small.bin', 1 * MiB + 3);
    await store.putFile('files/small.bin', path, { contentType: 'application/vnd.apache.parquet', cacheControl: 'public, max-age=60', contentEncoding: 'identity' });

    expect(commands).toEqual(['PutObjectCommand']);
    const object = await stored('files/small.bin');
    expect(object.bytes.equals(bytes)).toBe(true);
    expect(object.etag).toBe(`"${md5(bytes)}"`);
    expect(object.contentType).toBe('application/vnd.apache.parquet');
    expect(object.cacheControl).toBe('public, max-age=60');
    expect(object.contentEncoding).toBe('identity');
  });

  it('uploads a file above the threshold in parts: three UploadParts, a multipart ETag, byte for byte', async () => {
    const { path, bytes } = await randomFile('large.bin', 13 * MiB + 123);
    await store.putFile('files/large.bin', path, { contentType: 'application/x-ndjson', cacheControl: 'no-cache', contentEncoding: 'gzip' });

    expect(commands.filter((c) => c !== 'UploadPartCommand')).toEqual(['CreateMultipartUploadCommand', 'CompleteMultipartUploadCommand']);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(3);
    const object = await stored('files/large.bin');
    expect(object.bytes.equals(bytes)).toBe(true);
    expect(object.etag).toMatch(/^"[0-9a-f]{32}-3"$/);
    expect(object.contentType).toBe('application/x-ndjson');
    expect(object.cacheControl).toBe('no-cache');
    expect(object.contentEncoding).toBe('gzip');
  });

  it('goes multipart at exactly the threshold and not one byte below it', async () => {
    const below = await randomFile('below.bin', 6 * MiB - 1);
    await store.putFile('files/below.bin', below.path, octets);
    expect(commands).toEqual(['PutObjectCommand']);

    commands.length = 0;
    const at = await randomFile('at.bin', 6 * MiB);
    await store.putFile('files/at.bin', at.path, octets);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(2);
    expect((await stored('files/at.bin')).bytes.equals(at.bytes)).toBe(true);
  });

  it('putFile with ifNoneMatch creates a new key, and on an existing one fails with ObjectExistsError, single or multipart, leaving it untouched', async () => {
    const first = await randomFile('first.bin', 7 * MiB);
    await store.putFile('files/immutable.bin', first.path, { ...octets, ifNoneMatch: true });
    const before = await stored('files/immutable.bin');
    expect(before.bytes.equals(first.bytes)).toBe(true);

    const small = await randomFile('other-small.bin', 1000);
    await expect(store.putFile('files/immutable.bin', small.path, { ...octets, ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    const large = await randomFile('other-large.bin', 13 * MiB);
    commands.length = 0;
    await expect(store.putFile('files/immutable.bin', large.path, { ...octets, ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect(commands.at(-1)).toBe('AbortMultipartUploadCommand');

    const after = await stored('files/immutable.bin');
    expect(after.bytes.equals(first.bytes)).toBe(true);
    expect(after.etag).toBe(before.etag);
  });

  it('put with ifMatch replaces the version it names, and fails with ObjectChangedError on a stale ETag or an absent key', async () => {
    await store.put('cas/catalog.json', Buffer.from('{"v":1}'), { contentType: 'application/json' });
    const v1 = await store.getWithTag('cas/catalog.json');
    await store.put('cas/catalog.json', Buffer.from('{"v":2}'), { contentType: 'application/json', ifMatch: v1!.etag });
    const v2 = await stored('cas/catalog.json');
    expect(v2.bytes.toString()).toBe('{"v":2}');

    await expect(store.put('cas/catalog.json', Buffer.from('{"v":3}'), { contentType: 'application/json', ifMatch: v1!.etag })).rejects.toBeInstanceOf(ObjectChangedError);
    const after = await stored('cas/catalog.json');
    expect(after.bytes.toString()).toBe('{"v":2}');
    expect(after.etag).toBe(v2.etag);

    await expect(store.put('cas/absent.json', Buffer.from('{}'), { contentType: 'application/json', ifMatch: v2.etag })).rejects.toBeInstanceOf(ObjectChangedError);
    expect(await store.get('cas/absent.json')).toBeUndefined();
  });

  it('putFile with ifMatch does the same for single and multipart uploads', async () => {
    for (const [name, size] of [['single', 2 * MiB], ['multipart', 11 * MiB]] as const) {
      const key = `cas/${name}.bin`;
      const v1 = await randomFile(`${name}-1.bin`, size);
      await store.putFile(key, v1.path, octets);
      const tag1 = (await store.getWithTag(key))!.etag;
      const v2 = await randomFile(`${name}-2.bin`, size + 1);
      await store.putFile(key, v2.path, { ...octets, ifMatch: tag1 });
      const current = await stored(key);
      expect(current.bytes.equals(v2.bytes), name).toBe(true);

      const v3 = await randomFile(`${name}-3.bin`, size + 2);
      await expect(store.putFile(key, v3.path, { ...octets, ifMatch: tag1 }), name).rejects.toBeInstanceOf(ObjectChangedError);
      await expect(store.putFile(`cas/${name}-absent.bin`, v3.path, { ...octets, ifMatch: current.etag }), name).rejects.toBeInstanceOf(ObjectChangedError);
      const after = await stored(key);
      expect(after.bytes.equals(v2.bytes), name).toBe(true);
      expect(after.etag, name).toBe(current.etag);
      expect(await store.get(`cas/${name}-absent.bin`), name).toBeUndefined();
    }
  });

  it('refuses ifNoneMatch and ifMatch together before sending anything', async () => {
    await expect(store.put('cas/both.json', Buffer.from('{}'), { contentType: 'application/json', ifNoneMatch: true, ifMatch: '"x"' })).rejects.toThrow(/cannot be combined/);
    expect(commands).toEqual([]);
  });

  it('aborts the multipart upload when a part fails, rethrows, and writes nothing', async () => {
    const { s3: failing, commands: sent } = recordedClient();
    let parts = 0;
    failing.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'UploadPartCommand' && ++parts === 2) throw new Error('injected part failure');
        return next(args);
      },
      { step: 'initialize', name: 'failSecondPart' },
    );
    try {
      const { path } = await randomFile('doomed.bin', 13 * MiB);
      await expect(new S3ObjectStore(failing, bucket, { ...sizes, partConcurrency: 1 }).putFile('files/doomed.bin', path, octets)).rejects.toThrow('injected part failure');
      expect(sent.at(-1)).toBe('AbortMultipartUploadCommand');
      expect(sent).not.toContain('CompleteMultipartUploadCommand');
      expect(await store.get('files/doomed.bin')).toBeUndefined();
    } finally {
      failing.destroy();
    }
  });

  it('getWithTag gives the bytes and the ETag as S3 returns it, quotes included; undefined when absent', async () => {
    const body = randomBytes(5000);
    await store.put('tags/a.bin', body, octets);
    const got = await store.getWithTag('tags/a.bin');
    expect(Buffer.from(got!.body).equals(body)).toBe(true);
    expect(got!.etag).toBe((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tags/a.bin' }))).ETag);
    expect(got!.etag).toBe(`"${md5(body)}"`);
    expect(await store.getWithTag('tags/missing.bin')).toBeUndefined();
  });

  it('download writes the object to the file (through a .part file it renames) and answers false for a missing key', async () => {
    const { path, bytes } = await randomFile('to-download.bin', 9 * MiB + 7);
    await store.putFile('files/download.bin', path, octets);
    const target = join(dir, 'downloaded.bin');

    expect(await store.download('files/download.bin', target)).toBe(true);
    expect((await readFile(target)).equals(bytes)).toBe(true);
    expect(existsSync(`${target}.part`)).toBe(false);

    const missing = join(dir, 'missing.bin');
    expect(await store.download('files/missing.bin', missing)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.startsWith('missing.bin'))).toEqual([]);
  });

  it('copy makes a byte-exact server-side copy with the new headers, also over an existing key', async () => {
    const { path, bytes } = await randomFile('copy-source.bin', 13 * MiB);
    await store.putFile('releases/v1/events.parquet', path, octets);
    await store.put('latest/events.parquet', Buffer.from('the previous latest'), { contentType: 'text/plain' });

    commands.length = 0;
    await store.copy('releases/v1/events.parquet', 'latest/events.parquet', { contentType: 'application/vnd.apache.parquet', cacheControl: 'public, max-age=300' });
    expect(commands).toEqual(['CopyObjectCommand']);
    const copy = await stored('latest/events.parquet');
    expect(copy.bytes.equals(bytes)).toBe(true);
    expect(copy.contentType).toBe('application/vnd.apache.parquet');
    expect(copy.cacheControl).toBe('public, max-age=300');
    expect(copy.etag).toBe(`"${md5(bytes)}"`);
    expect((await stored('releases/v1/events.parquet')).contentType).toBe('application/octet-stream');
  });

  it('refuses a conditional copy, saying so, without sending it', async () => {
    await expect(store.copy('releases/v1/events.parquet', 'latest/other.parquet', { ...octets, ifNoneMatch: true })).rejects.toThrow(/not supported/);
    await expect(store.copy('releases/v1/events.parquet', 'latest/other.parquet', { ...octets, ifMatch: '"abc"' })).rejects.toThrow(/not supported/);
    expect(commands).toEqual([]);
  });

  it('list yields every key under a prefix with its size and modification date, page after page', async () => {
    const t0 = Date.now();
    const objects = { 'listing/a': 1, 'listing/b/c': 22, 'listing/d': 333, 'listing/e': 0, 'listing/f/g/h': 4444 };
    for (const [key, size] of Object.entries(objects)) await store.put(key, randomBytes(size), octets);
    await store.put('listing-not/x', randomBytes(1), octets);
    const paged = new S3ObjectStore(s3, bucket, { listPageSize: 2 });

    commands.length = 0;
    const listed = await collect(paged.list('listing/'));
    expect(commands.filter((c) => c === 'ListObjectsV2Command')).toHaveLength(3);
    expect(listed.map(({ key, size }) => [key, size])).toEqual(Object.entries(objects));
    for (const { lastModified } of listed) {
      expect(lastModified).toBeInstanceOf(Date);
      // The local server keeps whole seconds.
      expect(lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000);
      expect(lastModified.getTime()).toBeLessThanOrEqual(Date.now());
    }
  });

  it('listFolders yields the folders directly under a prefix, not the objects beside them', async () => {
    for (const key of ['tree/releases/20260101T000000Z/manifest.json', 'tree/releases/20260101T000000Z/tables/events/part-00000.parquet', 'tree/releases/20260102T000000Z/manifest.json', 'tree/releases/README.txt', 'tree/latest/manifest.json']) {
      await store.put(key, Buffer.from(key), octets);
    }
    expect(await collect(store.listFolders('tree/releases/'))).toEqual(['tree/releases/20260101T000000Z/', 'tree/releases/20260102T000000Z/']);
    expect(await collect(store.listFolders('tree/'))).toEqual(['tree/latest/', 'tree/releases/']);
  });

  it('refuses parts smaller than S3 allows', () => {
    expect(() => new S3ObjectStore(s3, bucket, { partSize: 5 * MiB - 1 })).toThrow(/at least 5242880/);
  });
});
