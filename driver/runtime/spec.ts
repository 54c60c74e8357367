/**
 * What a container is (ContainerConfig) and how it is told to the helper:
 * a flat list of NUL-separated key/value pairs in which every decision is
 * already made (paths, namespaces, limits, capabilities, filter bytes).
 */
import path from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { CgroupPlan, Limits } from './cgroups';
import type { SpecKey } from './monitor-protocol';
import { compileSeccomp } from './seccomp';
import {
  type Capability,
  capabilityMask,
  DEFAULT_ENV,
  DEVICES,
  MASKED_PATHS,
  READONLY_PATHS,
} from './security';

export type NetworkConfig = { mode: 'none' } | { mode: 'netns'; path: string };

/** Ids as the container sees them (inside its user namespace, when it has one). */
export interface ContainerUser {
  uid: number;
  gid: number;
  /** supplementary groups */
  groups: number[];
}

/** The helper keeps lists in fixed arrays of this many entries (spec.h SPEC_MAX_LIST). */
const MAX_LIST = 64;

export interface ContainerConfig {
  id: string;
  /** read-only lower layer directories, top-most first */
  layers: string[];
  command: string[];
  env?: string[];
  cwd?: string;
  hostname?: string;
  limits: Limits;
  network: NetworkConfig;
  /** the bounding, permitted and effective set; DEFAULT_CAPABILITIES when absent */
  capabilities?: Capability[];
  /**
   * Who the workload runs as, switched to after every privileged step;
   * a non-root user keeps no capabilities. The container's root when absent.
   */
  user?: ContainerUser;
  /** map container root to host uid/gid `base` .. base+size-1 */
  userNamespace?: { base: number; size: number };
  consoleLog: { maxBytes: number; backups: number };
  /**
   * Caps the writable layer: it then lives on a file system of its own, of
   * this size, so a container cannot fill the host's disk.
   */
  rootDiskBytes?: number;
  /**
   * The writable layer lives here, outside the container's directory: a
   * root volume's file system (boot from volume), which keeps it after the
   * container is deleted. Excludes rootDiskBytes: the volume has its size.
   */
  writableDir?: string;
}

/** A host mount (a volume's file system) bound into the container at `target`. */
export interface VolumeMount {
  source: string;
  /** absolute, as the container sees it */
  target: string;
  readOnly: boolean;
}

export interface ContainerPaths {
  dir: string;
  /** with rootDiskBytes: the sparse file holding the writable layer's file system, and its mount point */
  diskImage: string;
  disk: string;
  config: string;
  rootfs: string;
  upper: string;
  work: string;
  consoleLog: string;
  exitFile: string;
  pidFile: string;
  /** with a user namespace, where layer i is attached id-mapped */
  layerMount: (i: number) => string;
}

/** A sized root disk, in a container's directory: the sparse ext4 image and its mount point. */
export const DISK_IMAGE = 'disk.img';
export const DISK_MOUNT = 'disk';

