/**
 * The os-hypervisors resource as Nova shapes it
 * (nova/api/openstack/compute/hypervisors.py _view_hypervisor): a compute
 * node seen with its nova-compute service.
 */
import type { ServiceRow } from '../db/services';
import type { Microversion } from '../microversion';

export interface ComputeNodeRow {
  id: number;
  uuid: string;
  host: string;
  hypervisor_hostname: string;
  hypervisor_type: string;
  hypervisor_version: number;
  host_ip: string;
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  running_vms: number;
  created_at: string;
  updated_at: string | null;
}

export interface HypervisorViewOptions {
  v: Microversion;
  detail: boolean;
  up: boolean;
  /** instances on the host with a task in progress (Nova's current_workload) */
  workload: number;
  /** the host's servers, when asked for */
  servers?: { name: string; uuid: string }[];
  withServers?: boolean;
  /** from 2.88, in the detail view: what `uptime` printed on the host, null when it could not be asked */
  uptime?: string | null;
}

/** The usage figures Nova reported before 2.88 (and in statistics). */
export function nodeFigures(n: ComputeNodeRow, workload: number) {
  const freeDisk = n.local_gb - n.local_gb_used;
  return {
    vcpus: n.vcpus,
    memory_mb: n.memory_mb,
    local_gb: n.local_gb,
    vcpus_used: n.vcpus_used,
    memory_mb_used: n.memory_mb_used,
    local_gb_used: n.local_gb_used,
    free_ram_mb: n.memory_mb - n.memory_mb_used,
    free_disk_gb: freeDisk,
    current_workload: workload,
    running_vms: n.running_vms,
    // berth has no over-committed image backing files, so the least disk available is the free disk.
    disk_available_least: freeDisk,
  };
}

export function hypervisorView(n: ComputeNodeRow, s: ServiceRow, o: HypervisorViewOptions) {
  const uuids = o.v.ge('2.53');
  const view: Record<string, unknown> = {
    id: uuids ? n.uuid : n.id,
    hypervisor_hostname: n.hypervisor_hostname,
    state: o.up ? 'up' : 'down',
    status: s.disabled ? 'disabled' : 'enabled',
  };
  if (o.detail) {
    view.hypervisor_type = n.hypervisor_type;
    view.hypervisor_version = n.hypervisor_version;
    view.host_ip = n.host_ip;
    view.service = {
      id: uuids ? s.uuid : s.id,
      host: n.host,
      disabled_reason: s.disabled_reason,
    };
    if (o.v.lt('2.88')) {
      Object.assign(view, nodeFigures(n, o.workload));
      // The node reports no CPU model; Nova gives a JSON string before 2.28, an object from it.
      view.cpu_info = o.v.ge('2.28') ? {} : '{}';
    } else {
      view.uptime = o.uptime ?? null;
    }
  }
  if (o.servers && o.servers.length > 0) view.servers = o.servers;
  else if (o.withServers && o.v.ge('2.75')) view.servers = [];
  return view;
}
