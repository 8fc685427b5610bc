import { randomBytes } from 'node:crypto';
import { sha256Hex } from './canonical.ts';
import { notFound, unauthorized, forbidden } from './errors.ts';
import type { ApiKey, Clock, KeyStore, Principal, Role } from './ports.ts';

export interface KeyDeps {
  keys: KeyStore;
  clock: Clock;
}

/** A new API key: 256 random bits, shown once; only its SHA-256 is kept. */
export async function createKey(role: Role, name: string, createdBy: string, deps: KeyDeps): Promise<{ key_id: string; key: string; role: Role }> {
  for (;;) {
    const key = `rl_${randomBytes(32).toString('base64url')}`;
    const keyId = `key_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    const stored: ApiKey = { key_id: keyId, key_sha256: sha256Hex(key), role, name, created_at: deps.clock.now().toISOString(), created_by: createdBy, disabled: false };
    if (await deps.keys.putKey(stored)) return { key_id: keyId, key, role };
  }
}

/**
 * Registers a key the operator chose (LEDGER_BOOTSTRAP_KEY) as an editor. Idempotent: the same key
 * registers once. Refuses keys too short to be secrets. Says what the key really is: a key registered
 * before and disabled since stays disabled (it answers 401), and the caller must say so.
 */
export async function registerBootstrapKey(key: string, deps: KeyDeps): Promise<{ key_id: string; state: 'registered' | 'known' | 'disabled' }> {
  if (key.length < 22) throw new Error('LEDGER_BOOTSTRAP_KEY must be at least 22 characters (128 bits of randomness): make one with `openssl rand -base64 32`');
  const hash = sha256Hex(key);
  const existing = await deps.keys.getKeyByHash(hash);
  if (existing) return { key_id: existing.key_id, state: existing.disabled ? 'disabled' : 'known' };
  // Random, like any key id: an id derived from the key's hash would leak bits of it into logs.
  const keyId = `key_bootstrap_${randomBytes(6).toString('hex')}`;
  await deps.keys.putKey({ key_id: keyId, key_sha256: hash, role: 'editor', name: 'bootstrap (LEDGER_BOOTSTRAP_KEY)', created_at: deps.clock.now().toISOString(), created_by: 'bootstrap', disabled: false });
  return { key_id: keyId, state: 'registered' };
}

export async function disableKey(keyId: string, principal: Principal, deps: KeyDeps): Promise<{ key_id: string; disabled: true }> {
  if (principal.role !== 'editor') throw forbidden('this needs an editor key');
  if (!(await deps.keys.disableKey(keyId, deps.clock.now().toISOString()))) throw notFound(`no key "${keyId}"`);
  return { key_id: keyId, disabled: true };
}

/**
 * The one auth check, used by the local server and by the Lambda authorizer alike: a bearer key that is
 * known and not disabled gives a principal; anything else is 401.
 */
export async function authenticate(authorization: string | undefined, keys: KeyStore): Promise<Principal> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw unauthorized();
  const key = await keys.getKeyByHash(sha256Hex(match[1]!));
  if (!key || key.disabled) throw unauthorized('the API key is unknown or disabled');
  return { keyId: key.key_id, role: key.role };
}
