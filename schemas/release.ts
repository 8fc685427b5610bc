import { z } from 'zod';
import { TABLE_NAMES } from './tables.ts';

/** Release ids: UTC time at the start of publishing, YYYYMMDDTHHMMSSZ. */
export const ReleaseId = z.string().regex(/^\d{8}T\d{6}Z$/);

const Counts = z.partialRecord(z.enum(TABLE_NAMES), z.int().min(0));

export const ManifestResource = z.looseObject({
  name: z.string().regex(/^[a-z0-9._-]+$/),
  path: z.string(),
  format: z.enum(['parquet', 'ndjson']),
  mediatype: z.string(),
  table: z.enum(TABLE_NAMES),
  bytes: z.int().min(0),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  rows: z.int().min(0),
  compression: z.literal('gzip').optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
});
export type ManifestResource = z.infer<typeof ManifestResource>;

/** manifest.json: a Frictionless Data Package (v2) descriptor with the release's own facts. */
export const Manifest = z.looseObject({
  $schema: z.literal('https://datapackage.org/profiles/2.0/datapackage.json'),
  name: z.string(),
  title: z.string(),
  version: ReleaseId,
  created: z.iso.datetime(),
  previous_version: ReleaseId.nullable(),
  previous_manifest_sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  licenses: z.array(z.looseObject({ name: z.string() })),
  record_counts: Counts,
  changes: z.object({ add: z.int(), modify: z.int(), delete: z.int() }),
  resources: z.array(ManifestResource),
});
export type Manifest = z.infer<typeof Manifest>;

export const CatalogVersion = z.object({ version: ReleaseId, created: z.iso.datetime(), manifest: z.string(), record_counts: Counts });

/** catalog.json: the index of releases, newest first; written last. */
export const Catalog = z.object({
  name: z.string(),
  latest: ReleaseId,
  latest_manifest: z.string(),
  versions: z.array(CatalogVersion),
});
export type Catalog = z.infer<typeof Catalog>;
