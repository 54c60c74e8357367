/** Hosts, groups, requests and config for the scheduler's tests. */
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import winston from 'winston';
import { berthSchema, type BerthConfig } from '../../config/schema';
import type { Database } from '../../api/db/connection';
import {
  postgresUnavailable,
  withTestDatabase,
  type TestDatabase,
  type TestDatabaseKind,
} from './test-database';
import type { ScheduleRequest } from '../../api/scheduler/scheduler';

export const silentLog = winston.createLogger({ silent: true });

/** A debug logger that keeps what it logs, for asserting on it. */
export function recordingLog(): { log: winston.Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      entries.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, entries };
}

export function schedulerConfig(
  o: { DEFAULT?: Record<string, unknown>; filter_scheduler?: Record<string, unknown> } = {},
): BerthConfig {
  const { value, error } = berthSchema.validate({
    DEFAULT: { state_path: '/tmp/berth-scheduler-test', host: 'api-test', ...o.DEFAULT },
    filter_scheduler: o.filter_scheduler ?? {},
  });
  if (error) throw error;
  return value;
}

export interface HostSpec {
  host: string;
  vcpus?: number;
  memoryMb?: number;
  diskGb?: number;
  zone?: string;
  disabled?: boolean;
  /** last heard from an hour ago */
  down?: boolean;
  /** the service row only: the node has not reported its resources yet */
  noNode?: boolean;
}

/** A nova-compute service row and its compute node row, as a heartbeat would leave them. */
export async function addComputeHost(db: Database, spec: HostSpec): Promise<void> {
  const now = new Date().toISOString();
  const lastSeen = spec.down ? new Date(Date.now() - 3600_000).toISOString() : now;
  await db('services').insert({
    uuid: randomUUID(),
    host: spec.host,
    binary: 'nova-compute',
    topic: 'compute',
    disabled: spec.disabled ?? false,
    availability_zone: spec.zone ?? 'nova',
    last_seen_up: lastSeen,
    created_at: now,
  });
  if (spec.noNode) return;
  await db('compute_nodes').insert({
    uuid: randomUUID(),
    host: spec.host,
    hypervisor_hostname: spec.host,
    hypervisor_type: 'berth',
    vcpus: spec.vcpus ?? 8,
    memory_mb: spec.memoryMb ?? 8192,
    local_gb: spec.diskGb ?? 100,
    created_at: now,
  });
}

export async function addServerGroup(
  db: Database,
  policy: string,
  rules: Record<string, unknown> = {},
): Promise<{ uuid: string; policy: string }> {
  const uuid = randomUUID();
  await db('server_groups').insert({
    uuid,
    name: `group-${policy}`,
    project_id: 'demo',
    user_id: 'demo',
    policy,
    rules: JSON.stringify(rules),
    created_at: new Date().toISOString(),
  });
  return { uuid, policy };
}

/** A request for a 1 vCPU, 1024 MB, 1 GB instance; a group request also records membership. */
export async function scheduleRequest(
  db: Database,
  o: Partial<ScheduleRequest> = {},
): Promise<ScheduleRequest> {
  const req: ScheduleRequest = {
    instanceUuid: randomUUID(),
    projectId: 'demo',
    vcpus: 1,
    memoryMb: 1024,
    diskGb: 1,
    ignoreHosts: [],
    ...o,
  };
  if (req.group) {
    await db('server_group_members').insert({
      group_uuid: req.group.uuid,
      instance_uuid: req.instanceUuid,
    });
  }
  return req;
}

/** How many allocations each host holds. */
export async function allocationCounts(db: Database): Promise<Record<string, number>> {
  const rows = (await db('allocations').select('host').count({ n: '*' }).groupBy('host')) as {
    host: string;
    n: number | string;
  }[];
  return Object.fromEntries(rows.map((r) => [r.host, Number(r.n)]));
}

/** A fresh database of `kind`, or undefined after marking the test skipped when PostgreSQL is unreachable. */
export async function openTestDatabase(
  t: TestContext,
  kind: TestDatabaseKind,
): Promise<TestDatabase | undefined> {
  if (kind === 'postgresql') {
    const why = await postgresUnavailable();
    if (why) {
      t.skip(why);
      return undefined;
    }
  }
  return withTestDatabase(kind);
}
