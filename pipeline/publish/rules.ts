import { sha256Hex } from '../canonical.ts';
import { REDACTION_RULES } from '../redact.ts';
import { TABLES, TABLE_NAMES } from '../../schemas/tables.ts';

/**
 * A fingerprint of what shapes every published row: the redaction rules' version and each table's
 * columns. A release built under another fingerprint is not built upon: the next publish rebuilds in full.
 */
export const RELEASE_RULES = sha256Hex(
  JSON.stringify({ redaction: REDACTION_RULES, tables: TABLE_NAMES.map((t) => [t, TABLES[t].columns.map((c) => [c.name, c.type, c.source])]) }),
).slice(0, 16);
