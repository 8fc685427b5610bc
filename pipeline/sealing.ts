import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { RecordKind } from '../schemas/records.ts';
import { canonicalJson } from './canonical.ts';
import type { StoredContent } from './ports.ts';

/**
 * Field-level envelope encryption of what is never published (DATA.md): every record's `restricted`
 * object, and a person's `name` / `name_fa` while `name_disclosure` is withheld.
 *
 * Each sealed value is AES-256-GCM under a data key; the data key is wrapped by a key-encryption key
 * (KEK: a KMS key in AWS, a local master key on one machine) and travels with the value. The record's
 * kind, id, revision and the field's JSON Pointer are the associated data, so a sealed value moved to
 * another record, revision or field does not decrypt. Data keys are cached, bounded in age and uses,
 * the way the AWS Encryption SDK's caching does, so KMS calls do not grow with the batch size.
 *
 * Hashes kept beside sealed values are HMAC-SHA-256 under keys derived from the deployment's secret:
 * without that secret a copy of the table cannot confirm a guess offline.
 */

/** The key-encryption keys of a deployment (storage/kek-local.ts, storage/kek-kms.ts). */
export interface KeyEncryptionKeys {
  /** A fresh 256-bit data key, and the same key wrapped by the current KEK (an opaque string naming that KEK). */
  generateDataKey(): Promise<{ plaintext: Buffer; wrapped: string }>;
  /** The data key inside `wrapped`, whichever of the deployment's KEKs wrapped it; throws when none can. */
  unwrap(wrapped: string): Promise<Buffer>;
  /** `wrapped` re-wrapped by the current KEK, or undefined when the current KEK wraps it already. */
  rewrap(wrapped: string): Promise<string | undefined>;
  /** 32 bytes that stay the same for the life of the deployment (KEK rotation included): the root of every HMAC key. */
  deploymentSecret(): Promise<Buffer>;
  /** Where the key material is, for messages (`/path/master.key`, `KMS alias/…`). */
  readonly description: string;
}

/** A sealed value, in place of the plain one inside a stored content. */
export interface SealedValue {
  /** Format version. */
  $sealed: 1;
  /** The data key, wrapped by a KEK. */
  dk: string;
  /** 96-bit GCM nonce, base64url. */
  iv: string;
  /** Ciphertext with the 128-bit tag appended, base64url. */
  ct: string;
  /** HMAC of the plain value, bound to the record and field: tells revisions of one record apart without decrypting. */
  mac: string;
}

/** Which record revision a content belongs to: bound into every sealed value of it. */
export interface SealRef {
  id: string;
  kind: RecordKind;
  revision: number;
}

/** `all`: everything sealed (editors). `names`: withheld names only (the contributor that sent them). */
export type RevealScope = 'all' | 'names';

/** What the use cases need: seal on write, reveal only where a reader may see it, keyed content hashes. */
export interface RecordSealer {
  /** `content` with its restricted object and withheld names sealed for `ref`. */
  seal(ref: SealRef, content: StoredContent): Promise<StoredContent>;
  /** `content` with the sealed values of `scope` opened; throws {@link SealError} when one does not open for `ref`. */
  reveal(ref: SealRef, content: StoredContent, scope: RevealScope): Promise<StoredContent>;
  /** The keyed hash of a plain content (canonical JSON): what `content_sha256` stores, for the "unchanged" check. */
  contentMac(content: StoredContent): Promise<string>;
}

/** A sealed value that does not open: tampered with, moved from another record or field, or its KEK is gone. */
export class SealError extends Error {
  override name = 'SealError';
}

/** The fields sealed while a person's name is withheld (DATA.md: published as null). */
const NAME_FIELDS = ['name', 'name_fa'] as const;
const RESTRICTED = 'restricted';

/**
 * Whether a content's names are withheld: the same reading as the redaction (redact.ts): anything but
 * `public_record` or `consent` counts as withheld, the default and the safe reading.
 */
export function namesWithheld(kind: RecordKind, content: Record<string, unknown>): boolean {
  return kind === 'person' && content.name_disclosure !== 'public_record' && content.name_disclosure !== 'consent';
}

/** The top-level fields of `content` that are sealed when written (in this order). */
function sealedFields(kind: RecordKind, content: Record<string, unknown>): string[] {
  const fields: string[] = [];
  if (content[RESTRICTED] !== undefined) fields.push(RESTRICTED);
  if (namesWithheld(kind, content)) for (const f of NAME_FIELDS) if (content[f] !== undefined) fields.push(f);
  return fields;
}

