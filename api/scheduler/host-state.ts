/**
 * What the scheduler knows about each compute host: its size, what the
 * allocations already recorded there use, and its service's zone and
 * liveness. A host is a candidate only once its compute node row exists,
 * i.e. after its first resource report.
 */
import type { BerthConfig } from '../../config/schema';
import type { Database } from '../db/connection';
import { computeServices, isUp } from '../db/services';

export interface Resources {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface HostState {
  host: string;
  zone: string;
  up: boolean;
  disabled: boolean;
  /** the node's physical size; also the largest single allocation (placement's max_unit) */
  total: Resources;
  /** total × allocation ratio: what all allocations together may reach */
  capacity: Resources;
  /** the sum of the allocations recorded on the host */
  used: Resources;
}

/** The compute_nodes columns the scheduler reads. */
export interface ComputeNodeSize {
  host: string;
  vcpus: number;
  memory_mb: number;
  local_gb: number;
}

export const NO_RESOURCES: Resources = Object.freeze({ vcpus: 0, memoryMb: 0, diskGb: 0 });

export function totalOf(node: ComputeNodeSize): Resources {
  return { vcpus: node.vcpus, memoryMb: node.memory_mb, diskGb: node.local_gb };
}

/** Placement's inventory capacity: (total − reserved) × allocation_ratio, with nothing reserved. */
export function capacityOf(node: ComputeNodeSize, config: BerthConfig): Resources {
  const { cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio } = config.DEFAULT;
  return {
    vcpus: node.vcpus * cpu_allocation_ratio,
    memoryMb: node.memory_mb * ram_allocation_ratio,
    diskGb: node.local_gb * disk_allocation_ratio,
  };
}

/** The first resource the request does not fit in, or undefined when it fits. */
export function shortfall(
  host: Pick<HostState, 'total' | 'capacity' | 'used'>,
  want: Resources,
): keyof Resources | undefined {
  const kinds: (keyof Resources)[] = ['vcpus', 'memoryMb', 'diskGb'];
  return kinds.find(
    (kind) => want[kind] > host.total[kind] || host.used[kind] + want[kind] > host.capacity[kind],
  );
}

/**
 * Usage per host from the allocations table. `excludeInstance` leaves out
 * an instance's own allocation, which a new claim for it replaces.
 */
export async function allocationsByHost(
  db: Database,
  o: { host?: string; excludeInstance?: string } = {},
): Promise<Map<string, Resources>> {
  const query = db('allocations')
    .select('host')
    .sum({ vcpus: 'vcpus', memory_mb: 'memory_mb', disk_gb: 'disk_gb' })
    .groupBy('host');
  if (o.host !== undefined) query.where({ host: o.host });
  if (o.excludeInstance !== undefined) query.whereNot({ instance_uuid: o.excludeInstance });
  // PostgreSQL returns SUM over integers as a numeric string.
  const rows = (await query) as unknown as {
    host: string;
    vcpus: number | string;
    memory_mb: number | string;
    disk_gb: number | string;
  }[];
  return new Map(
    rows.map((r) => [
      r.host,
      { vcpus: Number(r.vcpus), memoryMb: Number(r.memory_mb), diskGb: Number(r.disk_gb) },
    ]),
  );
}

/**
 * Every compute host with a compute node row, sorted by name so that ties
 * break the same way each time; `instanceUuid`'s own allocation is not
 * counted, as a claim for it replaces that allocation.
 */
export async function loadHostStates(
  db: Database,
  config: BerthConfig,
  o: { instanceUuid?: string; now?: number } = {},
): Promise<HostState[]> {
  const [services, nodes, used] = await Promise.all([
    computeServices(db),
    db<ComputeNodeSize>('compute_nodes').select('host', 'vcpus', 'memory_mb', 'local_gb'),
    allocationsByHost(db, { excludeInstance: o.instanceUuid }),
  ]);
  const now = o.now ?? Date.now();
  const serviceByHost = new Map(services.map((s) => [s.host, s]));
  const hosts: HostState[] = [];
  for (const node of nodes) {
    const service = serviceByHost.get(node.host);
    // A node without its nova-compute service row cannot be judged up or down.
    if (!service) continue;
    hosts.push({
      host: node.host,
      zone: service.availability_zone,
      up: isUp(service, config.DEFAULT.service_down_time, now),
      disabled: Boolean(service.disabled),
      total: totalOf(node),
      capacity: capacityOf(node, config),
      used: used.get(node.host) ?? NO_RESOURCES,
    });
  }
  return hosts.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
