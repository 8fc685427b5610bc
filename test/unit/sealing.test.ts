import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../pipeline/canonical.ts';
import type { StoredContent } from '../../pipeline/ports.ts';
import { EnvelopeSealer, SealError, comparable, isSealed, type KeyEncryptionKeys, type SealRef } from '../../pipeline/sealing.ts';
import { LocalKeyring, MASTER_KEY_FILE, addMasterKey, loadLocalKeyring, parseMasterKeys } from '../../storage/kek-local.ts';

const CANARY = 'CANARY-unit-7f3a';
const person = (extra: Record<string, unknown> = {}) =>
  ({ id: 'per-a', kind: 'person', name: `${CANARY}-name`, name_fa: `${CANARY}-fa`, name_disclosure: 'withheld', fate: 'detained', source_ids: ['src-a'], restricted: { witness: `${CANARY}-witness`, notes: `${CANARY}-notes` }, ...extra }) as unknown as StoredContent;
const REF: SealRef = { id: 'per-a', kind: 'person', revision: 2 };

/** A KEK that counts its calls. */
function counting(inner: KeyEncryptionKeys) {
  const calls = { generate: 0, unwrap: 0 };
  const keks: KeyEncryptionKeys = {
    description: 'counting',
    generateDataKey: () => (calls.generate++, inner.generateDataKey()),
    unwrap: (w) => (calls.unwrap++, inner.unwrap(w)),
    rewrap: (w) => inner.rewrap(w),
    deploymentSecret: () => inner.deploymentSecret(),
  };
  return { keks, calls };
}