export function isSealed(value: unknown): value is SealedValue {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return v.$sealed === 1 && typeof v.dk === 'string' && typeof v.iv === 'string' && typeof v.ct === 'string' && typeof v.mac === 'string';
}

/** Whether a content holds a value that should be sealed and is not (written before sealing existed). */
export function hasPlainSecrets(kind: RecordKind, content: Record<string, unknown>): boolean {
  return sealedFields(kind, content).some((f) => !isSealed(content[f]));
}

/**
 * A content with each sealed value replaced by its MAC: what changed between two revisions of one
 * record can be told from it (its sealed values are bound to the record) without opening anything.
 */
export function comparable(content: StoredContent | undefined): Record<string, unknown> | undefined {
  if (!content) return undefined;
  return Object.fromEntries(Object.entries(content).map(([k, v]) => [k, isSealed(v) ? { $mac: v.mac } : v]));
}

const b64 = (b: Buffer) => b.toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');

/** The associated data of one sealed value: format, kind, id, revision and field, unambiguous (NUL-separated). */
const aad = (ref: SealRef, field: string) => Buffer.from(['rights-ledger/sealed/v1', ref.kind, ref.id, String(ref.revision), `/${field}`].join('\u0000'), 'utf8');

/** How long and how often one data key is used, as the AWS Encryption SDK's caching CMM bounds it. */
export interface DataKeyCacheLimits {
  /** A data key is used to seal for at most this long (ms). Default 5 minutes. */
  maxAgeMs: number;
  /** … and for at most this many sealed values. Default 10,000 (GCM with random nonces allows far more). */
  maxUses: number;
  /** Unwrapped data keys kept for reading. Default 1,000. */
  maxEntries: number;
}

const DEFAULT_LIMITS: DataKeyCacheLimits = { maxAgeMs: 5 * 60_000, maxUses: 10_000, maxEntries: 1000 };

interface CachedKey {
  plaintext: Buffer;
  wrapped: string;
  created: number;
  uses: number;
}

/** HKDF-SHA-256 of the deployment secret for one purpose. */
const derive = (secret: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `rights-ledger/${purpose}/v1`, 32));

/** The one {@link RecordSealer}: AES-256-GCM envelopes under the deployment's KEKs, HMAC-SHA-256 under its secret. */
export class EnvelopeSealer implements RecordSealer {
  private current?: CachedKey;
  private generating?: Promise<CachedKey>;
  /** Unwrapped data keys by their wrapped form; a pending unwrap is shared by concurrent readers. */
  private readonly opened = new Map<string, { plaintext: Promise<Buffer>; created: number; uses: number }>();
  private macKeys?: Promise<{ content: Buffer; field: Buffer; apiKey: Buffer }>;
  private readonly limits: DataKeyCacheLimits;
  private readonly now: () => number;

  constructor(
    readonly keks: KeyEncryptionKeys,
    opts: Partial<DataKeyCacheLimits> & { now?: () => number } = {},
  ) {
    const { now, ...limits } = opts;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.now = now ?? Date.now;
  }

  private keys() {
    this.macKeys ??= this.keks.deploymentSecret().then(
      (secret) => ({ content: derive(secret, 'content-mac'), field: derive(secret, 'field-mac'), apiKey: derive(secret, 'api-key') }),
      (err) => {
        this.macKeys = undefined;
        throw err;
      },
    );
    return this.macKeys;
  }

  /** A data key to seal with: the cached one while it is young and little used, else a new one (one KEK call, shared by concurrent callers). */
  private async dataKey(uses: number): Promise<CachedKey> {
    for (;;) {
      const c = this.current;
      if (c && this.now() - c.created < this.limits.maxAgeMs && c.uses + uses <= this.limits.maxUses) {
        c.uses += uses;
        return c;
      }
      this.generating ??= this.keks.generateDataKey().then(
        ({ plaintext, wrapped }) => {
          this.current = { plaintext, wrapped, created: this.now(), uses: 0 };
          this.generating = undefined;
          return this.current;
        },
        (err) => {
          this.generating = undefined;
          throw err;
        },
      );
      await this.generating;
    }
  }

  private openKey(wrapped: string): Promise<Buffer> {
    const hit = this.opened.get(wrapped);
    if (hit && this.now() - hit.created < this.limits.maxAgeMs && hit.uses < this.limits.maxUses) {
      hit.uses++;
      return hit.plaintext;
    }
    const plaintext = this.keks.unwrap(wrapped).catch((err: unknown) => {
      this.opened.delete(wrapped);
      throw new SealError("a sealed value's data key does not unwrap with any key-encryption key of this deployment", { cause: err });
    });
    this.opened.delete(wrapped);
    if (this.opened.size >= this.limits.maxEntries) this.opened.delete(this.opened.keys().next().value!);
    this.opened.set(wrapped, { plaintext, created: this.now(), uses: 1 });
    return plaintext;
  }

