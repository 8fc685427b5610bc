/**
 * The aliases of a deployment's KMS keys, from its name prefix (= its table name): the stateful stack
 * makes them, the functions and the command line find the keys by them (no cross-stack export).
 */
export function kmsAliases(namePrefix: string): { records: string; mac: string } {
  return { records: `alias/${namePrefix}-records`, mac: `alias/${namePrefix}-api-mac` };
}
