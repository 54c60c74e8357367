/**
 * What the conductor must do once however many `berth api` processes share
 * the database, done by the holder of the `conductor` lease: it renews the
 * lease every report_interval and, while it holds it, schedules again the
 * builds and unshelves another process (or this one before a restart)
 * accepted but left unplaced for service_down_time — that process is gone.
 * When the holder dies its lease runs out after service_down_time and the
 * next process to ask takes the duty over.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Database } from '../db/connection';
import { holdLease, releaseLease } from '../db/leases';
import type { BuildCoordinator } from './build';

const LEASE = 'conductor';

export class OnceOnlyDuties {
  /** this process, as lease holder: its host and a per-start id */
  readonly holder: string;
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private held = false;

  constructor(
    private readonly db: Database,
    private readonly config: BerthConfig,
    private readonly builds: BuildCoordinator,
    private readonly log: Logger,
  ) {
    this.holder = `${config.DEFAULT.host}:${process.pid}:${randomUUID()}`;
  }

  /** A first pass now, then one every report_interval. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.config.DEFAULT.report_interval * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.pass;
    if (this.held) await releaseLease(this.db, LEASE, this.holder);
  }

  /** One pass (unless one still runs): renew or take the lease and, holding it, do the duties. */
  tick(): Promise<void> {
    this.pass ??= this.runPass()
      .catch((err: Error) => {
        this.log.warn('conductor duties failed', { error: err.message });
      })
      .finally(() => (this.pass = undefined));
    return this.pass;
  }

  private async runPass(): Promise<void> {
    const ttlMs = this.config.DEFAULT.service_down_time * 1000;
    const held = await holdLease(this.db, LEASE, this.holder, ttlMs);
    if (held !== this.held)
      this.log.info(held ? 'conductor lease taken' : 'conductor lease lost', {
        holder: this.holder,
      });
    this.held = held;
    if (!held) return;
    const cutoff = new Date(Date.now() - ttlMs).toISOString();
    const resumed = await this.builds.resumeStale(cutoff, { request_id: `req-${randomUUID()}` });
    if (resumed) this.log.warn('builds left unplaced by a stopped scheduler resumed', { resumed });
  }
}
