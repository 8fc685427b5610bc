import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyEncryptionKeys } from '../pipeline/sealing.ts';

/**
 * Key-encryption keys on one machine: 256-bit master keys, newest first. The newest wraps new data
 * keys; every one of them unwraps. The oldest (the deployment's first) is also the root of the
 * deployment secret, so HMACs (API keys, content hashes) survive a rotation: it is never dropped.
 *
 * Kept in `LEDGER_DATA_DIR/master.key` (mode 0600, one base64 key per line, newest first, `#` comments),
 * or given as `LEDGER_MASTER_KEY` (the same keys, comma-separated, newest first).
 */
export const MASTER_KEY_FILE = 'master.key';

const WRAP_PREFIX = 'l1';

interface Kek {
  id: string;
  key: Buffer;
}

const kekOf = (master: Buffer): Kek => ({
  // An id that names the key without telling anything about it.
  id: createHmac('sha256', master).update('rights-ledger/kek-id/v1').digest('hex').slice(0, 16),
  key: Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'rights-ledger/kek/v1', 32)),
});

/** Parses master keys (base64 or hex of 32 bytes, newest first); throws with one sentence naming the problem. */
export function parseMasterKeys(text: string, where: string): Buffer[] {
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.length > 0);
  if (entries.length === 0) throw new Error(`${where} holds no key: it needs a 256-bit key (make one with \`openssl rand -base64 32\`)`);
  return entries.map((e, i) => {
    const key = /^[0-9a-f]{64}$/i.test(e) ? Buffer.from(e, 'hex') : Buffer.from(e, 'base64');
    if (key.length !== 32) throw new Error(`${where}: key ${i + 1} is not 256 bits in base64 or hex (make one with \`openssl rand -base64 32\`)`);
    return key;
  });
}

const formatKeyFile = (keys: Buffer[]) =>
  [
    '# rights-ledger master keys: newest first. The newest wraps new data keys; every one unwraps; the last',
    '# (the first this store had) also derives the HMAC secret of API keys and content hashes.',
    '# WITHOUT THIS FILE THE RESTRICTED DATA IN THE STORE CANNOT BE READ. Back it up apart from the data.',
    ...keys.map((k) => k.toString('base64')),
    '',
  ].join('\n');

/** Writes the key file atomically, readable by its owner only. */
async function writeKeyFile(path: string, keys: Buffer[]): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(formatKeyFile(keys));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/**
 * The local master keys: from `LEDGER_MASTER_KEY` when given, else from `dataDir/master.key`, made
 * (one new 256-bit key, mode 0600) when it does not exist yet.
 */
export async function loadLocalKeyring(dataDir: string, envKeys?: string): Promise<{ keyring: LocalKeyring; created: boolean }> {
  if (envKeys) return { keyring: new LocalKeyring(parseMasterKeys(envKeys, 'LEDGER_MASTER_KEY')), created: false };
  const path = join(dataDir, MASTER_KEY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    await writeKeyFile(path, [randomBytes(32)]);
    return { keyring: new LocalKeyring(parseMasterKeys(await readFile(path, 'utf8'), path), path), created: true };
  }
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) await chmod(path, 0o600);
  return { keyring: new LocalKeyring(parseMasterKeys(text, path), path), created: false };
}

/** Adds a new newest key to the key file (KEK rotation); the older ones stay, to unwrap. */
export async function addMasterKey(path: string): Promise<void> {
  const keys = parseMasterKeys(await readFile(path, 'utf8'), path);
  await writeKeyFile(path, [randomBytes(32), ...keys]);
}

/** {@link KeyEncryptionKeys} from local master keys: data keys wrapped with AES-256-GCM. */
export class LocalKeyring implements KeyEncryptionKeys {
  private keks: Kek[];
  private root: Buffer;
  private loadedAt = 0;

  constructor(
    masters: Buffer[],
    /** The key file, re-read when a wrapped key names a KEK this process does not know (a rotation by another process). */
    private readonly file?: string,
  ) {
    this.keks = masters.map(kekOf);
    this.root = masters.at(-1)!;
  }

  get description(): string {
    return this.file ?? 'LEDGER_MASTER_KEY';
  }

  /** The id of the KEK that wraps new data keys. */
  get currentId(): string {
    return this.keks[0]!.id;
  }

  private async reload(): Promise<boolean> {
    if (!this.file) return false;
    const mtime = (await stat(this.file)).mtimeMs;
    if (mtime === this.loadedAt) return false;
    this.loadedAt = mtime;
    const masters = parseMasterKeys(await readFile(this.file, 'utf8'), this.file);
    this.keks = masters.map(kekOf);
    this.root = masters.at(-1)!;
    return true;
  }

  private wrap(kek: Kek, plaintext: Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
    cipher.setAAD(Buffer.from(`rights-ledger/data-key/v1\u0000${kek.id}`));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${WRAP_PREFIX}.${kek.id}.${Buffer.concat([iv, ct]).toString('base64url')}`;
  }

  async generateDataKey(): Promise<{ plaintext: Buffer; wrapped: string }> {
    // A rotation in another process (`keys rotate-kek`) prepends a key to the file: wrap with it from then on.
    await this.reload().catch(() => false);
    const plaintext = randomBytes(32);
    return { plaintext, wrapped: this.wrap(this.keks[0]!, plaintext) };
  }

  private kekFor(wrapped: string): Kek | undefined {
    const [prefix, id] = wrapped.split('.');
    return prefix === WRAP_PREFIX ? this.keks.find((k) => k.id === id) : undefined;
  }

  async unwrap(wrapped: string): Promise<Buffer> {
    let kek = this.kekFor(wrapped);
    if (!kek && (await this.reload())) kek = this.kekFor(wrapped);
    if (!kek) throw new Error('the data key was wrapped by a key-encryption key this deployment does not have');
    const body = Buffer.from(wrapped.split('.')[2] ?? '', 'base64url');
    const iv = body.subarray(0, 12);
    const tag = body.subarray(body.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', kek.key, iv);
    decipher.setAAD(Buffer.from(`rights-ledger/data-key/v1\u0000${kek.id}`));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]);
  }

  async rewrap(wrapped: string): Promise<string | undefined> {
    if (this.kekFor(wrapped)?.id === this.currentId) return undefined;
    return this.wrap(this.keks[0]!, await this.unwrap(wrapped));
  }

  async deploymentSecret(): Promise<Buffer> {
    return Buffer.from(hkdfSync('sha256', this.root, Buffer.alloc(0), 'rights-ledger/deployment-secret/v1', 32));
  }
}

/** A keyring that lives as long as the process: tests and benchmarks only (nothing it seals survives a restart). */
export function ephemeralKeyring(): LocalKeyring {
  return new LocalKeyring([randomBytes(32)]);
}
