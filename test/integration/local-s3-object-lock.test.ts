import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { s3ClientConfig } from '../../local/services.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';

/**
 * S3 Object Lock retention on the local S3 server (local/s3-server.ts), which the publisher's lock of
 * committed releases is tested against: it must refuse what S3 refuses, or the e2e test proves nothing.
 */
let s3: S3Client;
const bucket = `lock-${randomBytes(4).toString('hex')}`;
const inYears = (years: number, days = 0) => new Date(Date.UTC(new Date().getUTCFullYear() + years, 0, 1 + days));

beforeAll(async () => {
  s3 = new S3Client(s3ClientConfig(inject('s3Endpoint')));
  await ensureBucket(s3, bucket);
});
afterAll(() => s3?.destroy());

/** A fresh object; its key. */
async function object(): Promise<string> {
  const key = `releases/x/${randomBytes(4).toString('hex')}.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{}', ContentType: 'application/json' }));
  return key;
}
/** What S3 answered: `ok`, or the status and error name. */
const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => (err instanceof S3ServiceException ? `${err.$metadata.httpStatusCode} ${err.name}` : String(err)));
const retain = (key: string, mode: 'GOVERNANCE' | 'COMPLIANCE', until: Date, bypass = false) =>
  s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, Retention: { Mode: mode, RetainUntilDate: until }, ...(bypass ? { BypassGovernanceRetention: true } : {}) }));
const remove = (key: string, bypass = false) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, ...(bypass ? { BypassGovernanceRetention: true } : {}) }));

describe('the local S3 server keeps Object Lock retention', () => {
  it('PutObjectRetention sets it and GetObjectRetention tells it', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    const out = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key }));
    expect([out.Retention?.Mode, out.Retention?.RetainUntilDate?.toISOString()]).toEqual(['GOVERNANCE', inYears(5).toISOString()]);
  });

  it('an object never locked has no retention: 404 NoSuchObjectLockConfiguration', async () => {
    expect(await outcome(s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: await object() })))).toBe('404 NoSuchObjectLockConfiguration');
  });

  it('of an object that does not exist: 404 NoSuchKey', async () => {
    expect(await outcome(retain('releases/x/nothing-here.json', 'GOVERNANCE', inYears(5)))).toBe('404 NoSuchKey');
  });

  it('a date in the past: 400 InvalidArgument', async () => {
    expect(await outcome(retain(await object(), 'GOVERNANCE', new Date(Date.UTC(2020, 0, 1))))).toBe('400 InvalidArgument');
  });

  it('without a Content-MD5 or x-amz-checksum header, as S3: 400 InvalidRequest', async () => {
    const key = await object();
    const bare = new S3Client(s3ClientConfig(inject('s3Endpoint')));
    bare.middlewareStack.addRelativeTo(
      (next: (args: any) => Promise<any>) => async (args: any) => {
        for (const h of Object.keys(args.request.headers)) if (h.startsWith('x-amz-checksum-') || h === 'content-md5' || h === 'x-amz-sdk-checksum-algorithm') delete args.request.headers[h];
        return next(args);
      },
      { relation: 'after', toMiddleware: 'flexibleChecksumsMiddleware', name: 'dropChecksum' },
    );
    try {
      expect(await outcome(bare.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: inYears(5) } })))).toBe('400 InvalidRequest');
    } finally {
      bare.destroy();
    }
  });

  it('can be lengthened, or set again to the same date', async () => {
    const key = await object();
    await retain(key, 'COMPLIANCE', inYears(5));
    expect([await outcome(retain(key, 'COMPLIANCE', inYears(5))), await outcome(retain(key, 'COMPLIANCE', inYears(6)))]).toEqual(['ok', 'ok']);
  });

  it('GOVERNANCE: cannot be shortened without the bypass header; can with it', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    expect([await outcome(retain(key, 'GOVERNANCE', inYears(4))), await outcome(retain(key, 'GOVERNANCE', inYears(4), true))]).toEqual(['403 AccessDenied', 'ok']);
  });

  it('COMPLIANCE: cannot be shortened or turned into GOVERNANCE, bypass or not', async () => {
    const key = await object();
    await retain(key, 'COMPLIANCE', inYears(5));
    expect([await outcome(retain(key, 'COMPLIANCE', inYears(4), true)), await outcome(retain(key, 'GOVERNANCE', inYears(6), true))]).toEqual(['403 AccessDenied', '403 AccessDenied']);
  });
});

describe('a locked object cannot be deleted', () => {
  it('GOVERNANCE: refused (403 AccessDenied) without the bypass header', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    expect(await outcome(remove(key))).toBe('403 AccessDenied');
  });

  it('GOVERNANCE: deleted with the bypass header (in AWS only a principal with s3:BypassGovernanceRetention may send it)', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    expect(await outcome(remove(key, true))).toBe('ok');
    expect(await outcome(s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key })))).toBe('404 NoSuchKey');
  });

  it('COMPLIANCE: refused, with the bypass header too', async () => {
    const key = await object();
    await retain(key, 'COMPLIANCE', inYears(5));
    expect([await outcome(remove(key)), await outcome(remove(key, true))]).toEqual(['403 AccessDenied', '403 AccessDenied']);
  });

  it('nor overwritten (this server keeps one version per key)', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{"rewritten":true}' })))).toBe('403 AccessDenied');
  });

  it('nor removed through DeleteObjects, which this server refuses altogether', async () => {
    const key = await object();
    await retain(key, 'GOVERNANCE', inYears(5));
    expect(await outcome(s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key }] } })))).toBe('501 NotImplemented');
    expect((await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key }))).Retention?.Mode).toBe('GOVERNANCE');
  });

  it('an object without retention is deleted as before', async () => {
    expect(await outcome(remove(await object()))).toBe('ok');
  });
});
