import { DecryptCommand, EncryptCommand, GenerateDataKeyCommand, GenerateMacCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import type { KeyEncryptionKeys } from '../pipeline/sealing.ts';
import { CLIENT_TIMEOUTS, retriesButNotTimeouts, type ClientTimeouts } from './store-adapters.ts';

const WRAP_PREFIX = 'k1';
/** Bound to every data key KMS wraps: a blob made for anything else does not decrypt as one of ours. */
const ENCRYPTION_CONTEXT = { purpose: 'rights-ledger/data-key/v1' };
/** The message whose HMAC under the deployment's MAC key is the deployment secret (one KMS call per cold start). */
const SECRET_MESSAGE = new TextEncoder().encode('rights-ledger/deployment-secret/v1');

/**
 * The KMS client's bounds. Every KMS call is small and most are made within an API request (a submit's
 * GenerateDataKey, a read's Decrypt, the authorizer's GenerateMac at cold start), so it gets the API's:
 * a 1 s connect and a 4 s request (thrown, not just warned), a timeout never retried. A silent KMS then
 * fails a request with 503 well inside API Gateway's 29 s, as a silent DynamoDB does (issue 9). The
 * sealing migration and the command line make the same small calls and get the same bounds.
 */
export function kmsClientConfig(t: ClientTimeouts = CLIENT_TIMEOUTS): KMSClientConfig {
  return {
    maxAttempts: t.maxAttempts,
    retryStrategy: retriesButNotTimeouts(t.maxAttempts),
    requestHandler: { connectionTimeout: t.connectionMs, requestTimeout: t.dynamodbRequestMs, throwOnRequestTimeout: true },
  };
}

export interface KmsKeyringSettings {
  /** The symmetric KEK: key id, ARN or alias (`alias/rights-ledger-records`). */
  keyId: string;
  /** The HMAC_256 key the deployment secret is derived from (GenerateMac). */
  macKeyId: string;
  /** Merged over {@link kmsClientConfig} (an endpoint, credentials, other bounds). */
  client?: KMSClientConfig;
}

/**
 * {@link KeyEncryptionKeys} in AWS: a customer-managed KMS key wraps the data keys (GenerateDataKey,
 * Decrypt), and an HMAC KMS key gives the deployment secret. KMS keeps every backing key of a rotated
 * key, so older blobs still decrypt; {@link rewrap} moves a blob to `keyId` (Decrypt, then Encrypt),
 * which is what a move to a new KMS key needs.
 */
export class KmsKeyring implements KeyEncryptionKeys {
  private readonly kms: KMSClient;
  private secret?: Promise<Buffer>;

  constructor(private readonly settings: KmsKeyringSettings) {
    this.kms = new KMSClient({ ...kmsClientConfig(), ...(settings.client ?? {}) });
  }

  get description(): string {
    return `KMS ${this.settings.keyId}`;
  }

  async generateDataKey(): Promise<{ plaintext: Buffer; wrapped: string }> {
    const out = await this.kms.send(new GenerateDataKeyCommand({ KeyId: this.settings.keyId, KeySpec: 'AES_256', EncryptionContext: ENCRYPTION_CONTEXT }));
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw new Error('KMS GenerateDataKey answered without a key');
    return { plaintext: Buffer.from(out.Plaintext), wrapped: `${WRAP_PREFIX}.${Buffer.from(out.CiphertextBlob).toString('base64url')}` };
  }

  private blob(wrapped: string): Buffer {
    const [prefix, body] = wrapped.split('.');
    if (prefix !== WRAP_PREFIX || !body) throw new Error('the data key was not wrapped by KMS');
    return Buffer.from(body, 'base64url');
  }

  async unwrap(wrapped: string): Promise<Buffer> {
    // No KeyId: the blob names its key, and a key policy decides who may decrypt with it.
    const out = await this.kms.send(new DecryptCommand({ CiphertextBlob: this.blob(wrapped), EncryptionContext: ENCRYPTION_CONTEXT }));
    if (!out.Plaintext) throw new Error('KMS Decrypt answered without a key');
    return Buffer.from(out.Plaintext);
  }

  async rewrap(wrapped: string): Promise<string | undefined> {
    const out = await this.kms.send(new DecryptCommand({ CiphertextBlob: this.blob(wrapped), EncryptionContext: ENCRYPTION_CONTEXT }));
    if (!out.Plaintext) throw new Error('KMS Decrypt answered without a key');
    const target = await this.kms.send(new EncryptCommand({ KeyId: this.settings.keyId, Plaintext: out.Plaintext, EncryptionContext: ENCRYPTION_CONTEXT }));
    // Same key (ARN compared): KMS rotation already keeps it readable; nothing to rewrite.
    if (out.KeyId && out.KeyId === target.KeyId) return undefined;
    return `${WRAP_PREFIX}.${Buffer.from(target.CiphertextBlob!).toString('base64url')}`;
  }

  deploymentSecret(): Promise<Buffer> {
    this.secret ??= this.kms.send(new GenerateMacCommand({ KeyId: this.settings.macKeyId, MacAlgorithm: 'HMAC_SHA_256', Message: SECRET_MESSAGE })).then(
      (out) => {
        if (!out.Mac) throw new Error('KMS GenerateMac answered without a MAC');
        return Buffer.from(out.Mac);
      },
      (err) => {
        this.secret = undefined;
        throw err;
      },
    );
    return this.secret;
  }
}

/** For functions that must never seal, open or hash with the deployment's keys (the publisher): any use is a bug. */
export class NoKeys implements KeyEncryptionKeys {
  readonly description = 'none (this function has no key)';
  private refuse(): never {
    throw new Error('this function has no key-encryption key: it must not seal, open or hash sealed data');
  }
  async generateDataKey(): Promise<{ plaintext: Buffer; wrapped: string }> {
    this.refuse();
  }
  async unwrap(): Promise<Buffer> {
    this.refuse();
  }
  async rewrap(): Promise<string | undefined> {
    this.refuse();
  }
  async deploymentSecret(): Promise<Buffer> {
    this.refuse();
  }
}
