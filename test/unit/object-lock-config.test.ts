// How the publisher learns its Object Lock setting (LEDGER_OBJECT_LOCK_MODE, LEDGER_OBJECT_LOCK_YEARS, from
// the stack) and the date a release is locked until. A setting the publisher cannot read must stop it at
// cold start, never leave releases silently unlocked.
import { describe, expect, it } from 'vitest';
import { contextFromEnv } from '../../functions/config.ts';
import { retainUntil } from '../../pipeline/publish/lock-release.ts';

const BASE = { LEDGER_TABLE_NAME: 'ledger', LEDGER_BUCKET_NAME: 'ledger-public', LEDGER_PUBLIC_BASE_URL: 'https://ledger-public.s3.eu-west-1.amazonaws.com', AWS_REGION: 'eu-west-1' };

describe('the Object Lock setting from the environment', () => {
  it('absent: no lock', () => {
    expect(contextFromEnv(BASE).objectLock).toBeUndefined();
  });
  it('NONE (what the stack passes when it is off), with years: no lock', () => {
    expect(contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'NONE', LEDGER_OBJECT_LOCK_YEARS: '10' }).objectLock).toBeUndefined();
  });
  it('GOVERNANCE for 10 years (years arrive as text, from an SSM parameter)', () => {
    expect(contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'GOVERNANCE', LEDGER_OBJECT_LOCK_YEARS: '10' }).objectLock).toEqual({ mode: 'GOVERNANCE', years: 10 });
  });
  it('COMPLIANCE for 1 year', () => {
    expect(contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'COMPLIANCE', LEDGER_OBJECT_LOCK_YEARS: '1' }).objectLock).toEqual({ mode: 'COMPLIANCE', years: 1 });
  });
  it('an unknown mode stops the function at start, naming the variable', () => {
    expect(() => contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'governance', LEDGER_OBJECT_LOCK_YEARS: '10' })).toThrow(/LEDGER_OBJECT_LOCK_MODE/);
  });
  it('a mode without years stops it too', () => {
    expect(() => contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'GOVERNANCE' })).toThrow(/LEDGER_OBJECT_LOCK_YEARS: required/);
  });
  it('years that are not a whole number from 1 to 100 stop it', () => {
    for (const years of ['0', '2.5', '101', 'ten']) expect(() => contextFromEnv({ ...BASE, LEDGER_OBJECT_LOCK_MODE: 'GOVERNANCE', LEDGER_OBJECT_LOCK_YEARS: years }), years).toThrow(/LEDGER_OBJECT_LOCK_YEARS/);
  });
});

describe('the date a release is locked until', () => {
  it('is the release time plus the years, to the second', () => {
    expect(retainUntil('20260118T120000Z', 10).toISOString()).toBe('2036-01-18T12:00:00.000Z');
  });
  it('refuses what is not a release id', () => {
    expect(() => retainUntil('latest', 10)).toThrow(/not a release id/);
  });
});