  private fieldMac(key: Buffer, ref: SealRef, field: string, value: unknown): string {
    return createHmac('sha256', key).update([ref.kind, ref.id, `/${field}`, canonicalJson(value)].join('\u0000')).digest('base64url');
  }

  async seal(ref: SealRef, content: StoredContent): Promise<StoredContent> {
    const plain = content as unknown as Record<string, unknown>;
    const fields = sealedFields(ref.kind, plain).filter((f) => !isSealed(plain[f]));
    if (fields.length === 0) return content;
    const [key, macs] = await Promise.all([this.dataKey(fields.length), this.keys()]);
    const out: Record<string, unknown> = { ...plain };
    for (const field of fields) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
      cipher.setAAD(aad(ref, field));
      const ct = Buffer.concat([cipher.update(JSON.stringify(plain[field]), 'utf8'), cipher.final(), cipher.getAuthTag()]);
      const sealed: SealedValue = { $sealed: 1, dk: key.wrapped, iv: b64(iv), ct: b64(ct), mac: this.fieldMac(macs.field, ref, field, plain[field]) };
      out[field] = sealed;
    }
    return out as unknown as StoredContent;
  }

  async reveal(ref: SealRef, content: StoredContent, scope: RevealScope): Promise<StoredContent> {
    const stored = content as unknown as Record<string, unknown>;
    const fields = Object.keys(stored).filter((f) => isSealed(stored[f]) && (scope === 'all' || (NAME_FIELDS as readonly string[]).includes(f)));
    if (fields.length === 0) return content;
    const out: Record<string, unknown> = { ...stored };
    for (const field of fields) {
      const sealed = stored[field] as SealedValue;
      const key = await this.openKey(sealed.dk);
      const ct = unb64(sealed.ct);
      if (ct.length < 16) throw new SealError(`the sealed value at /${field} of ${ref.kind} "${ref.id}" is truncated`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, unb64(sealed.iv));
        decipher.setAAD(aad(ref, field));
        decipher.setAuthTag(ct.subarray(ct.length - 16));
        out[field] = JSON.parse(Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]).toString('utf8'));
      } catch (err) {
        throw new SealError(`the sealed value at /${field} of ${ref.kind} "${ref.id}" revision ${ref.revision} does not open: it was altered or belongs elsewhere`, { cause: err });
      }
    }
    return out as unknown as StoredContent;
  }

  async contentMac(content: StoredContent): Promise<string> {
    return createHmac('sha256', (await this.keys()).content).update(canonicalJson(content)).digest('hex');
  }

  /** How an API key is stored: HMAC-SHA-256 of its SHA-256 under a key of the deployment (storage/dynamodb-key-store.ts). */
  async apiKeyMac(keySha256: string): Promise<string> {
    return createHmac('sha256', (await this.keys()).apiKey).update(keySha256).digest('hex');
  }

  /** A sealed value with its data key re-wrapped by the current KEK (same plaintext), or undefined when it is already. */
  async rewrapValue(value: SealedValue): Promise<SealedValue | undefined> {
    const dk = await this.keks.rewrap(value.dk);
    return dk === undefined ? undefined : { ...value, dk };
  }
}

/**
 * A KEK and secret that live as long as the process: what a use case seals with when its caller gave no
 * sealer (benchmarks that build their deps by hand). Nothing it seals can be read after the process
 * ends, and nothing is ever stored in plain text for want of a key. Every entry point passes the
 * deployment's sealer (storage/adapters.ts).
 */
class ProcessKeys implements KeyEncryptionKeys {
  readonly description = 'a key of this process only';
  private readonly kek = randomBytes(32);
  private readonly secret = randomBytes(32);
  async generateDataKey(): Promise<{ plaintext: Buffer; wrapped: string }> {
    const plaintext = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek, iv);
    return { plaintext, wrapped: `p1.${Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('base64url')}` };
  }
  async unwrap(wrapped: string): Promise<Buffer> {
    const body = unb64(wrapped.slice(3));
    const decipher = createDecipheriv('aes-256-gcm', this.kek, body.subarray(0, 12));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]);
  }
  async rewrap(): Promise<string | undefined> {
    return undefined;
  }
  async deploymentSecret(): Promise<Buffer> {
    return this.secret;
  }
}

let processSealer: EnvelopeSealer | undefined;
/** The sealer of {@link ProcessKeys}, made on first use. */
export const sealerOfProcess = (): EnvelopeSealer => (processSealer ??= new EnvelopeSealer(new ProcessKeys()));
