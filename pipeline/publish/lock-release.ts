import { conflict } from '../errors.ts';
import type { ObjectLockMode, ObjectStore } from '../ports.ts';

/** How committed releases are locked (S3 Object Lock), from the deployment's settings; absent: not at all. */
export interface ReleaseLock {
  mode: ObjectLockMode;
  years: number;
}

/**
 * The date every object of release `version` is locked until: the release's own time (its id) plus
 * `years`. Derived from the release and not from the clock, so that locking a release again (the repair
 * of a publish that died while locking) asks for the same date, which S3 accepts in either mode.
 */
export function retainUntil(version: string, years: number): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(version);
  if (!m) throw new Error(`not a release id: ${version}`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y + years, mo - 1, d, h, mi, s));
}

/**
 * Locks every object of the committed release `version` until {@link retainUntil}. Called only after
 * the commit: the objects of a release that never committed stay deletable, so the orphan clean-up
 * still removes them. latest/, catalog.json, index.html and athena/ are never locked (each release
 * replaces them). A publish that dies before this finished leaves latest/ unrefreshed too, and the
 * next publish locks that release again before anything else (publish-release.ts).
 */
export async function lockRelease(objects: ObjectStore, lock: ReleaseLock | undefined, version: string, assertHeld: () => void, progress: (m: string) => void): Promise<void> {
  if (!lock) return;
  const until = retainUntil(version, lock.years);
  let locked = 0;
  for await (const o of objects.list(`releases/${version}/`)) {
    assertHeld();
    await objects.retain(o.key, { mode: lock.mode, until });
    locked++;
  }
  if (locked === 0) throw conflict('release_integrity', `release ${version} has no objects under releases/${version}/ to lock: restore it before publishing`);
  progress(`locked ${locked} objects of release ${version} (${lock.mode}) until ${until.toISOString()}`);
}
