/**
 * How a Nova instance becomes a container: flavor to cgroup limits,
 * hostname, workload command, security and logging defaults. Pure, so the
 * policy is unit-tested without a kernel.
 */
import type { ComputeSection } from '../../config/schema';
import type { Limits } from '../runtime/cgroups';
import type { ContainerConfig } from '../runtime/spec';
import { NETWORKED_CAPABILITIES } from '../runtime/security';
import type { InstanceSpec } from '../../nova/instance-object';
import {
  type ImageCommandSources,
  workloadCommand,
  workloadCwd,
  workloadEnv,
} from './workload-command';

/**
 * Flavors say nothing about processes, yet every instance needs a cap
 * (design §6): generous for a full init system, small enough that a fork
 * bomb cannot exhaust the host's pid space.
 */
export const INSTANCE_PIDS_LIMIT = 4096;

/** vCPUs become both a CFS quota (a hard cap) and shares (the weight under contention). */
export function flavorLimits(instance: Pick<InstanceSpec, 'vcpus' | 'memoryMb'>): Limits {
  return {
    memoryBytes: instance.memoryMb * 2 ** 20,
    cpus: instance.vcpus,
    cpuShares: 1024 * instance.vcpus,
    pids: INSTANCE_PIDS_LIMIT,
  };
}

/** Nova's sanitize_hostname rules; the first group of the uuid when nothing usable is left. */
export function instanceHostname(instance: Pick<InstanceSpec, 'uuid' | 'hostname'>): string {
  const sanitized = (instance.hostname ?? '')
    .toLowerCase()
    .replace(/[ _.]/g, '-')
    .replace(/[^a-z0-9-]/g, '')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return sanitized || instance.uuid.slice(0, 8);
}

/**
 * `netnsPath`: the namespace the network seam plugged the instance's ports
 * into; without one the instance gets an empty namespace of its own.
 * `writableDir`: the root volume's directory for the writable layer, which
 * then has the volume's size, not the flavor's root disk.
 */
export function instanceContainerConfig(
  instance: InstanceSpec,
  image: ImageCommandSources,
  layers: string[],
  compute: ComputeSection,
  { netnsPath, writableDir }: { netnsPath?: string; writableDir?: string } = {},
): ContainerConfig {
  return {
    id: instance.uuid,
    layers,
    command: workloadCommand(image, compute.default_command),
    env: workloadEnv(image),
    cwd: workloadCwd(image),
    user: image.user && { uid: image.user.uid, gid: image.user.gid, groups: image.user.groups },
    hostname: instanceHostname(instance),
    limits: flavorLimits(instance),
    network: netnsPath ? { mode: 'netns', path: netnsPath } : { mode: 'none' },
    capabilities: netnsPath ? NETWORKED_CAPABILITIES : undefined,
    userNamespace: compute.user_namespace
      ? { base: compute.userns_uid_base, size: compute.userns_size }
      : undefined,
    consoleLog: { maxBytes: compute.console_log_max_bytes, backups: compute.console_log_backups },
    rootDiskBytes: !writableDir && instance.rootGb > 0 ? instance.rootGb * 2 ** 30 : undefined,
    writableDir,
  };
}
