import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
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

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(() => {
  s3.destroy();
});

describe('local S3 server', () => {
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
