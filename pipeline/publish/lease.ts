import { randomUUID } from 'node:crypto';
import { conflict } from '../errors.ts';
import type { Clock, LeaseStore } from '../ports.ts';

export const PUBLISH_LEASE = 'publish';

/** Thrown when the publisher may no longer write: its lease expired or was taken over. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

const monotonicMs = () => Number(process.hrtime.bigint() / 1_000_000n);

/**
 * The publish lease, held for one run. Renewed in the background every third of its TTL; and before
 * every write the holder checks it against its OWN expiry time (measured on a monotonic clock from
 * before the request that took or renewed it), so a renewal that hangs or a process that was paused
 * cannot make it write past the moment another publisher may have taken over.
 */
export class PublishLease {
  private expiresAt = 0;
  private lost = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly owner = randomUUID();

  private constructor(
    private readonly leases: LeaseStore,
    private readonly clock: Clock,
    readonly ttlMs: number,
  ) {}

  /** Takes the lease or throws 409 publish_in_progress. */
  static async acquire(leases: LeaseStore, clock: Clock, ttlMs: number): Promise<PublishLease> {
    const lease = new PublishLease(leases, clock, ttlMs);
    const sent = monotonicMs();
    if (!(await leases.acquire(PUBLISH_LEASE, lease.owner, ttlMs, clock.now()))) {
      throw conflict('publish_in_progress', 'another publish is running: try again when it has finished');
    }
    lease.expiresAt = sent + ttlMs;
    lease.timer = setInterval(() => void lease.renew(), ttlMs / 3);
    lease.timer.unref();
    return lease;
  }

  private async renew(): Promise<void> {
    const sent = monotonicMs();
    try {
      if (await this.leases.renew(PUBLISH_LEASE, this.owner, this.ttlMs, this.clock.now())) this.expiresAt = Math.max(this.expiresAt, sent + this.ttlMs);
      else this.lost = true;
    } catch {
      // A failed renewal is not yet a lost lease: the expiry check below decides.
    }
  }

  /** Throws unless the lease is still ours for a while (a tenth of its TTL, to cover the write that follows). */
  assertHeld(): void {
    if (this.lost) throw new LeaseLostError('the publish lease was taken over by another publisher: this publish stops before writing more');
    if (monotonicMs() > this.expiresAt - this.ttlMs / 10) throw new LeaseLostError('the publish lease expired (renewals did not get through): this publish stops before writing more');
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.leases.release(PUBLISH_LEASE, this.owner).catch(() => undefined);
  }
}
