// Unit tests of the canonical JSON form (the content hash behind "unchanged") and of changedFields.
import { describe, expect, it } from 'vitest';
import { canonicalJson, changedFields, sha256Hex } from '../../pipeline/canonical.ts';

describe('canonicalJson', () => {
  it('gives the same text whatever the key order, at every level', () => {
    // Prepare
    const a = { id: 'evt-1', kind: 'event', location: { country: 'IR', admin1: 'Tehran', latitude: 35.7 }, killed: { low: 1, high: 3 } };
    const b = { killed: { high: 3, low: 1 }, location: { latitude: 35.7, admin1: 'Tehran', country: 'IR' }, kind: 'event', id: 'evt-1' };
    // Act
    const ca = canonicalJson(a);
    const cb = canonicalJson(b);
    // Assess
    expect(ca).toBe(cb);
    expect(sha256Hex(ca)).toBe(sha256Hex(cb));
  });

  it('sorts keys and emits compact JSON that parses back to the same value', () => {
    // Prepare
    const value = { b: 1, a: [3, { d: 'x', c: null }], 'é': true, A: 'upper' };
    // Act
    const text = canonicalJson(value);
    // Assess
    expect(text).toBe('{"A":"upper","a":[3,{"c":null,"d":"x"}],"b":1,"é":true}');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('keeps the order of array items (order is content)', () => {
    // Act
    const x = canonicalJson({ source_ids: ['src-a', 'src-b'] });
    const y = canonicalJson({ source_ids: ['src-b', 'src-a'] });
    // Assess
    expect(x).not.toBe(y);
  });

  it('drops undefined object members, so an absent field and an undefined one hash alike', () => {
    // Act
    const withUndefined = canonicalJson({ id: 'x', killed: undefined });
    const without = canonicalJson({ id: 'x' });
    // Assess
    expect(withUndefined).toBe(without);
  });

  it('keeps null distinct from absent', () => {
    // Act
    const withNull = canonicalJson({ id: 'x', name: null });
    const without = canonicalJson({ id: 'x' });
    // Assess
    expect(withNull).not.toBe(without);
    expect(withNull).toBe('{"id":"x","name":null}');
  });

  it('writes undefined array items as null, like JSON.stringify', () => {
    // Act
    const text = canonicalJson([1, undefined, 2]);
    // Assess
    expect(text).toBe('[1,null,2]');
    expect(text).toBe(JSON.stringify([1, undefined, 2]));
  });

  it('encodes primitives like JSON.stringify', () => {
    for (const v of [null, true, false, 0, -1.5, 9007199254740991, '', 'a "quoted" \\ string', 'كشته', '😀', 'line\nbreak']) {
      // Act
      const text = canonicalJson(v);
      // Assess
      expect(text).toBe(JSON.stringify(v));
    }
  });

  it('distinguishes values that differ only in type or in one nested member', () => {
    // Act
    const values = [{ a: 1 }, { a: '1' }, { a: [1] }, { a: { b: 1 } }, { a: { b: 2 } }, { a: true }, { a: null }, {}];
    const texts = new Set(values.map((v) => canonicalJson(v)));
    // Assess
    expect(texts.size).toBe(values.length);
  });

  it('does not depend on the insertion order of keys that look like numbers', () => {
    // Act
    const x = canonicalJson({ '10': 'a', '2': 'b', x: 'c' });
    const y = canonicalJson({ x: 'c', '2': 'b', '10': 'a' });
    // Assess
    expect(x).toBe(y);
  });
});

describe('sha256Hex', () => {
  it('gives the known SHA-256 of "abc" as 64 lowercase hex characters', () => {
    // Act
    const hex = sha256Hex('abc');
    // Assess
    expect(hex).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes bytes and the same string alike', () => {
    // Act
    const fromBytes = sha256Hex(new TextEncoder().encode('Café'));
    const fromString = sha256Hex('Café');
    // Assess
    expect(fromBytes).toBe(fromString);
    expect(fromBytes).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('changedFields', () => {
  const before = {
    id: 'evt-1',
    kind: 'event',
    description: 'Protest',
    location: { country: 'IR', admin1: 'Tehran' },
    source_ids: ['src-a'],
    killed: { best: 3 },
  };

  it('nothing changed → []', () => {
    // Act
    const changed = changedFields(before, structuredClone(before));
    // Assess
    expect(changed).toEqual([]);
  });

  it('key order is not a change, at any level', () => {
    // Prepare
    const after = { killed: { best: 3 }, source_ids: ['src-a'], location: { admin1: 'Tehran', country: 'IR' }, description: 'Protest', kind: 'event', id: 'evt-1' };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual([]);
  });

  it('lists the changed top-level fields as sorted JSON Pointers', () => {
    // Prepare
    const after = { ...structuredClone(before), description: 'Protest and strike', source_ids: ['src-a', 'src-b'] };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual(['/description', '/source_ids']);
  });

  it('a nested change is reported at its top-level field', () => {
    // Prepare
    const after = { ...structuredClone(before), location: { country: 'IR', admin1: 'Tehran', admin2: 'Tehran' } };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual(['/location']);
  });

  it('an added and a removed field are both changes', () => {
    // Prepare
    const { killed: _dropped, ...rest } = structuredClone(before);
    const after = { ...rest, injured: { low: 10 } };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual(['/injured', '/killed']);
  });

  it('a field set to undefined is the same as an absent field', () => {
    // Prepare
    const after = { ...structuredClone(before), date_end: undefined };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual([]);
  });

  it('null versus absent is a change', () => {
    // Prepare
    const after = { ...structuredClone(before), date_end: null };
    // Act
    const changed = changedFields(before, after);
    // Assess
    expect(changed).toEqual(['/date_end']);
  });

  it('reordering an array is a change', () => {
    // Prepare
    const a = { ...structuredClone(before), source_ids: ['src-a', 'src-b'] };
    const b = { ...structuredClone(before), source_ids: ['src-b', 'src-a'] };
    // Act
    const changed = changedFields(a, b);
    // Assess
    expect(changed).toEqual(['/source_ids']);
  });

  it('with no previous version every field is new, sorted', () => {
    // Act
    const changed = changedFields(undefined, { kind: 'source', id: 'src-1', title: 't' });
    // Assess
    expect(changed).toEqual(['/id', '/kind', '/title']);
  });

  it('a type change with an equal-looking value is a change (1 vs "1")', () => {
    // Act
    const changed = changedFields({ age: 1 }, { age: '1' });
    // Assess
    expect(changed).toEqual(['/age']);
  });
});
