/** Service liveness as os-services, os-hypervisors and the scheduler see it. */
import { randomUUID } from 'node:crypto';
import { withAggregateZones } from './aggregates';
import type { Database } from './connection';

export interface ServiceRow {
  id: number;
  uuid: string;
  host: string;
  binary: string;
  topic: string;
  report_count: number;
  disabled: boolean | number;
  disabled_reason: string | null;
  forced_down: boolean | number;
  version: number;
  availability_zone: string;
  last_seen_up: string | null;
  created_at: string;
  updated_at: string | null;
}

/** Up when not forced down and heard from within service_down_time seconds. */
export function isUp(s: ServiceRow, serviceDownTime: number, now = Date.now()): boolean {
  if (Boolean(s.forced_down) || !s.last_seen_up) return false;
  return now - Date.parse(s.last_seen_up) <= serviceDownTime * 1000;
}

/** The nova-compute services, each in the zone its aggregates give it. */
export async function computeServices(db: Database): Promise<ServiceRow[]> {
  return withAggregateZones(
    db,
    await db<ServiceRow>('services').where({ binary: 'nova-compute' }).orderBy('id'),
  );
}

export interface ServiceReport {
  host: string;
  binary: string;
  topic: string;
  availability_zone: string;
  report_count?: number;
  version?: number;
}

/** Nova's Service.save from a heartbeat: the row is made on the first report and seen up at each. */
export async function reportService(db: Database, r: ServiceReport): Promise<void> {
  const t = new Date().toISOString();
  await db('services')
    .insert({
      uuid: randomUUID(),
      report_count: 0,
      version: 0,
      ...r,
      last_seen_up: t,
      created_at: t,
      updated_at: t,
    })
    .onConflict(['host', 'binary'])
    .merge(['report_count', 'version', 'availability_zone', 'last_seen_up', 'updated_at']);
}