export function containerPaths(
  stateDir: string,
  id: string,
  config?: Pick<ContainerConfig, 'rootDiskBytes' | 'writableDir'>,
): ContainerPaths {
  const dir = path.join(stateDir, 'containers', id);
  // Overlay wants upper and work on one file system: the root volume's or the sized disk's.
  const writable =
    config?.writableDir ?? (config?.rootDiskBytes ? path.join(dir, DISK_MOUNT) : dir);
  return {
    dir,
    diskImage: path.join(dir, DISK_IMAGE),
    disk: path.join(dir, DISK_MOUNT),
    config: path.join(dir, 'config.json'),
    rootfs: path.join(dir, 'rootfs'),
    upper: path.join(writable, 'upper'),
    work: path.join(writable, 'work'),
    consoleLog: path.join(dir, 'console.log'),
    exitFile: path.join(dir, 'exit'),
    pidFile: path.join(dir, 'pid'),
    layerMount: (i) => path.join(dir, 'layers', String(i)),
  };
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function validateConfig(c: ContainerConfig): void {
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`container ${c.id ?? '?'}: ${msg}`);
  };
  if (typeof c.id !== 'string' || !ID.test(c.id)) bad(`invalid id ${JSON.stringify(c.id)}`);
  if (!c.layers.length) bad('no root filesystem layer');
  for (const l of c.layers) if (!path.isAbsolute(l)) bad(`layer path must be absolute: ${l}`);
  if (!c.command.length || !c.command[0]) bad('no command');
  const strings = [...c.command, ...(c.env ?? []), c.cwd ?? '', c.hostname ?? '', ...c.layers];
  if (strings.some((s) => typeof s !== 'string' || s.includes('\0')))
    bad('strings must not contain NUL');
  if (c.layers.some((l) => l.includes(':') || l.includes(',')))
    bad('layer paths must not contain ":" or ","');
  if (c.cwd !== undefined && !path.isAbsolute(c.cwd))
    bad(`working directory must be absolute: ${c.cwd}`);
  if (c.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(c.hostname))
    bad(`invalid hostname ${JSON.stringify(c.hostname)}`);
  const { memoryBytes, cpus, cpuShares, pids } = c.limits;
  if (memoryBytes !== undefined && !(Number.isInteger(memoryBytes) && memoryBytes >= 4 << 20))
    bad(`memory limit must be at least 4 MiB, got ${memoryBytes}`);
  if (cpus !== undefined && !(cpus > 0 && cpus <= 1024)) bad(`cpus must be > 0, got ${cpus}`);
  if (
    cpuShares !== undefined &&
    !(Number.isInteger(cpuShares) && cpuShares >= 2 && cpuShares <= 262144)
  )
    bad(`cpu shares must be 2..262144, got ${cpuShares}`);
  if (pids !== undefined && !(Number.isInteger(pids) && pids >= 1))
    bad(`pids limit must be ≥ 1, got ${pids}`);
  if (c.network.mode === 'netns' && !path.isAbsolute(c.network.path))
    bad('netns path must be absolute');
  if (c.user) validateUser(c.user, c.userNamespace?.size, bad);
  const disk = c.rootDiskBytes;
  if (disk !== undefined && !(Number.isInteger(disk) && disk >= 16 << 20))
    bad(`root disk must be at least 16 MiB, got ${disk}`);
  const writable = c.writableDir;
  if (writable !== undefined) {
    if (disk !== undefined) bad('a writable directory has its own size: no root disk with it');
    if (!path.isAbsolute(writable) || /[:,\0]/.test(writable))
      bad(`writable directory must be absolute, without ":" or ",": ${writable}`);
  }
}

function validateUser(
  user: ContainerUser,
  mapped: number | undefined,
  bad: (msg: string) => never,
): void {
  // Beyond the mapped range the kernel would refuse setresuid with EINVAL.
  const limit = mapped ?? 2 ** 32 - 1;
  const ids = [user.uid, user.gid, ...user.groups];
  const wrong = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < limit));
  if (wrong !== undefined)
    bad(
      `user id ${wrong} is not in 0..${limit - 1}` +
        (mapped ? ' (the user namespace maps no more)' : ''),
    );
  if (user.groups.length > MAX_LIST)
    bad(`${user.groups.length} supplementary groups; at most ${MAX_LIST}`);
}

class SpecWriter {
  private parts: string[] = [];
  add(key: SpecKey, value: string | number): this {
    // A NUL would shift every later pair (exec args, env and cwd are not
    // validated elsewhere), letting a value smuggle in keys such as caps.
    if (String(value).includes('\0')) throw new InvalidArgumentError(`${key}: value contains NUL`);
    this.parts.push(key, String(value));
    return this;
  }
  addAll(key: SpecKey, values: readonly string[]): this {
    for (const v of values) this.add(key, v);
    return this;
  }
  toBuffer(): Buffer {
    return Buffer.from(this.parts.join('\0') + '\0');
  }
}

