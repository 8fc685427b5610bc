import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RECORD_KINDS, recordJsonSchema } from '../../schemas/records.ts';
import type { Manifest, ManifestResource } from '../../schemas/release.ts';
import { TABLES, TABLE_NAMES, tableSchema, type TableName } from '../../schemas/tables.ts';
import { sha256Hex } from '../canonical.ts';
import type { BuildResult, ObjectStore } from '../ports.ts';

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const TITLE = 'Rights Ledger: events, claims, persons and sources of human-rights documentation';

export const contentTypeOf = (path: string): string =>
  path.endsWith('.parquet')
    ? 'application/vnd.apache.parquet'
    : path.endsWith('.gz')
      ? 'application/gzip'
      : path.endsWith('.schema.json')
        ? 'application/schema+json'
        : path.endsWith('.json')
          ? 'application/json'
          : 'text/plain; charset=utf-8';

/** Size and SHA-256 of a file, streamed. */
export async function fileFacts(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { bytes: (await stat(path)).size, sha256: hash.digest('hex') };
}

/** A release folder on disk, ready to upload: its files (relative paths) in upload order. */
export interface ReleaseFolder {
  dir: string;
  files: string[];
  manifest: Manifest;
  manifestBytes: Buffer;
  recordCounts: Record<TableName, number>;
}

/**
 * Completes the release folder the build wrote: a JSON Schema per kind, the manifest (exact bytes,
 * SHA-256 and rows of every resource; chained to the previous manifest) and SHA256SUMS.
 */
export async function finishRelease(
  dir: string,
  built: BuildResult,
  facts: { datasetName: string; version: string; created: string; previous?: { version: string; manifestBytes: Uint8Array } },
): Promise<ReleaseFolder> {
  await mkdir(join(dir, 'schema'), { recursive: true });
  for (const kind of RECORD_KINDS) await writeFile(join(dir, 'schema', `${kind}.schema.json`), JSON.stringify(recordJsonSchema(kind), null, 2) + '\n');
  const resources: ManifestResource[] = [];
  const sums: Array<{ path: string; sha256: string }> = [];
  for (const t of TABLE_NAMES) {
    for (const [i, part] of built.tables[t]!.parts.entries()) {
      const f = await fileFacts(join(dir, part.path));
      const name = i === 0 ? t : `${t}-part-${String(i).padStart(5, '0')}`;
      resources.push({ name, format: 'parquet', mediatype: 'application/vnd.apache.parquet', path: part.path, table: t, bytes: f.bytes, hash: `sha256:${f.sha256}`, rows: part.rows, schema: tableSchema(TABLES[t]) });
      sums.push({ path: part.path, sha256: f.sha256 });
    }
  }
  for (const t of TABLE_NAMES) {
    const json = built.tables[t]!.json;
    const f = await fileFacts(join(dir, json.path));
    resources.push({ name: `${t}-json`, format: 'ndjson', mediatype: 'application/x-ndjson', compression: 'gzip', path: json.path, table: t, bytes: f.bytes, hash: `sha256:${f.sha256}`, rows: json.rows });
    sums.push({ path: json.path, sha256: f.sha256 });
  }
  for (const kind of RECORD_KINDS) {
    const path = `schema/${kind}.schema.json`;
    sums.push({ path, sha256: (await fileFacts(join(dir, path))).sha256 });
  }
  const recordCounts = Object.fromEntries(TABLE_NAMES.map((t) => [t, built.tables[t]!.json.rows])) as Record<TableName, number>;
  const manifest: Manifest = {
    $schema: 'https://datapackage.org/profiles/2.0/datapackage.json',
    name: facts.datasetName,
    title: TITLE,
    version: facts.version,
    created: facts.created,
    previous_version: facts.previous?.version ?? null,
    previous_manifest_sha256: facts.previous ? sha256Hex(facts.previous.manifestBytes) : null,
    licenses: [{ name: 'CC-BY-4.0', path: 'https://creativecommons.org/licenses/by/4.0/', title: 'Creative Commons Attribution 4.0' }],
    record_counts: recordCounts,
    changes: built.changes,
    resources,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  await writeFile(join(dir, 'manifest.json'), manifestBytes);
  sums.push({ path: 'manifest.json', sha256: sha256Hex(manifestBytes) });
  const sumsText = [...sums].sort((a, b) => (a.path < b.path ? -1 : 1)).map((s) => `${s.sha256}  ${s.path}\n`).join('');
  await writeFile(join(dir, 'SHA256SUMS'), sumsText);
  // Data first, then the manifest and SHA256SUMS that describe it.
  const files = [...sums.map((s) => s.path).filter((p) => p !== 'manifest.json'), 'manifest.json', 'SHA256SUMS'];
  return { dir, files, manifest, manifestBytes, recordCounts };
}

/** Uploads the release folder, streamed, each object only if its key does not exist yet; `uploaded` collects what was written. */
export async function uploadRelease(objects: ObjectStore, folder: ReleaseFolder, assertHeld: () => void, progress: (m: string) => void, uploaded: string[] = []): Promise<void> {
  for (const [i, path] of folder.files.entries()) {
    assertHeld();
    const key = `releases/${folder.manifest.version}/${path}`;
    await objects.putFile(key, join(folder.dir, path), { contentType: contentTypeOf(path), ifNoneMatch: true, cacheControl: IMMUTABLE });
    uploaded.push(key);
    progress(`uploaded ${i + 1} of ${folder.files.length}: ${path}`);
  }
}
