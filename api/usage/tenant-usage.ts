/**
 * Nova's simple tenant usage: what each project's instances used during
 * a period, in hours and in flavor-sized hours. Deleted instances count
 * for the part of the period they ran (berth keeps their rows, with
 * terminated_at). Times are kept as microseconds since the epoch, so
 * that a period given to the microsecond is echoed as it was given.
 */
import { performance } from 'node:perf_hooks';
import type { Database } from '../db/connection';
import type { FlavorSnapshot, InstanceRow } from '../db/instances';
import { badRequest } from '../faults';
import { novaTime } from '../http';

const US_PER_MS = 1000;
const US_PER_HOUR = 3600e6;

export interface UsagePeriod {
  /** microseconds since the epoch */
  start: number;
  stop: number;
}

export interface ServerUsage {
  instance_id: string;
  name: string;
  tenant_id: string;
  flavor: string;
  hours: number;
  memory_mb: number;
  local_gb: number;
  vcpus: number;
  started_at: string;
  ended_at: string | null;
  state: string;
  uptime: number;
}

export interface TenantUsage {
  tenant_id: string;
  server_usages?: ServerUsage[];
  total_local_gb_usage: number;
  total_vcpus_usage: number;
  total_memory_mb_usage: number;
  total_hours: number;
  start: string;
  stop: string;
}

const invalidTime = () => badRequest('Invalid datetime string: Datetime is in invalid format');

// Python's strptime with Nova's three formats: "%Y-%m-%dT%H:%M:%S", the
// same with ".%f", and "%Y-%m-%d %H:%M:%S.%f". No zone: the time is UTC.
const NOVA_TIME =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?| (\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6}))$/;

/** A period bound as Nova parses one (microseconds); Nova's 400 when it is no such time. */
export function parseNovaTime(text: string): number {
  const m = NOVA_TIME.exec(text);
  if (!m) throw invalidTime();
  const [y, mo, d] = [m[1], m[2], m[3]].map(Number);
  const [h, mi, s] = (m[4] !== undefined ? [m[4], m[5], m[6]] : [m[8], m[9], m[10]]).map(Number);
  const fraction = m[7] ?? m[11] ?? '';
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const t = new Date(ms);
  // Date.UTC rolls day 31 of a 30-day month over; datetime() refuses it.
  if (
    y < 1 ||
    t.getUTCFullYear() !== y ||
    t.getUTCMonth() !== mo - 1 ||
    t.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59
  )
    throw invalidTime();
  return ms * US_PER_MS + Number(fraction.padEnd(6, '0'));
}

// To the microsecond and strictly increasing: Nova reads the clock once
// for each missing bound, and Python's two readings always differ, so a
// request without start and end is a (tiny) period rather than a 400.
let lastNow = 0;
function nowUs(): number {
  const t = Math.floor((performance.timeOrigin + performance.now()) * US_PER_MS);
  lastNow = Math.max(t, lastNow + 1);
  return lastNow;
}
const storedUs = (iso: string) => Date.parse(iso) * US_PER_MS;

/**
 * The period of a request: start and end default to now, start must come
 * first, and a period reaching into the future stops now.
 */
export function usagePeriod(start: string | undefined, end: string | undefined): UsagePeriod {
  const from = start ? parseNovaTime(start) : nowUs();
  const to = end ? parseNovaTime(end) : nowUs();
  if (!(from < to))
    throw badRequest('Invalid start time. The start time cannot occur after the end time.');
  return { start: from, stop: Math.min(to, nowUs()) };
}

export interface UsagePage {
  /** a project's instances only */
  projectId?: string;
  limit: number;
  /** the uuid of the last instance of the previous page */
  marker?: string;
}

/**
 * The instances that ran during the period — launched before it ended,
 * not terminated before it began, deleted ones included — in Nova's
 * order (project, then uuid), one page of them after the marker.
 */