let seccompProgram: string | undefined;
function seccompHex(): string {
  seccompProgram ??= compileSeccomp().toString('hex');
  return seccompProgram;
}

function addProcess(w: SpecWriter, c: ContainerConfig, command: string[], cwd?: string): void {
  w.addAll('env', c.env?.length ? c.env : DEFAULT_ENV);
  w.add('cwd', cwd ?? c.cwd ?? '/');
  if (c.user) {
    w.add('uid', c.user.uid).add('gid', c.user.gid);
    w.addAll('sgid', c.user.groups.map(String));
  }
  w.add('caps', capabilityMask(c.capabilities).toString(16));
  w.add('seccomp', seccompHex());
  w.addAll('arg', command);
}

function addCgroups(w: SpecWriter, plan: CgroupPlan): void {
  w.addAll('cgroup', plan.v1Dirs);
  if (plan.v2Dir) w.add('cgroup2', plan.v2Dir);
}

export function encodeSpawnSpec(
  c: ContainerConfig,
  plan: CgroupPlan,
  p: ContainerPaths,
  volumes: readonly VolumeMount[] = [],
): Buffer {
  const w = new SpecWriter().add('id', c.id).add('rootfs', p.rootfs);
  if (c.userNamespace) {
    // The image's files are owned by host root: each layer is seen through
    // an id-mapped mount attached in the container's directory.
    w.addAll(
      'lower',
      c.layers.map((_, i) => p.layerMount(i)),
    ).addAll('idmapsource', c.layers);
  } else {
    w.addAll('lower', c.layers);
  }
  w.add('upper', p.upper).add('work', p.work);
  const namespaces = ['mnt', 'pid', 'uts', 'ipc', 'cgroup'];
  if (c.network.mode === 'none') namespaces.push('net');
  else w.add('netns', c.network.path);
  if (c.userNamespace) {
    namespaces.push('user');
    const map = `0 ${c.userNamespace.base} ${c.userNamespace.size}`;
    w.add('uidmap', map).add('gidmap', map);
  }
  w.addAll('ns', namespaces);
  if (c.network.mode === 'none') w.add('loopback', 1);
  w.add('hostname', c.hostname ?? c.id.slice(0, 63));
  addCgroups(w, plan);
  for (const [file, value] of plan.writes) w.add(`write:${file}`, value);
  w.addAll('rmdir', plan.rmdirs);
  if (plan.oomFile) w.add('oomfile', plan.oomFile);
  w.addAll('device', DEVICES).addAll('mask', MASKED_PATHS).addAll('readonly', READONLY_PATHS);
  w.add('log', p.consoleLog)
    .add('logmax', c.consoleLog.maxBytes)
    .add('logkeep', c.consoleLog.backups);
  w.add('exitfile', p.exitFile).add('pidfile', p.pidFile);
  if (volumes.length > MAX_LIST) throw new InvalidArgumentError(`at most ${MAX_LIST} volumes`);
  for (const v of volumes)
    w.add('volume', v.source)
      .add('volumeat', v.target)
      .add('volumero', v.readOnly ? 1 : 0);
  addProcess(w, c, c.command);
  return w.toBuffer();
}

export interface ExecOptions {
  env?: string[];
  cwd?: string;
}

export function encodeExecSpec(
  c: ContainerConfig,
  plan: CgroupPlan,
  pid: number,
  command: string[],
  opts: ExecOptions = {},
): Buffer {
  const w = new SpecWriter()
    .add('id', c.id)
    .add('pid', pid)
    .add('userns', c.userNamespace ? 1 : 0);
  addCgroups(w, plan);
  addProcess(w, { ...c, env: opts.env ?? c.env }, command, opts.cwd);
  return w.toBuffer();
}
