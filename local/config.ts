import { resolve } from 'node:path';
import { z } from 'zod';
import { REVIEW_POLICIES, type ReviewPolicy } from '../pipeline/ports.ts';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);

const LocalEnv = z.object({
  LEDGER_DATA_DIR: z.string().min(1).default('.data'),
  LEDGER_PORT: port(3000),
  LEDGER_DYNAMODB_PORT: port(8000),
  LEDGER_S3_PORT: port(4569),
  LEDGER_EXAMPLE: z.enum(['0', '1']).default('1'),
  LEDGER_BOOTSTRAP_KEY: z.string().optional(),
  LEDGER_MASTER_KEY: z.string().optional(),
  LEDGER_PUBLISH_INTERVAL: z.coerce.number().int().min(1).optional(),
  LEDGER_MAX_DROP_SHARE: z.coerce.number().min(0).max(1).default(0.01),
  LEDGER_REVIEW_POLICY: z.enum(REVIEW_POLICIES, { message: `must be ${REVIEW_POLICIES.join(' or ')}` }).default('single'),
});

/** The one-machine stack's settings (RUN.md), read once from the environment. */
export interface LocalConfig {
  dataDir: string;
  port: number;
  dynamodbPort: number;
  s3Port: number;
  loadExample: boolean;
  bootstrapKey?: string;
  /** LEDGER_MASTER_KEY: the master keys (base64 or hex, comma-separated, newest first); absent = the key file in dataDir. */
  masterKey?: string;
  publishIntervalSeconds?: number;
  maxDropShare: number;
  /** Who may approve: `single` (any editor; editors' submissions land approved) or `four_eyes`. */
  reviewPolicy: ReviewPolicy;
  tableName: string;
  bucketName: string;
}

export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const parsed = LocalEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.')}: ${issue.message}: fix or unset it and run again.`);
  }
  const e = parsed.data;
  return {
    dataDir: resolve(e.LEDGER_DATA_DIR),
    port: e.LEDGER_PORT,
    dynamodbPort: e.LEDGER_DYNAMODB_PORT,
    s3Port: e.LEDGER_S3_PORT,
    loadExample: e.LEDGER_EXAMPLE === '1',
    bootstrapKey: e.LEDGER_BOOTSTRAP_KEY || undefined,
    masterKey: e.LEDGER_MASTER_KEY || undefined,
    publishIntervalSeconds: e.LEDGER_PUBLISH_INTERVAL,
    maxDropShare: e.LEDGER_MAX_DROP_SHARE,
    reviewPolicy: e.LEDGER_REVIEW_POLICY,
    tableName: 'rights-ledger',
    bucketName: 'rights-ledger-public',
  };
}
