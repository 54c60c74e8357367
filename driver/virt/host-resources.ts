/** What a compute host has and what its instances take, as Nova's resource tracker reads it. */
import fs from 'node:fs';
import os from 'node:os';
import type { AvailableResource } from './driver';

export interface HostTotals {
  vcpus: number;
  memoryMb: number;
  localGb: number;
}

/** The part of a flavor that is accounted for. */
export interface FlavorUsage {
  vcpus: number;
  memoryMb: number;
  rootGb: number;
}

/** CPUs, MemTotal of /proc/meminfo (os.totalmem reads it), and the size of `statePath`'s filesystem. */
export function hostTotals(statePath: string): HostTotals {
  const disk = fs.statfsSync(statePath);
  return {
    vcpus: os.cpus().length,
    memoryMb: Math.floor(os.totalmem() / 2 ** 20),
    localGb: Math.floor((disk.blocks * disk.bsize) / 2 ** 30),
  };
}

/**
 * Usage is the sum of the flavors of every instance on the host, running
 * or not: a stopped instance keeps its claim in Nova until it is deleted.
 */
export function availableResource(report: {
  hostname: string;
  hypervisorType: string;
  hypervisorVersion: number;
  totals: HostTotals;
  instances: FlavorUsage[];
  runningVms: number;
}): AvailableResource {
  const sum = (key: keyof FlavorUsage) => report.instances.reduce((n, i) => n + i[key], 0);
  return {
    vcpus: report.totals.vcpus,
    memory_mb: report.totals.memoryMb,
    local_gb: report.totals.localGb,
    vcpus_used: sum('vcpus'),
    memory_mb_used: sum('memoryMb'),
    local_gb_used: sum('rootGb'),
    hypervisor_type: report.hypervisorType,
    hypervisor_version: report.hypervisorVersion,
    hypervisor_hostname: report.hostname,
    running_vms: report.runningVms,
  };
}

/**
 * The kernel is the hypervisor of containers; its version in Nova's
 * integer form (major * 1e6 + minor * 1e3 + patch, convert_version_to_int).
 */
export function kernelVersion(release = os.release()): number {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release) ?? [])
    .slice(1)
    .map((n) => Number(n ?? 0));
  return major * 1_000_000 + minor * 1_000 + patch;
}

/** The line `uptime` prints, which Nova's libvirt driver returns from get_host_uptime. */
export function uptimeText(
  now = new Date(),
  upSeconds = os.uptime(),
  load = os.loadavg(),
  users = loggedInUsers(),
): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  const days = Math.floor(upSeconds / 86400);
  const hours = Math.floor((upSeconds % 86400) / 3600);
  const minutes = Math.floor((upSeconds % 3600) / 60);
  const up =
    (days ? `${days} day${days === 1 ? '' : 's'}, ` : '') +
    (hours ? `${String(hours).padStart(2)}:${two(minutes)}` : `${minutes} min`);
  const who = `${String(users).padStart(2)} user${users === 1 ? '' : 's'}`;
  return ` ${clock} up ${up}, ${who},  load average: ${load.map((l) => l.toFixed(2)).join(', ')}`;
}

const UTMP_RECORD_BYTES = 384;
const USER_PROCESS = 7;

/** Login sessions in utmp, as uptime counts them (0 when there is no utmp, e.g. in a container). */
export function loggedInUsers(utmp = '/var/run/utmp'): number {
  let data: Buffer;
  try {
    data = fs.readFileSync(utmp);
  } catch {
    return 0;
  }
  let users = 0;
  // struct utmp on x86_64 and aarch64 (little-endian): ut_type is the leading short.
  for (let off = 0; off + UTMP_RECORD_BYTES <= data.length; off += UTMP_RECORD_BYTES)
    if (data.readInt16LE(off) === USER_PROCESS) users++;
  return users;
}
