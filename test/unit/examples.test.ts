// Unit tests of the example dataset (examples/records.ndjson and examples/seeds/).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../pipeline/canonical.ts';
import { RECORD_KINDS, listReferences, type LedgerRecord, type RecordKind } from '../../schemas/records.ts';
import { validateRecord } from '../../schemas/validate-record.ts';

type Raw = Record<string, unknown> & { id: string; kind: RecordKind };

const EXAMPLES = new URL('../../examples/', import.meta.url);
const text = readFileSync(new URL('records.ndjson', EXAMPLES), 'utf8');
const lines = text.split('\n').filter((l) => l.trim() !== '');
const raw: Raw[] = lines.map((l) => JSON.parse(l) as Raw);
const seedFiles = readdirSync(new URL('seeds/', EXAMPLES)).filter((f) => !f.startsWith('.')).sort();

/** Every line, validated; the suite fails loudly if one is refused. */
function validated(): LedgerRecord[] {
  return raw.map((r, i) => {
    const v = validateRecord(r);
    if (!v.ok) expect.fail(`line ${i + 1} (${r.id}) is refused: ${JSON.stringify(v.errors)}`);
    return v.record;
  });
}

const claims = () => raw.filter((r) => r.kind === 'claim') as Array<Raw & { metric: string; value: { low?: number; best?: number; high?: number }; claimant: string; source_ids: string[] }>;

describe('examples/records.ndjson', () => {
  it('is UTF-8 NDJSON with one JSON object per line and no blank lines inside', () => {
    // Prepare
    const all = text.split('\n');
    // Act
    const blankInside = all.slice(0, -1).filter((l) => l.trim() === '');
    // Assess
    expect(blankInside).toEqual([]);
    for (const r of raw) expect(r !== null && typeof r === 'object' && !Array.isArray(r)).toBe(true);
  });

  it('every line passes validateRecord', () => {
    // Act
    const problems = raw.flatMap((r, i) => {
      const v = validateRecord(r);
      return v.ok ? [] : [{ line: i + 1, id: r.id, errors: v.errors }];
    });
    // Assess
    expect(raw.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('every line is already in normal form: validation changes nothing except adding defaults', () => {
    // Act
    const records = validated();
    // Assess
    records.forEach((rec, i) => expect(rec).toMatchObject(raw[i]!));
  });

  it('ids are unique', () => {
    // Act
    const ids = raw.map((r) => r.id);
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    // Assess
    expect(dupes).toEqual([]);
  });

  it('only the four kinds appear, and each kind appears', () => {
    // Act
    const kinds = new Set(raw.map((r) => r.kind));
    // Assess
    expect([...kinds].sort()).toEqual([...RECORD_KINDS].sort());
  });

  it('every reference resolves, within the file, to a record of the right kind that comes before it', () => {
    // Prepare
    const records = validated();
    const position = new Map(records.map((r, i) => [r.id, { kind: r.kind, index: i }]));
    // Act
    const broken = records.flatMap((rec, i) =>
      listReferences(rec)
        .filter((ref) => {
          const target = position.get(ref.id);
          return target === undefined || target.kind !== ref.target || target.index >= i;
        })
        .map((ref) => ({ record: rec.id, ...ref, found: position.get(ref.id) })),
    );
    // Assess
    expect(broken).toEqual([]);
  });

  it('each kind references what DATA.md says it must', () => {
    // Prepare
    const records = validated();
    // Act
    const withoutSources = records.filter((r) => r.kind !== 'source' && listReferences(r).filter((x) => x.target === 'source').length === 0);
    // Assess
    expect(withoutSources.map((r) => r.id)).toEqual([]);
  });

  it('holds at least 15 events', () => {
    // Act
    const events = raw.filter((r) => r.kind === 'event');
    // Assess
    expect(events.length).toBeGreaterThanOrEqual(15);
  });

  it('the numbers of records per kind match the table in examples/README.md', () => {
    // Prepare
    const readme = readFileSync(new URL('README.md', EXAMPLES), 'utf8');
    // Act
    const documented = Object.fromEntries(RECORD_KINDS.map((k) => [k, Number(new RegExp(`^\\| ${k} \\| (\\d+) \\|`, 'm').exec(readme)?.[1])]));
    const actual = Object.fromEntries(RECORD_KINDS.map((k) => [k, raw.filter((r) => r.kind === k).length]));
    // Assess
    expect(actual).toEqual(documented);
  });

  it('has one source per file in examples/seeds/, whose content_sha256 is the SHA-256 of that file and whose seed-NNN tag names it', () => {
    // Prepare
    const sources = raw.filter((r) => r.kind === 'source') as Array<Raw & { content_sha256?: string; tags?: string[] }>;
    // Act
    const matches = seedFiles.map((file) => {
      const hash = sha256Hex(readFileSync(new URL(`seeds/${file}`, EXAMPLES)));
      const tag = `seed-${file.slice(0, 3)}`;
      const byHash = sources.filter((s) => s.content_sha256 === hash);
      return { file, byHash: byHash.map((s) => s.id), tagged: byHash.every((s) => s.tags?.includes(tag)) };
    });
    // Assess
    expect(seedFiles.length).toBeGreaterThan(0);
    for (const m of matches) {
      expect(m.byHash, m.file).toHaveLength(1);
      expect(m.tagged, m.file).toBe(true);
    }
    expect(sources).toHaveLength(seedFiles.length);
  });

  it('every event, claim and person cites at least one of the example sources', () => {
    // Prepare
    const sourceIds = new Set(raw.filter((r) => r.kind === 'source').map((r) => r.id));
    // Act
    const uncited = raw.filter((r) => r.kind !== 'source' && !(r.source_ids as string[]).some((id) => sourceIds.has(id)));
    // Assess
    expect(uncited.map((r) => r.id)).toEqual([]);
  });

  it('the conflicting death tolls (2000, 6000, 12000, 650) sit side by side as separate claims, never merged', () => {
    // Prepare
    const killed = claims().filter((c) => c.metric === 'killed' && c.population === 'all');
    const figure = (c: ReturnType<typeof claims>[number]) => c.value.best ?? c.value.low ?? c.value.high;
    // Act
    const found = [2000, 6000, 12000, 650].map((n) => killed.filter((c) => figure(c) === n));
    // Assess
    for (const [i, list] of found.entries()) expect(list.length, `claims of ${[2000, 6000, 12000, 650][i]} killed`).toBeGreaterThanOrEqual(1);
    const picked = found.map((list) => list[0]!);
    expect(new Set(picked.map((c) => c.id)).size).toBe(4);
    expect(new Set(picked.map((c) => c.claimant)).size).toBe(4);
    // Each claim carries one figure: none of the four holds another's number as its range.
    for (const c of picked) {
      const values = [c.value.low, c.value.best, c.value.high].filter((v): v is number => v !== undefined);
      expect(values).toHaveLength(1);
    }
  });

  it('the 12,000 estimate is coded "at least", as its claimant worded it', () => {
    // Act
    const c = claims().find((x) => x.metric === 'killed' && x.value.low === 12000);
    // Assess
    expect(c).toBeDefined();
    expect(c!.qualifier).toBe('at_least');
  });

  it('no record carries restricted data (examples/README.md)', () => {
    // Act
    const withRestricted = raw.filter((r) => 'restricted' in r);
    // Assess
    expect(withRestricted.map((r) => r.id)).toEqual([]);
  });
});
