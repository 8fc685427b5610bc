import { LedgerError } from './errors.ts';
import { publishRelease, type PublishDeps, type PublishOptions, type PublishResult } from './publish-release.ts';
import type { PublishStatus } from '../schemas/publish-status.ts';

/** Where the status of the last publish is kept (GET /publish/status). */
export interface PublishStatusStore {
  read(): Promise<PublishStatus | undefined>;
  write(status: PublishStatus): Promise<void>;
  /**
   * Records `status` (running) unless a publish that started at or after `staleBefore` is still running.
   * False when one is: the caller answers 409.
   */
  claim(status: PublishStatus & { state: 'running' }, staleBefore: string): Promise<boolean>;
}

/** What a failure is called in the status and the logs: a stable code and a message that says why. */
export function describeFailure(err: unknown): { name: string; code: string; message: string } {
  if (err instanceof LedgerError) return { name: err.name, code: err.code, message: err.message };
  if (err instanceof Error) return { name: err.name, code: String((err as { code?: unknown }).code ?? 'internal'), message: err.message };
  return { name: 'Error', code: 'internal', message: String(err) };
}

/**
 * publishRelease, with its course recorded for GET /publish/status: running at the start, then
 * published (version, deferred), no_changes, or failed (code, message). A publish refused because
 * another one holds the lease leaves the other one's status as it was, and throws as before.
 */
export async function publishTracked(deps: PublishDeps & { status: PublishStatusStore }, opts: PublishOptions = {}): Promise<PublishResult> {
  const started_at = deps.clock.now().toISOString();
  const before = await deps.status.read();
  await deps.status.write({ state: 'running', started_at });
  let result: PublishResult;
  try {
    result = await publishRelease(deps, opts);
  } catch (err) {
    if (err instanceof LedgerError && err.code === 'publish_in_progress') {
      if (before) await deps.status.write(before);
      throw err;
    }
    const { code, message } = describeFailure(err);
    await deps.status.write({ state: 'failed', started_at, finished_at: deps.clock.now().toISOString(), error: { code, message } }).catch(() => undefined);
    throw err;
  }
  const finished_at = deps.clock.now().toISOString();
  await deps.status.write(
    result.published
      ? { state: 'published', version: result.version, started_at, finished_at, deferred: result.deferred }
      : { state: 'no_changes', started_at, finished_at, ...(result.deferred ? { deferred: result.deferred } : {}) },
  );
  return result;
}
