// The DuckDB builder on its own (no network): what it writes does not depend on the host it runs on.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const buildRaw = (tz: string) => execFileSync(process.execPath, ['--import', 'tsx', 'test/support/build-one-source.ts'], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
const build = (tz: string) => JSON.parse(buildRaw(tz).trim()) as Record<string, unknown>;

describe('DuckDbReleaseBuilder', () => {
  it('writes date-times in UTC whatever the host time zone (Tehran is UTC+3:30)', () => {
    for (const tz of ['UTC', 'Asia/Tehran', 'America/Los_Angeles']) {
      expect(build(tz), tz).toMatchObject({ id: 'src-tz', kind: 'source', updated_at: '2026-01-03T12:00:00.123Z', first_published: '20260103T120000Z' });
    }
  });

  it('escapes U+2028 and U+2029 in the NDJSON (line splitters break on them raw); the value is unchanged', () => {
    const raw = buildRaw('UTC');
    expect(raw).not.toMatch(/[\u2028\u2029]/);
    expect(raw).toContain('T\\u2028line\\u2029paragraph');
    expect(raw.split(/\r?\n|\u2028|\u2029/).filter((l) => l !== '')).toHaveLength(1);
    expect(JSON.parse(raw.trim()).title).toBe('T\u2028line\u2029paragraph');
  });
});
