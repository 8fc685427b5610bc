import { z } from 'zod';
import { Actor } from './primitives.ts';
import { RECORD_KINDS, RECORD_SCHEMAS, type RecordKind } from './records.ts';

/**
 * The published tables, DERIVED from the zod record schemas: Parquet columns, Frictionless Table
 * Schemas and Athena DDL all come from here, so a field added to a record kind appears everywhere.
 */
export const TABLE_NAMES = ['sources', 'events', 'event_actors', 'claims', 'persons', 'changes'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

export const KIND_TABLE: Record<RecordKind, TableName> = { source: 'sources', event: 'events', claim: 'claims', person: 'persons' };

export type ColumnType = 'string' | 'date' | 'timestamp' | 'integer' | 'number' | 'string_list';

export interface Column {
  name: string;
  type: ColumnType;
  /** Where the value sits in the published (nested) record: ['location', 'admin1'], ['killed', 'best']. */
  source: string[];
  required: boolean;
  enum?: string[];
  description?: string;
}

export interface TableDef {
  name: TableName;
  kind?: RecordKind;
  description: string;
  columns: Column[];
  primaryKey?: string[];
  foreignKeys?: Array<{ fields: string[]; reference: { resource: string; fields: string[] } }>;
}

/** Server fields every published record carries (DATA.md "What is published"). */
export const PublishedServerFields = z.object({
  revision: z.int().min(1).meta({ description: 'The approved revision published.' }),
  updated_at: z.iso.datetime().meta({ description: 'When that revision was submitted (UTC).' }),
  first_published: z.string().meta({ description: 'The release in which the record first appeared.' }),
});

/** One row per record that differs from the previous release. */
export const ChangeRow = z.object({
  op: z.enum(['add', 'modify', 'delete']),
  table_name: z.enum(['sources', 'events', 'claims', 'persons']),
  id: z.string(),
  revision: z.int().nullable().meta({ description: 'Null for a delete.' }),
  previous_revision: z.int().nullable().meta({ description: 'Null for an add.' }),
  reason: z.string().nullable().meta({ description: 'The retraction reason for a delete, else null.' }),
});
export type ChangeRow = z.infer<typeof ChangeRow>;

/** Fields that are never columns: dropped before publishing, constant per table, or a table of their own. */
const NOT_COLUMNS = new Set(['restricted', 'expected_revision', 'kind', 'actors']);

interface JsonSchemaNode {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  items?: JsonSchemaNode;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  description?: string;
  anyOf?: JsonSchemaNode[];
}

function scalarType(node: JsonSchemaNode): ColumnType | undefined {
  const type = Array.isArray(node.type) ? node.type.find((t) => t !== 'null') : (node.type ?? node.anyOf?.find((n) => n.type !== 'null')?.type);
  if (type === 'string') return node.format === 'date' ? 'date' : node.format === 'date-time' ? 'timestamp' : 'string';
  if (type === 'integer') return 'integer';
  if (type === 'number') return 'number';
  if (type === 'array' && node.items && scalarType(node.items) === 'string') return 'string_list';
  return undefined;
}

/**
 * Flattens a JSON Schema object into columns: nested objects join with `_` (`killed.best` →
 * `killed_best`), except `location`, whose fields stand on their own (`location.admin1` → `admin1`).
 */
function columnsOf(schema: JsonSchemaNode): Column[] {
  const out: Column[] = [];
  const required = new Set(schema.required ?? []);
  for (const [field, node] of Object.entries(schema.properties ?? {})) {
    if (NOT_COLUMNS.has(field)) continue;
    if (node.type === 'object' && node.properties) {
      for (const [sub, subNode] of Object.entries(node.properties)) {
        const type = scalarType(subNode);
        if (!type) throw new Error(`no column type for ${field}.${sub}`);
        out.push({ name: field === 'location' ? sub : `${field}_${sub}`, type, source: [field, sub], required: false, enum: subNode.enum as string[] | undefined, description: subNode.description });
      }
      continue;
    }
    const type = scalarType(node);
    if (!type) throw new Error(`no column type for ${field}`);
    out.push({ name: field, type, source: [field], required: required.has(field), enum: (node.enum ?? node.items?.enum) as string[] | undefined, description: node.description });
  }
  return out;
}

const jsonSchemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchemaNode;

function recordTable(kind: RecordKind, description: string, foreignKeys?: TableDef['foreignKeys']): TableDef {
  const columns = [...columnsOf(jsonSchemaOf(RECORD_SCHEMAS[kind])), ...columnsOf(jsonSchemaOf(PublishedServerFields))];
  return { name: KIND_TABLE[kind], kind, description, columns, primaryKey: ['id'], ...(foreignKeys ? { foreignKeys } : {}) };
}

const eventFk = (field: string) => [{ fields: [field], reference: { resource: 'events', fields: ['id'] } }];

/**
 * Each table's columns, derived from the zod schemas through their JSON Schema on first use, not at
 * import: an API function that loads this module and never lists a table's columns (bench id 7) does
 * not pay for the conversion at its cold start. Read like a plain record; each entry is made once.
 */
export const TABLES: Record<TableName, TableDef> = lazyEntries({
  sources: () => recordTable('source', 'Documents that report something.'),
  events: () => recordTable('event', 'Things that happened at a place and time; actors are in event_actors.'),
  event_actors: () => ({
    name: 'event_actors',
    description: 'One row per actor of an event.',
    columns: [{ name: 'event_id', type: 'string', source: ['event_id'], required: true }, ...columnsOf(jsonSchemaOf(Actor)).map((c) => ({ ...c, required: true }))],
    foreignKeys: eventFk('event_id'),
  }),
  claims: () => recordTable('claim', 'Numbers that someone published, side by side, never merged.', eventFk('event_id')),
  persons: () => recordTable('person', 'Individuals; withheld names are null and living persons are located to the province only.'),
  changes: () => ({
    name: 'changes',
    description: 'One row per record that differs from the previous release.',
    columns: columnsOf(jsonSchemaOf(ChangeRow)).map((c) => ({ ...c, required: c.name === 'op' || c.name === 'table_name' || c.name === 'id' })),
    primaryKey: ['table_name', 'id'],
  }),
});

/** A record whose every value is made by its thunk on first read, then kept (enumerable, like a plain property). */
function lazyEntries<K extends string, V>(make: Record<K, () => V>): Record<K, V> {
  const out = {} as Record<K, V>;
  for (const key of Object.keys(make) as K[]) {
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get: () => {
        const value = make[key]();
        Object.defineProperty(out, key, { value, enumerable: true, writable: false, configurable: false });
        return value;
      },
    });
  }
  return out;
}

