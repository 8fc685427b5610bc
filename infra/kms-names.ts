/**
 * The aliases of a deployment's KMS keys, from its name prefix (= its table name): the stateful stack
 * makes them, the functions and the command line find the keys by them (no cross-stack export).
 */
export function kmsAliases(namePrefix: string): { records: string; mac: string } {
  return { records: `alias/${namePrefix}-records`, mac: `alias/${namePrefix}-api-mac` };
}

/** The IAM role name of one function of a deployment: fixed, so the stateful stack's key policies can name it before it exists. */
export function functionRoleName(namePrefix: string, fn: string): string {
  return `${namePrefix}-${fn}`;
}

/**
 * Which functions may use which KMS key, and for what: the one list both stacks read (the key policies
 * in the stateful stack, the role policies and environment in the stateless one). The publisher is not
 * in it: it never seals, opens or hashes, and gets no KMS permission at all.
 */
export const KMS_USERS = {
  /** Seals what it stores: new data keys. */
  'api-submit': { records: ['kms:GenerateDataKey'], mac: ['kms:GenerateMac'] },
  /** Opens sealed values for editors (and a contributor's own withheld names). */
  'api-records': { records: ['kms:Decrypt'], mac: [] },
  /** Stores new API keys by their HMAC. */
  'api-keys': { records: [], mac: ['kms:GenerateMac'] },
  /** Looks API keys up by their HMAC. */
  authorizer: { records: [], mac: ['kms:GenerateMac'] },
  /** The one-time sealing migration (custom resource at deploy): re-keys bare SHA-256 API keys and content hashes, seals plain records. */
  'sealing-migration': { records: ['kms:GenerateDataKey', 'kms:Decrypt'], mac: ['kms:GenerateMac'] },
} as const satisfies Record<string, { records: readonly string[]; mac: readonly string[] }>;
export type KmsUser = keyof typeof KMS_USERS;
