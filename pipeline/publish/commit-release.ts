import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { athenaDdl } from '../../schemas/athena.ts';
import { Manifest, type Catalog } from '../../schemas/release.ts';
import { sha256Hex } from '../canonical.ts';
import { conflict } from '../errors.ts';
import { RELEASES_WITH_FILES, landingPage, type ReleaseFile } from '../landing-page.ts';
import { ObjectChangedError, ObjectExistsError, type BuildResult, type ObjectStore, type ReleaseState, type ReleaseStateStore } from '../ports.ts';
import type { PreviousRelease } from './previous-release.ts';
import { TITLE, contentTypeOf, type ReleaseFolder } from './write-release.ts';

const MUTABLE = 'public, max-age=60';

/**
 * The commit point: catalog.json, replaced only if it is still the one read at the start (If-Match on
 * its ETag; If-None-Match for the first), by a publisher that still holds the lease. The store records
 * the release as prepared before, and as committed after: a publisher that dies in between leaves a
 * prepared release that the next publish promotes when the catalog names it.
 */
export async function commitCatalog(
  objects: ObjectStore,
  releases: ReleaseStateStore,
  folder: ReleaseFolder,
  state: ReleaseState,
  previous: PreviousRelease | undefined,
  datasetName: string,
  assertHeld: () => void,
): Promise<Catalog> {
  const { version, created } = folder.manifest;
  const catalog: Catalog = {
    name: datasetName,
    latest: version,
    latest_manifest: `releases/${version}/manifest.json`,
    versions: [{ version, created, manifest: `releases/${version}/manifest.json`, record_counts: folder.recordCounts }, ...(previous?.catalog.versions ?? [])],
  };
  assertHeld();
  await releases.prepare(state);
  assertHeld();
  try {
    await objects.put('catalog.json', Buffer.from(JSON.stringify(catalog, null, 2) + '\n'), {
      contentType: 'application/json',
      cacheControl: 'no-cache',
      ...(previous ? { ifMatch: previous.catalogEtag } : { ifNoneMatch: true }),
    });
  } catch (err) {
    if (!(err instanceof ObjectChangedError || err instanceof ObjectExistsError)) throw err;
    // A retried request whose first attempt went through also fails its condition: is the catalog ours?
    const now = await objects.get('catalog.json');
    const names = now ? (JSON.parse(Buffer.from(now).toString('utf8')) as { latest?: string }).latest : undefined;
    if (names !== version) throw conflict('catalog_changed', 'catalog.json changed while this release was being built (another publisher committed first): nothing was published; publish again');
  }
  if (!(await releases.commit(state, previous?.version ?? null))) {
    const { latest } = await releases.getLatest();
    // Only a publisher that promoted our prepared release may have recorded it first.
    if (latest?.version !== version) throw conflict('release_state_changed', `the store records release ${latest?.version} as the latest, not ${version}: publish again`);
  }
  return catalog;
}

/** After the commit: the landing page, the Athena DDL, then latest/ as a copy of the release (PUBLISHING.md). */
export async function afterCommit(
  objects: ObjectStore,
  releases: ReleaseStateStore,
  catalog: Catalog,
  folder: ReleaseFolder,
  state: ReleaseState,
  built: BuildResult,
  where: { bucketName: string; athenaDatabase?: string; publicBaseUrl?: string },
  assertHeld: () => void,
): Promise<void> {
  const page = landingPage({
    title: TITLE,
    publicBaseUrl: where.publicBaseUrl ?? '',
    catalog,
    manifest: folder.manifest,
    manifestSha256: sha256Hex(folder.manifestBytes),
    data: built.landing,
    files: await releaseFiles(objects, catalog, folder),
  });
  assertHeld();
  await objects.put('index.html', Buffer.from(page), { contentType: 'text/html; charset=utf-8', cacheControl: MUTABLE });
  assertHeld();
  await objects.put('athena/tables.sql', Buffer.from(athenaDdl(where.bucketName, where.athenaDatabase)), { contentType: 'application/sql; charset=utf-8', cacheControl: MUTABLE });
  await refreshLatest(objects, catalog.latest, folder.files, assertHeld);
  assertHeld();
  // Only while this release is still the latest: a later one's record is never overwritten.
  await releases.commit({ ...state, latest_synced: true }, state.version);
}

const SUMS_LINE = /^([0-9a-f]{64}) {2}(.+)$/gm;

/**
 * Every file of the newest releases (at most RELEASES_WITH_FILES), with size and SHA-256, for the landing
 * page: the release just committed from its folder on disk; the ones before it from their SHA256SUMS and
 * a listing of their folder, each only while its manifest is the one the hash chain names (walking back
 * from the new manifest's previous_manifest_sha256). A few small reads per release, a fixed number of
 * releases: the cost does not grow with the history. Older releases (or one whose chain does not check)
 * get no file table; the page links their manifest and SHA256SUMS.
 */