async function instancesInPeriod(
  db: Database,
  period: UsagePeriod,
  page: UsagePage,
): Promise<InstanceRow[]> {
  // Stored times are whole milliseconds: these bounds compare exactly with microsecond ones.
  const begin = new Date(Math.floor(period.start / US_PER_MS)).toISOString();
  const end = new Date(Math.ceil(period.stop / US_PER_MS)).toISOString();
  const q = db<InstanceRow>('instances')
    .whereNotNull('launched_at')
    .where('launched_at', '<', end)
    .where((w) => w.whereNull('terminated_at').orWhere('terminated_at', '>', begin))
    .orderBy([
      { column: 'project_id', order: 'asc' },
      { column: 'uuid', order: 'asc' },
    ])
    .limit(page.limit);
  if (page.projectId !== undefined) q.where({ project_id: page.projectId });
  if (page.marker !== undefined) {
    const at = await db<InstanceRow>('instances').where({ uuid: page.marker }).first();
    if (!at) throw badRequest(`Marker ${page.marker} could not be found.`);
    q.where((w) =>
      w
        .where('project_id', '>', at.project_id)
        .orWhere((same) => same.where('project_id', at.project_id).where('uuid', '>', at.uuid)),
    );
  }
  return q;
}

/** Hours of the period the instance ran. */
function hoursIn(launched: number, terminated: number | null, period: UsagePeriod): number {
  if (launched > period.stop) return 0;
  const from = Math.max(launched, period.start);
  const to = terminated === null ? period.stop : Math.min(period.stop, terminated);
  return (to - from) / US_PER_HOUR;
}

function serverUsage(row: InstanceRow, period: UsagePeriod): ServerUsage {
  const flavor = JSON.parse(row.flavor) as Partial<FlavorSnapshot>;
  const launched = storedUs(row.launched_at!);
  const terminated = row.terminated_at ? storedUs(row.terminated_at) : null;
  return {
    hours: hoursIn(launched, terminated, period),
    flavor: flavor.name ?? '',
    instance_id: row.uuid,
    name: row.display_name,
    tenant_id: row.project_id,
    memory_mb: Number(flavor.memory_mb ?? 0),
    local_gb: Number(flavor.root_gb ?? 0) + Number(flavor.ephemeral_gb ?? 0),
    vcpus: Number(flavor.vcpus ?? 0),
    started_at: novaTime(launched),
    ended_at: terminated === null ? null : novaTime(terminated),
    state: terminated === null ? row.vm_state : 'terminated',
    uptime: Math.trunc(((terminated ?? nowUs()) - launched) / 1e6),
  };
}

/**
 * Each project's usage over the period, in the order of its first
 * instance on the page, and every server usage of the page (what the
 * next link's marker is taken from, detailed or not).
 */
export async function tenantUsages(
  db: Database,
  period: UsagePeriod,
  page: UsagePage,
  detailed: boolean,
): Promise<{ usages: TenantUsage[]; servers: ServerUsage[] }> {
  const byProject = new Map<string, TenantUsage>();
  const servers = (await instancesInPeriod(db, period, page)).map((r) => serverUsage(r, period));
  for (const s of servers) {
    let u = byProject.get(s.tenant_id);
    if (!u) {
      u = {
        tenant_id: s.tenant_id,
        ...(detailed ? { server_usages: [] } : {}),
        total_local_gb_usage: 0,
        total_vcpus_usage: 0,
        total_memory_mb_usage: 0,
        total_hours: 0,
        start: novaTime(period.start),
        stop: novaTime(period.stop),
      };
      byProject.set(s.tenant_id, u);
    }
    u.total_local_gb_usage += s.local_gb * s.hours;
    u.total_vcpus_usage += s.vcpus * s.hours;
    u.total_memory_mb_usage += s.memory_mb * s.hours;
    u.total_hours += s.hours;
    u.server_usages?.push(s);
  }
  return { usages: [...byProject.values()], servers };
}