/** DuckDB SQL type of a column (what the Parquet writer gets). */
export const duckType = (t: ColumnType): string =>
  ({ string: 'VARCHAR', date: 'DATE', timestamp: 'TIMESTAMPTZ', integer: 'BIGINT', number: 'DOUBLE', string_list: 'VARCHAR[]' })[t];

/** Athena (Hive DDL) type of a column. */
export const athenaType = (t: ColumnType): string =>
  ({ string: 'string', date: 'date', timestamp: 'timestamp', integer: 'bigint', number: 'double', string_list: 'array<string>' })[t];

/** A Frictionless Table Schema (v2) for a table. */
export function tableSchema(table: TableDef): Record<string, unknown> {
  const fields = table.columns.map((c) => {
    const constraints: Record<string, unknown> = {};
    if (c.required) constraints.required = true;
    if (c.enum && c.type === 'string') constraints.enum = c.enum;
    const type = { string: 'string', date: 'date', timestamp: 'datetime', integer: 'integer', number: 'number', string_list: 'array' }[c.type];
    return { name: c.name, type, ...(c.description ? { description: c.description } : {}), ...(Object.keys(constraints).length > 0 ? { constraints } : {}) };
  });
  return { fields, ...(table.primaryKey ? { primaryKey: table.primaryKey } : {}), ...(table.foreignKeys ? { foreignKeys: table.foreignKeys } : {}) };
}

export { RECORD_KINDS };
