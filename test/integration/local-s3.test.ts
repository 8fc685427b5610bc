import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { s3ClientConfig } from '../../local/services.ts';

const endpoint = inject('s3Endpoint');
const bucket = `local-s3-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const s3 = new S3Client(s3ClientConfig(endpoint));

async function getBytes(key: string, client: S3Client = s3): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** The settled error of a promise that must fail. */
async function failure(promise: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(S3ServiceException);
    return err as S3ServiceException;
  }
  throw new Error('expected the request to fail');
}

const MiB = 1024 * 1024;
const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');

/** Starts a multipart upload of `body` in parts of `partSize` and uploads every part; completing is the caller's. */
async function uploadParts(key: string, body: Buffer, partSize: number): Promise<{ uploadId: string; parts: { PartNumber: number; ETag: string }[] }> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/x-test' }));
  const parts: { PartNumber: number; ETag: string }[] = [];
  for (let start = 0; start < body.length; start += partSize) {
    const chunk = body.subarray(start, start + partSize);
    const PartNumber = parts.length + 1;
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: chunk, ContentLength: chunk.length }));
    parts.push({ PartNumber, ETag: ETag! });
  }
  return { uploadId: UploadId!, parts };
}

const complete = (key: string, upload: { uploadId: string; parts: { PartNumber: number; ETag: string }[] }, conditions: { IfNoneMatch?: string; IfMatch?: string } = {}) =>
  s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.uploadId, MultipartUpload: { Parts: upload.parts }, ...conditions }));

const etagOf = async (key: string): Promise<string> => (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag!;

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(() => {
  s3.destroy();
});

describe('local S3 server', () => {
  it('refuses anonymous writes and deletes (403, object untouched) while anonymous GET and LIST stay open, as in the public bucket', async () => {
    const key = 'anon/guarded.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the real bytes', ContentType: 'text/plain' }));
    const url = `${endpoint}/${bucket}/${key}`;
    const put = await fetch(url, { method: 'PUT', body: 'overwritten by anyone' });
    expect(put.status).toBe(403);
    expect(await put.text()).toContain('AccessDenied');
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(403);
    expect((await fetch(`${endpoint}/${bucket}/anon/new.txt`, { method: 'PUT', body: 'x' })).status).toBe(403);
    // A made-up signature is checked by s3rver against its credentials, not waved through.
    const forged = await fetch(url, { method: 'PUT', body: 'forged', headers: { authorization: 'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00', 'x-amz-date': '20260101T000000Z', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    const get = await fetch(url);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('the real bytes');
    expect((await fetch(`${endpoint}/${bucket}?list-type=2&prefix=anon/`)).status).toBe(200);
    expect((await fetch(`${endpoint}/${bucket}/anon/new.txt`)).status).toBe(404);
  });

  it('round-trips a small Buffer byte for byte', async () => {
    const body = Buffer.concat([Buffer.from([...Array(256).keys()]), randomBytes(1000)]);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'small.bin', Body: body }));
    expect((await getBytes('small.bin')).equals(body)).toBe(true);
  });

  it('round-trips a body larger than 1 MiB, as a Buffer and as a stream', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'large.bin', Body: body }));
    expect((await getBytes('large.bin')).equals(body)).toBe(true);

    const chunks = Array.from({ length: 12 }, (_, i) => body.subarray(i * 300_000, (i + 1) * 300_000));
    const streamed = Buffer.concat(chunks);
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'large-stream.bin', Body: Readable.from(chunks), ContentLength: streamed.length }),
    );
    expect((await getBytes('large-stream.bin')).equals(streamed)).toBe(true);
  });

  it('answers IfNoneMatch "*" with 412 PreconditionFailed on an existing key and keeps the original', async () => {
    const original = Buffer.from('first version');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'immutable.txt', Body: original, IfNoneMatch: '*' }));

    const err = await failure(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'immutable.txt', Body: Buffer.from('second version'), IfNoneMatch: '*' })),
    );
    expect(err.$metadata.httpStatusCode).toBe(412);
    expect(err.name).toBe('PreconditionFailed');
    expect((await getBytes('immutable.txt')).equals(original)).toBe(true);
  });

  it('answers IfMatch with 412 unless the object exists with that ETag, and keeps what was there', async () => {
    const original = Buffer.from('version 1');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas.txt', Body: original }));
    const etag = await etagOf('cas.txt');
    expect(etag).toBe(`"${md5(original)}"`);

    const stale = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas.txt', Body: Buffer.from('lost update'), IfMatch: `"${md5(Buffer.from('other'))}"` })));
    expect(stale.$metadata.httpStatusCode).toBe(412);
    expect(stale.name).toBe('PreconditionFailed');
    expect((await getBytes('cas.txt')).equals(original)).toBe(true);

    const absent = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas-absent.txt', Body: Buffer.from('x'), IfMatch: etag })));
    expect(absent.$metadata.httpStatusCode).toBe(412);
    await expect(getBytes('cas-absent.txt')).rejects.toMatchObject({ name: 'NoSuchKey' });

    const second = Buffer.from('version 2');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas.txt', Body: second, IfMatch: etag }));
    expect((await getBytes('cas.txt')).equals(second)).toBe(true);
    // An ETag without its quotes matches too.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas.txt', Body: Buffer.from('version 3'), IfMatch: md5(second) }));
    expect((await getBytes('cas.txt')).toString()).toBe('version 3');
  });

  it('lets exactly one of many concurrent IfMatch writers based on the same ETag succeed', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas-race.bin', Body: Buffer.from('base') }));
    const etag = await etagOf('cas-race.bin');
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.concat([Buffer.from(`writer ${i} `), randomBytes(200_000)]));
    const results = await Promise.allSettled(bodies.map((Body) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas-race.bin', Body, IfMatch: etag }))));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    }
    expect((await getBytes('cas-race.bin')).equals(bodies[winners[0]!]!)).toBe(true);
  });

  it("completes a multipart upload byte for byte, with S3's multipart ETag, and removes the upload", async () => {
    const body = randomBytes(12 * MiB + 5);
    const upload = await uploadParts('multipart.bin', body, 5 * MiB);
    const out = await complete('multipart.bin', upload);

    const partDigests = [0, 1, 2].map((i) => Buffer.from(md5(body.subarray(i * 5 * MiB, (i + 1) * 5 * MiB)), 'hex'));
    const expected = `"${md5(Buffer.concat(partDigests))}-3"`;
    expect(out.ETag).toBe(expected);
    expect(await etagOf('multipart.bin')).toBe(expected);
    expect((await getBytes('multipart.bin')).equals(body)).toBe(true);
    const again = await failure(complete('multipart.bin', upload));
    expect(again.name).toBe('NoSuchUpload');
  });

  it('honours IfNoneMatch and IfMatch on CompleteMultipartUpload', async () => {
    const first = randomBytes(6 * MiB);
    await complete('mp-cond.bin', await uploadParts('mp-cond.bin', first, 5 * MiB), { IfNoneMatch: '*' });
    const etag = await etagOf('mp-cond.bin');

    const exists = await failure(complete('mp-cond.bin', await uploadParts('mp-cond.bin', randomBytes(6 * MiB), 5 * MiB), { IfNoneMatch: '*' }));
    expect(exists.$metadata.httpStatusCode).toBe(412);
    const stale = await failure(complete('mp-cond.bin', await uploadParts('mp-cond.bin', randomBytes(6 * MiB), 5 * MiB), { IfMatch: `"${md5(first)}"` }));
    expect(stale.$metadata.httpStatusCode).toBe(412);
    const absent = await failure(complete('mp-absent.bin', await uploadParts('mp-absent.bin', randomBytes(10), 5 * MiB), { IfMatch: etag }));
    expect(absent.$metadata.httpStatusCode).toBe(412);
    await expect(getBytes('mp-absent.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
    expect((await getBytes('mp-cond.bin')).equals(first)).toBe(true);

    const second = randomBytes(6 * MiB + 1);
    await complete('mp-cond.bin', await uploadParts('mp-cond.bin', second, 5 * MiB), { IfMatch: etag });
    expect((await getBytes('mp-cond.bin')).equals(second)).toBe(true);
  });

  it('refuses to complete with a part below 5 MiB that is not the last, or a part ETag that does not match', async () => {
    const small = await uploadParts('mp-small.bin', randomBytes(3 * MiB), 1 * MiB);
    expect((await failure(complete('mp-small.bin', small))).name).toBe('EntityTooSmall');

    const upload = await uploadParts('mp-wrong.bin', randomBytes(6 * MiB), 5 * MiB);
    const wrong = { ...upload, parts: [upload.parts[0]!, { PartNumber: 2, ETag: upload.parts[0]!.ETag }] };
    expect((await failure(complete('mp-wrong.bin', wrong))).name).toBe('InvalidPart');
    const missing = { ...upload, parts: [upload.parts[0]!, { PartNumber: 3, ETag: upload.parts[1]!.ETag }] };
    expect((await failure(complete('mp-wrong.bin', missing))).name).toBe('InvalidPart');
    await expect(getBytes('mp-small.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
    await expect(getBytes('mp-wrong.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('aborts a multipart upload: its parts and its completion then answer NoSuchUpload', async () => {
    const upload = await uploadParts('mp-abort.bin', randomBytes(6 * MiB), 5 * MiB);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'mp-abort.bin', UploadId: upload.uploadId }));

    const part = await failure(s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp-abort.bin', UploadId: upload.uploadId, PartNumber: 3, Body: Buffer.from('late') })));
    expect(part.name).toBe('NoSuchUpload');
    expect((await failure(complete('mp-abort.bin', upload))).name).toBe('NoSuchUpload');
    await expect(getBytes('mp-abort.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('copies byte for byte with the new content type, over an existing key, with the ETag of the copied bytes', async () => {
    const body = randomBytes(2 * MiB + 9);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-src.bin', Body: body, ContentType: 'application/octet-stream' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-dst.bin', Body: Buffer.from('replaced by the copy'), ContentType: 'text/plain' }));

    const out = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-dst.bin', CopySource: `${bucket}/copy-src.bin`, MetadataDirective: 'REPLACE', ContentType: 'application/vnd.apache.parquet' }));
    expect(out.CopyObjectResult?.ETag).toBe(`"${md5(body)}"`);
    expect(await etagOf('copy-dst.bin')).toBe(`"${md5(body)}"`);
    const copy = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy-dst.bin' }));
    expect(copy.ContentType).toBe('application/vnd.apache.parquet');
    expect(Buffer.from(await copy.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('lets exactly one of many concurrent conditional puts of a new key succeed', async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.concat([Buffer.from(`writer ${i} `), randomBytes(200_000)]));
    const results = await Promise.allSettled(
      bodies.map((Body) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'race.bin', Body, IfNoneMatch: '*' }))),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    }
    expect((await getBytes('race.bin')).equals(bodies[winners[0]!]!)).toBe(true);
  });

  it('never stores aws-chunked framing: a default-configured SDK client streaming a body is refused or stored intact', async () => {
    const { requestChecksumCalculation: _req, responseChecksumValidation: _res, ...defaults } = s3ClientConfig(endpoint);
    const careless = new S3Client(defaults);
    const body = randomBytes(100_000);
    try {
      const outcome = await careless
        .send(new PutObjectCommand({ Bucket: bucket, Key: 'careless.bin', Body: Readable.from([body]), ContentLength: body.length }))
        .then(
          () => 'stored' as const,
          (err: unknown) => err,
        );
      if (outcome === 'stored') {
        expect((await getBytes('careless.bin')).equals(body)).toBe(true);
      } else {
        expect(outcome).toBeInstanceOf(S3ServiceException);
        const err = outcome as S3ServiceException;
        expect(err.$metadata.httpStatusCode).toBe(400);
        expect(err.message).toContain("requestChecksumCalculation: 'WHEN_REQUIRED'");
        await expect(getBytes('careless.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
      }
    } finally {
      careless.destroy();
    }
  });

  it('refuses a raw aws-chunked PUT with a 400 naming the client options, and stores nothing', async () => {
    const payload = 'hello';
    const framed = `${payload.length.toString(16)};chunk-signature=00\r\n${payload}\r\n0;chunk-signature=00\r\n\r\n`;
    const response = await fetch(`${endpoint}/${bucket}/chunked.txt`, {
      method: 'PUT',
      headers: {
        'Content-Encoding': 'aws-chunked',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'x-amz-decoded-content-length': String(payload.length),
      },
      body: framed,
    });
    expect(response.status).toBe(400);
    const xml = await response.text();
    expect(xml).toContain('<Code>InvalidRequest</Code>');
    expect(xml).toContain('WHEN_REQUIRED');
    expect((await fetch(`${endpoint}/${bucket}/chunked.txt`)).status).toBe(404);
  });

  it('serves plain unsigned path-style GETs, with 206 for ranges', async () => {
    const body = Buffer.from('0123456789abcdefghij');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'public/data.txt', Body: body, ContentType: 'text/plain' }));

    const whole = await fetch(`${endpoint}/${bucket}/public/data.txt`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(body)).toBe(true);

    const middle = await fetch(`${endpoint}/${bucket}/public/data.txt`, { headers: { Range: 'bytes=2-5' } });
    expect(middle.status).toBe(206);
    expect(middle.headers.get('content-range')).toBe(`bytes 2-5/${body.length}`);
    expect(await middle.text()).toBe('2345');

    // Suffix ranges are how Parquet readers fetch the footer; s3rver alone gets them wrong.
    const suffix = await fetch(`${endpoint}/${bucket}/public/data.txt`, { headers: { Range: 'bytes=-4' } });
    expect(suffix.status).toBe(206);
    expect(await suffix.text()).toBe('ghij');
  });

  it('paginates ListObjectsV2 (MaxKeys 2 over 5 objects) with continuation tokens', async () => {
    const keys = ['page/a', 'page/b', 'page/c', 'page/d', 'page/e'];
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))));

    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'page/', MaxKeys: 2, ContinuationToken: token }));
      pages.push((page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) expect(token).toBeTruthy();
    } while (token && pages.length < 10);

    expect(pages).toEqual([
      ['page/a', 'page/b'],
      ['page/c', 'page/d'],
      ['page/e'],
    ]);
  });
});