export async function releaseFiles(objects: ObjectStore, catalog: Catalog, folder: ReleaseFolder): Promise<Map<string, ReleaseFile[]>> {
  const out = new Map<string, ReleaseFile[]>();
  const fromSums = async (sums: string, size: (path: string) => Promise<number | undefined>, sumsBytes: Buffer): Promise<ReleaseFile[] | undefined> => {
    const files: ReleaseFile[] = [];
    for (const m of sums.matchAll(SUMS_LINE)) {
      const bytes = await size(m[2]!);
      if (bytes === undefined) return undefined;
      files.push({ path: m[2]!, bytes, sha256: m[1]! });
    }
    files.push({ path: 'SHA256SUMS', bytes: sumsBytes.length, sha256: sha256Hex(sumsBytes) });
    return files;
  };
  const ownSums = await readFile(join(folder.dir, 'SHA256SUMS'));
  const own = await fromSums(ownSums.toString('utf8'), async (p) => (await stat(join(folder.dir, p))).size, ownSums);
  if (own) out.set(folder.manifest.version, own);

  let expected = { version: folder.manifest.previous_version, sha256: folder.manifest.previous_manifest_sha256 };
  try {
    await olderReleases();
  } catch {
    // The release is committed: a bucket read that fails here costs the page the older file tables
    // (it links their manifests and SHA256SUMS instead), never the page or latest/.
  }
  return out;

  async function olderReleases(): Promise<void> {
    for (const v of catalog.versions.slice(1, RELEASES_WITH_FILES)) {
      if (v.version !== expected.version || !expected.sha256) break;
      const base = `releases/${v.version}/`;
      const manifestBytes = await objects.get(`${base}manifest.json`);
      if (!manifestBytes || sha256Hex(manifestBytes) !== expected.sha256) break;
      const sums = await objects.get(`${base}SHA256SUMS`);
      if (!sums) break;
      const sizes = new Map<string, number>();
      for await (const o of objects.list(base)) sizes.set(o.key.slice(base.length), o.size);
      const sumsText = Buffer.from(sums).toString('utf8');
      // SHA256SUMS must name the manifest the chain checked, or its other lines are not to be trusted either.
      if (!sumsText.includes(`${expected.sha256}  manifest.json\n`)) break;
      const files = await fromSums(sumsText, async (p) => sizes.get(p), Buffer.from(sums));
      if (!files) break;
      out.set(v.version, files);
      const m = Manifest.parse(JSON.parse(Buffer.from(manifestBytes).toString('utf8')));
      expected = { version: m.previous_version, sha256: m.previous_manifest_sha256 };
    }
  }
}

/** Makes latest/ a copy of release `version` (server-side copies), then removes anything else there. */
export async function refreshLatest(objects: ObjectStore, version: string, files: readonly string[], assertHeld: () => void): Promise<void> {
  for (const path of files) {
    assertHeld();
    await objects.copy(`releases/${version}/${path}`, `latest/${path}`, { contentType: contentTypeOf(path), cacheControl: MUTABLE });
  }
  const keep = new Set(files.map((f) => `latest/${f}`));
  for await (const o of objects.list('latest/')) {
    if (keep.has(o.key)) continue;
    assertHeld();
    await objects.delete(o.key);
  }
}

/**
 * latest/ after a publish that died while refreshing it: copy the committed release over it again. Its
 * file list comes from that release's SHA256SUMS.
 */
export async function repairLatest(objects: ObjectStore, releases: ReleaseStateStore, state: ReleaseState, assertHeld: () => void, progress: (m: string) => void): Promise<ReleaseState> {
  const base = `releases/${state.version}/`;
  const sums = await objects.get(`${base}SHA256SUMS`);
  if (!sums) throw conflict('release_integrity', `${base}SHA256SUMS is missing: restore release ${state.version} before publishing`);
  const paths = [...Buffer.from(sums).toString('utf8').matchAll(SUMS_LINE)].map((m) => m[2]!);
  progress(`latest/ may not match release ${state.version}: copying it again`);
  await refreshLatest(objects, state.version, [...paths, 'SHA256SUMS'], assertHeld);
  const synced = { ...state, latest_synced: true };
  assertHeld();
  await releases.commit(synced, state.version);
  return synced;
}

/**
 * Removes release folders that no catalog lists and that are older than a lease's lifetime: what
 * publishes that failed part-way left. A younger one may be another publisher's release in progress.
 */
export async function deleteOrphans(objects: ObjectStore, listed: ReadonlySet<string>, olderThan: Date, assertHeld: () => void, progress: (m: string) => void): Promise<void> {
  let removed = 0;
  for await (const folder of objects.listFolders('releases/')) {
    const version = folder.slice('releases/'.length, -1);
    if (listed.has(version)) continue;
    const objectsIn = [];
    for await (const o of objects.list(folder)) objectsIn.push(o);
    if (objectsIn.some((o) => o.lastModified >= olderThan)) continue;
    for (const o of objectsIn) {
      assertHeld();
      await objects.delete(o.key);
    }
    removed += objectsIn.length;
  }
  if (removed > 0) progress(`removed ${removed} objects of releases that were never published`);
}
