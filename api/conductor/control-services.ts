/**
 * The conductor and scheduler a `berth api` process runs report in as
 * Nova's nova-conductor and nova-scheduler services do, so that
 * os-services, os-hosts and the internal availability zone show each API
 * host and whether it is up. Each process reports under its own [DEFAULT]
 * host, so several API processes show as several hosts.
 */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Database } from '../db/connection';
import { reportService } from '../db/services';
import { INTERNAL_ZONE } from '../views/services';

const CONTROL_SERVICES = [
  { binary: 'nova-conductor', topic: 'conductor' },
  { binary: 'nova-scheduler', topic: 'scheduler' },
] as const;

export interface Heartbeat {
  stop(): void;
}

/** Reports both services now, then every report_interval seconds until stopped. */
export async function reportControlServices(
  db: Database,
  config: BerthConfig,
  log: Logger,
): Promise<Heartbeat> {
  let reports = 0;
  const report = () =>
    Promise.all(
      CONTROL_SERVICES.map((s) =>
        reportService(db, {
          ...s,
          host: config.DEFAULT.host,
          availability_zone: INTERNAL_ZONE,
          report_count: reports,
        }),
      ),
    ).then(() => {
      reports++;
    });
  await report();
  const timer = setInterval(() => {
    // A missed report only makes the services look down for a while; the next one mends it.
    report().catch((err: Error) =>
      log.warn('control service report failed', { error: err.message }),
    );
  }, config.DEFAULT.report_interval * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