describe('sealing a content', () => {
  const sealer = new EnvelopeSealer(new LocalKeyring([randomBytes(32)]));

  it('seals restricted and withheld names, and nothing of them is left in plain text', async () => {
    const sealed = await sealer.seal(REF, person());
    const c = sealed as unknown as Record<string, unknown>;
    expect(isSealed(c.restricted) && isSealed(c.name) && isSealed(c.name_fa)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain(CANARY);
    expect(c.fate).toBe('detained');
  });

  it('opens what it sealed, for the same record, revision and field', async () => {
    expect(await sealer.reveal(REF, await sealer.seal(REF, person()), 'all')).toEqual(person());
  });

  it('leaves names in plain text when they are public or given with consent (the publisher never decrypts)', async () => {
    for (const disclosure of ['public_record', 'consent']) {
      const c = (await sealer.seal(REF, person({ name_disclosure: disclosure }))) as unknown as Record<string, unknown>;
      expect(c.name).toBe(`${CANARY}-name`);
      expect(isSealed(c.restricted)).toBe(true);
    }
  });

  it('seals names when name_disclosure is absent (withheld is the default and the safe reading)', async () => {
    const { name_disclosure: _d, ...rest } = person() as unknown as Record<string, unknown>;
    const c = (await sealer.seal(REF, rest as unknown as StoredContent)) as unknown as Record<string, unknown>;
    expect(isSealed(c.name)).toBe(true);
  });

  it("scope 'names' opens the withheld names only, never restricted", async () => {
    const opened = (await sealer.reveal(REF, await sealer.seal(REF, person()), 'names')) as unknown as Record<string, unknown>;
    expect(opened.name).toBe(`${CANARY}-name`);
    expect(isSealed(opened.restricted)).toBe(true);
  });

  const bound: Array<[string, SealRef]> = [
    ['another record id', { ...REF, id: 'per-b' }],
    ['another kind', { ...REF, kind: 'event' }],
    ['another revision', { ...REF, revision: 1 }],
  ];
  for (const [what, ref] of bound) {
    it(`does not open as ${what} (associated data)`, async () => {
      const sealed = await sealer.seal(REF, person());
      await expect(sealer.reveal(ref, sealed, 'all')).rejects.toThrow(SealError);
    });
  }

  it('does not open in another field of the same record', async () => {
    const sealed = (await sealer.seal(REF, person())) as unknown as Record<string, unknown>;
    const moved = { ...sealed, name: sealed.name_fa } as unknown as StoredContent;
    await expect(sealer.reveal(REF, moved, 'names')).rejects.toThrow(SealError);
  });

  it('does not open when one bit of the ciphertext changed', async () => {
    const sealed = (await sealer.seal(REF, person())) as unknown as Record<string, any>;
    const ct = Buffer.from(sealed.restricted.ct, 'base64url');
    ct[0]! ^= 1;
    const altered = { ...sealed, restricted: { ...sealed.restricted, ct: ct.toString('base64url') } } as unknown as StoredContent;
    await expect(sealer.reveal(REF, altered, 'all')).rejects.toThrow(SealError);
  });

  it('does not open under another deployment\'s keys', async () => {
    const sealed = await sealer.seal(REF, person());
    await expect(new EnvelopeSealer(new LocalKeyring([randomBytes(32)])).reveal(REF, sealed, 'all')).rejects.toThrow(SealError);
  });

  it('compares revisions by MACs bound to the record: equal values compare equal, without opening', async () => {
    const a = comparable(await sealer.seal(REF, person()));
    const b = comparable(await sealer.seal({ ...REF, revision: 3 }, person()));
    const c = comparable(await sealer.seal({ ...REF, revision: 3 }, person({ restricted: { notes: 'other' } })));
    expect(a!.restricted).toEqual(b!.restricted);
    expect(c!.restricted).not.toEqual(a!.restricted);
    expect(comparable(await sealer.seal({ ...REF, id: 'per-b' }, person()))!.restricted).not.toEqual(a!.restricted);
  });
});

describe('keyed hashes', () => {
  it('the content hash is an HMAC: not the bare SHA-256, and another deployment gets another', async () => {
    const a = new EnvelopeSealer(new LocalKeyring([randomBytes(32)]));
    const b = new EnvelopeSealer(new LocalKeyring([randomBytes(32)]));
    const content = person();
    expect(await a.contentMac(content)).not.toBe(sha256Hex(canonicalJson(content)));
    expect(await a.contentMac(content)).toBe(await a.contentMac(structuredClone(content)));
    expect(await a.contentMac(content)).not.toBe(await b.contentMac(content));
  });

  it('an API key is stored as an HMAC of its SHA-256, which depends on the deployment', async () => {
    const a = new EnvelopeSealer(new LocalKeyring([randomBytes(32)]));
    const sha = sha256Hex('rl_some_key');
    expect(await a.apiKeyMac(sha)).toMatch(/^[0-9a-f]{64}$/);
    expect(await a.apiKeyMac(sha)).not.toBe(sha);
    expect(await a.apiKeyMac(sha)).not.toBe(await new EnvelopeSealer(new LocalKeyring([randomBytes(32)])).apiKeyMac(sha));
  });
});

describe('the data-key cache', () => {
  it('one data key seals many records: KEK calls do not grow with the number of values', async () => {
    const { keks, calls } = counting(new LocalKeyring([randomBytes(32)]));
    const sealer = new EnvelopeSealer(keks);
    const sealed = await Promise.all(Array.from({ length: 500 }, (_, i) => sealer.seal({ ...REF, id: `per-${i}` }, person())));
    expect(calls.generate).toBe(1);
    await Promise.all(sealed.map((s, i) => sealer.reveal({ ...REF, id: `per-${i}` }, s, 'all')));
    expect(calls.unwrap).toBeLessThanOrEqual(1);
  });

  it('a data key is replaced after maxUses values', async () => {
    const { keks, calls } = counting(new LocalKeyring([randomBytes(32)]));
    const sealer = new EnvelopeSealer(keks, { maxUses: 9 });
    for (let i = 0; i < 10; i++) await sealer.seal(REF, person()); // 3 values each
    expect(calls.generate).toBe(4);
  });

  it('a data key is replaced after maxAgeMs, for sealing and for opening', async () => {
    let t = 0;
    const { keks, calls } = counting(new LocalKeyring([randomBytes(32)]));
    const sealer = new EnvelopeSealer(keks, { maxAgeMs: 1000, now: () => t });
    const s = await sealer.seal(REF, person());
    await sealer.reveal(REF, s, 'all');
    t = 999;
    await sealer.seal(REF, person());
    await sealer.reveal(REF, s, 'all');
    expect(calls).toEqual({ generate: 1, unwrap: 1 });
    t = 1000;
    await sealer.seal(REF, person());
    await sealer.reveal(REF, s, 'all');
    expect(calls).toEqual({ generate: 2, unwrap: 2 });
  });
});

describe('local master keys', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ledger-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are made at first use in the data folder, 256 bits, mode 0600, and read back the same', async () => {
    const first = await loadLocalKeyring(dir);
    expect(first.created).toBe(true);
    const path = join(dir, MASTER_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(parseMasterKeys(await readFile(path, 'utf8'), path)[0]).toHaveLength(32);
    const again = await loadLocalKeyring(dir);
    expect(again.created).toBe(false);
    const sealed = await new EnvelopeSealer(first.keyring).seal(REF, person());
    expect(await new EnvelopeSealer(again.keyring).reveal(REF, sealed, 'all')).toEqual(person());
  });

  it('LEDGER_MASTER_KEY takes precedence, in base64 or hex; a short key is refused with one sentence', async () => {
    const key = randomBytes(32);
    const a = await loadLocalKeyring(dir, key.toString('base64'));
    const b = await loadLocalKeyring(dir, key.toString('hex'));
    expect(await new EnvelopeSealer(a.keyring).apiKeyMac('x')).toBe(await new EnvelopeSealer(b.keyring).apiKeyMac('x'));
    await expect(loadLocalKeyring(dir, randomBytes(16).toString('base64'))).rejects.toThrow(/not 256 bits/);
  });

  it('rotation: a new key wraps new data keys, the old ones still unwrap, and the HMAC secret stays', async () => {
    const rotDir = await mkdtemp(join(dir, 'rot-'));
    const before = (await loadLocalKeyring(rotDir)).keyring;
    const oldSealer = new EnvelopeSealer(before);
    const old = await oldSealer.seal(REF, person());
    await addMasterKey(join(rotDir, MASTER_KEY_FILE));
    const after = (await loadLocalKeyring(rotDir)).keyring;
    expect(after.currentId).not.toBe(before.currentId);
    const sealer = new EnvelopeSealer(after);
    expect(await sealer.reveal(REF, old, 'all')).toEqual(person());
    const fresh = (await sealer.seal(REF, person())) as unknown as Record<string, any>;
    expect(fresh.restricted.dk).toContain(after.currentId);
    expect(await sealer.apiKeyMac('x')).toBe(await oldSealer.apiKeyMac('x'));
    const rewrapped = await sealer.rewrapValue((old as unknown as Record<string, any>).restricted);
    expect(rewrapped!.dk).toContain(after.currentId);
    expect(await sealer.rewrapValue(rewrapped!)).toBeUndefined();
  });
});
