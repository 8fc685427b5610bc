import { join } from 'node:path';
import { Catalog, Manifest } from '../../schemas/release.ts';
import { sha256Hex } from '../canonical.ts';
import { fileFacts } from './write-release.ts';
import { conflict } from '../errors.ts';
import type { ObjectStore, ReleaseState, ReleaseStateStore } from '../ports.ts';

/** The release the catalog names as latest, checked against what the store recorded. */
export interface PreviousRelease {
  version: string;
  manifestBytes: Uint8Array;
  manifest: Manifest;
  catalog: Catalog;
  /** The catalog's ETag: the commit replaces it only if it is still this one. */
  catalogEtag: string;
}


/**
 * Reads catalog.json (with its ETag) and the manifest it names, and checks that manifest against the
 * hash the store recorded when it was published: a publish never chains onto a rewritten release.
 * A release prepared but not recorded as committed (the publisher died between writing the catalog and
 * recording it) is promoted when the catalog names it.
 */
export async function readPrevious(
  objects: ObjectStore,
  releases: ReleaseStateStore,
  state: { latest?: ReleaseState; pending?: ReleaseState },
): Promise<{ previous?: PreviousRelease; committed?: ReleaseState }> {
  const catalogObject = await objects.getWithTag('catalog.json');
  let committed = state.latest;
  if (!catalogObject) {
    if (committed) throw conflict('release_integrity', `catalog.json is missing from the bucket although release ${committed.version} was published: restore the bucket (it is versioned) before publishing`);
    return {};
  }
  const catalog = Catalog.parse(JSON.parse(Buffer.from(catalogObject.body).toString('utf8')));
  if (state.pending && state.pending.version === catalog.latest && committed?.version !== catalog.latest) {
    // The publisher of that release died between the catalog and the store: finish its commit.
    if (!(await releases.commit(state.pending, committed?.version ?? null))) throw conflict('release_state_changed', 'the store changed while this publish read it: publish again');
    // (The commit also enters it in the release history, which first_published is read from.)
    committed = state.pending;
  }
  const manifestBytes = await objects.get(catalog.latest_manifest);
  if (!manifestBytes) throw conflict('release_integrity', `catalog.json names ${catalog.latest_manifest}, which is missing: restore it before publishing`);
  const actual = sha256Hex(manifestBytes);
  if (committed && (committed.version !== catalog.latest || committed.manifest_sha256 !== actual)) {
    throw conflict(
      'release_integrity',
      `the catalog or the manifest of release ${catalog.latest} in the bucket is not the one that was published (recorded ${committed.version} sha256 ${committed.manifest_sha256}): restore them from the bucket's versions before publishing`,
    );
  }
  const manifest = Manifest.parse(JSON.parse(Buffer.from(manifestBytes).toString('utf8')));
  return { previous: { version: catalog.latest, manifestBytes, manifest, catalog, catalogEtag: catalogObject.etag }, committed };
}

/**
 * Downloads the previous release's Parquet parts of `tables` into `dir`, streamed, each checked
 * against the manifest's SHA-256 (the manifest itself was checked against the store's record).
 */
export async function downloadParts(objects: ObjectStore, previous: PreviousRelease, tables: readonly string[], dir: string): Promise<Record<string, string[]>> {
  const base = `releases/${previous.version}/`;
  const out: Record<string, string[]> = {};
  for (const res of previous.manifest.resources) {
    if (res.format !== 'parquet' || !tables.includes(res.table)) continue;
    const path = join(dir, `${res.name}.parquet`);
    if (!(await objects.download(base + res.path, path))) throw conflict('release_integrity', `the previous release lacks ${base + res.path}: restore it before publishing`);
    if (`sha256:${(await fileFacts(path)).sha256}` !== res.hash) throw conflict('release_integrity', `${base + res.path} does not match its manifest's hash: restore it before publishing`);
    (out[res.table] ??= []).push(path);
  }
  return out;
}

