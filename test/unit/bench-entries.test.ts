// The benchmark table's entries (bench/entries.ts): a ceiling, a floor, a target on the value itself.
import { describe, expect, it } from 'vitest';
import { entry, failed, targetText } from '../../bench/entries.ts';
import { origin } from '../../bench/cold-start.ts';
import { selfTimes, totalUnder, type CpuProfile } from '../../bench/cpu-profile.ts';

describe('bench entries', () => {
  it('judge a ceiling: met while ratio ≤ target', () => {
    expect(entry('3', 'x', 's', 3, 2, 1.5)).toMatchObject({ ratio: 1.5, met: true });
    expect(entry('3', 'x', 's', 3.1, 2, 1.5)).toMatchObject({ ratio: 1.55, met: false });
    expect(targetText(entry('3', 'x', 's', 3, 2, 1.5))).toBe('≤ 1.5');
  });

  it('judge a floor: met while ratio ≥ target, and print ≥', () => {
    const low = entry('1', 'x', 'records/s', 40, 100, 0.5, { floor: true });
    const high = entry('1', 'x', 'records/s', 50, 100, 0.5, { floor: true });
    expect(low).toMatchObject({ ratio: 0.4, floor: true, met: false });
    expect(high).toMatchObject({ ratio: 0.5, met: true });
    expect(targetText(high)).toBe('≥ 0.5');
  });

  it('judge the value itself when there is no reference', () => {
    expect(entry('7', 'x', 'ms', 149, null, 150)).toMatchObject({ ratio: null, met: true });
    expect(entry('7', 'x', 'ms', 151, null, 150)).toMatchObject({ ratio: null, met: false });
    expect(entry('7', 'x', 'ms', 151, null, null)).toMatchObject({ met: null });
    expect(targetText(entry('7', 'x', 'ms', 151, null, null))).toBe('—');
  });

  it('fail the entry when a further condition fails, and when the measurement failed', () => {
    expect(entry('4', 'x', 'MiB', 1, 1, 1.5, { extra: false })).toMatchObject({ met: false });
    expect(failed('1', 'x', 'records/s', null, 0.5, 'boom\nstack', true)).toMatchObject({ value: null, met: false, floor: true, error: 'boom' });
  });
});

describe('median', () => {
  it('is the middle of an odd count and the mean of the middle two of an even one', async () => {
    const { median } = await import('../../bench/support.ts');
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('cold start: where a bundled file comes from', () => {
  it('names the package, scoped or not, or the project folder', () => {
    expect(origin('node_modules/zod/v4/core/schemas.js')).toBe('zod');
    expect(origin('node_modules/@aws-sdk/client-s3/dist-es/index.js')).toBe('@aws-sdk/client-s3');
    expect(origin('node_modules/@smithy/core/node_modules/@smithy/x/dist/a.js')).toBe('@smithy/x');
    expect(origin('storage/adapters.ts')).toBe('storage');
  });
});

describe('cpu profile summary', () => {
  // main → a (self 1 sample) → b (self 2 samples); main self 1 sample; each sample 1 ms apart.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: 'main', url: 'file:///x/main.js', lineNumber: 0, columnNumber: 0 }, children: [2] },
      { id: 2, callFrame: { functionName: 'a', url: 'file:///x/a.js', lineNumber: 9, columnNumber: 0 }, children: [3] },
      { id: 3, callFrame: { functionName: 'b', url: '', lineNumber: 0, columnNumber: 0 } },
    ],
    samples: [1, 2, 3, 3],
    timeDeltas: [1000, 1000, 1000, 1000],
    startTime: 0,
    endTime: 4000,
  };

  it('sums self time per function, largest first', () => {
    expect(selfTimes(profile).map((f) => [f.where, f.ms])).toEqual([
      ['b', 2],
      ['main (main.js:1)', 1],
      ['a (a.js:10)', 1],
    ]);
  });

  it('sums the time under a function, callees included', () => {
    expect(totalUnder(profile, /^a /)).toBe(3);
    expect(totalUnder(profile, /^main/)).toBe(4);
    expect(totalUnder(profile, /^b$/)).toBe(2);
  });
});

describe('id 1: the bodies a bulk loader sends', () => {
  it('go in dependency waves (sources; events; claims and persons), at most 1,000 records a body, a small wave cut for 4 clients', async () => {
    // Prepare
    const { generateRecords, mixFor } = await import('../../bench/records.ts');
    const { waveBodies } = await import('../../bench/ingest-api.ts');
    const records = generateRecords(mixFor(10_000));

    // Act
    const waves = waveBodies(records).map((bodies) => bodies.map((b) => b.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string })));

    // Assess
    expect(waves.map((w) => [...new Set(w.flat().map((r) => r.kind))].sort())).toEqual([['source'], ['event'], ['claim', 'person']]);
    expect(waves.map((w) => w.map((b) => b.length))).toEqual([[250, 250, 250, 250], [1000, 1000, 1000, 1000, 500], [1000, 1000, 1000, 1000, 500]]);
    expect(waves.flat(2)).toHaveLength(10_000);
  });
});
