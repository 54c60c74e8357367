/**
 * Leases: a duty that must happen once however many `berth api` processes
 * share the database is done by the holder of its lease. A holder renews
 * it while it lives; when it dies (a crash, `kill -9`) the lease runs out
 * and the next process to ask takes it over. Taking and renewing are one
 * compare-and-set each, so two processes never both hold a lease.
 */
import type { Database } from './connection';

/**
 * Takes or renews `name` for `holder` until `ttlMs` from now; true when
 * `holder` has it. Clocks of the API hosts are assumed in step (NTP), as
 * Nova's service liveness assumes.
 */
export async function holdLease(
  db: Database,
  name: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const now = Date.now();
  await db('leases')
    .insert({ name, holder, expires_at: now + ttlMs })
    .onConflict('name')
    .ignore();
  const held = await db('leases')
    .where({ name })
    .andWhere((q) => q.where({ holder }).orWhere('expires_at', '<', now))
    .update({ holder, expires_at: now + ttlMs });
  return held === 1;
}

/** Gives `name` up at once (a clean stop), so that another process need not wait for it to run out. */
export async function releaseLease(db: Database, name: string, holder: string): Promise<void> {
  await db('leases').where({ name, holder }).update({ expires_at: 0 });
}
