/**
 * cgroup policy: where each controller lives and which files carry the
 * limits. Detected per controller, because hosts come in three layouts:
 * pure v1, pure v2, and hybrid (v1 controllers plus a cgroup2 mount that
 * holds few or no controllers, like this project's CI machines).
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError } from '../../common/errors';

export type Controller = 'memory' | 'cpu' | 'cpuacct' | 'pids' | 'freezer';
const CONTROLLERS: Controller[] = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'];

export interface CgroupLayout {
  /** v1 controller -> its hierarchy's mount point */
  v1: Map<string, string>;
  /** the cgroup2 mount, if any, and the controllers it can delegate */
  v2?: { mount: string; controllers: Set<string> };
  /** v1 swap accounting (memory.memsw.*) is compiled in and enabled */
  memsw: boolean;
}

export interface Limits {
  memoryBytes?: number;
  /** CPU bandwidth in CPUs (0.5 = half a core) */
  cpus?: number;
  /** relative weight, v1 cpu.shares scale (2..262144, default 1024) */
  cpuShares?: number;
  pids?: number;
}

/** Everything the helper and the runtime need to know about one container's cgroups. */
export interface CgroupPlan {
  v1Dirs: string[];
  v2Dir?: string;
  /** files to write, in order, after the directories exist */
  writes: [string, string][];
  /** directories to remove once the container is gone, leaves first */
  rmdirs: string[];
  /** the file whose oom_kill count tells an OOM kill */
  oomFile?: string;
  freezer: { version: 1 | 2; dir: string } | undefined;
  dirs: Partial<Record<Controller, { version: 1 | 2; dir: string }>>;
}

export function detectCgroupLayout(mountinfo = '/proc/self/mountinfo'): CgroupLayout {
  const layout: CgroupLayout = { v1: new Map(), memsw: false };
  for (const line of fs.readFileSync(mountinfo, 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , superOptions] = right.split(' ');
    if (fstype === 'cgroup2') {
      const controllers = readOr(path.join(mountPoint, 'cgroup.controllers'), '');
      layout.v2 = {
        mount: mountPoint,
        controllers: new Set(controllers.split(/\s+/).filter(Boolean)),
      };
    } else if (fstype === 'cgroup') {
      for (const opt of superOptions.split(',')) {
        if (CONTROLLERS.includes(opt as Controller)) layout.v1.set(opt, mountPoint);
      }
    }
  }
  const memory = layout.v1.get('memory');
  layout.memsw = !!memory && fs.existsSync(path.join(memory, 'memory.memsw.limit_in_bytes'));
  return layout;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/**
 * cgroup v2 cpu.weight from v1 cpu.shares, the conversion runc and crun use.
 * Their division is an integer one (truncating), so floor, not round.
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function planCgroups(
  layout: CgroupLayout,
  parent: string,
  id: string,
  limits: Limits,
): CgroupPlan {
  const plan: CgroupPlan = { v1Dirs: [], writes: [], rmdirs: [], freezer: undefined, dirs: {} };
  const v2 = layout.v2;
  // In a cgroup2 hierarchy we always make a group, even when it carries no
  // controller (hybrid hosts): it gives freeze, kill-all and birth-time
  // placement (CLONE_INTO_CGROUP) for free.
  if (v2) {
    plan.v2Dir = path.join(v2.mount, parent, id);
    const delegated = (['memory', 'cpu', 'pids'] as const).filter((c) => v2.controllers.has(c));
    if (delegated.length) {
      const enable = delegated.map((c) => `+${c}`).join(' ');
      plan.writes.push([path.join(v2.mount, 'cgroup.subtree_control'), enable]);
      plan.writes.push([path.join(v2.mount, parent, 'cgroup.subtree_control'), enable]);
    }
  }
  for (const controller of CONTROLLERS) {
    if (v2?.controllers.has(controller)) {
      plan.dirs[controller] = { version: 2, dir: plan.v2Dir! };
    } else if (controller === 'freezer' && v2) {
      plan.dirs.freezer = { version: 2, dir: plan.v2Dir! }; // cgroup.freeze is core in v2
    } else if (layout.v1.has(controller)) {
      const dir = path.join(layout.v1.get(controller)!, parent, id);
      plan.dirs[controller] = { version: 1, dir };
      if (!plan.v1Dirs.includes(dir)) plan.v1Dirs.push(dir);
    }
  }
  plan.freezer = plan.dirs.freezer;
  addLimitWrites(plan, layout, limits);
  plan.rmdirs = [...plan.v1Dirs, ...(plan.v2Dir ? [plan.v2Dir] : [])];
  return plan;
}

function addLimitWrites(plan: CgroupPlan, layout: CgroupLayout, limits: Limits): void {
  const { memory, cpu, pids } = plan.dirs;
  const w = (dir: string, file: string, value: string | number) =>
    plan.writes.push([path.join(dir, file), String(value)]);
  if (memory) {
    plan.oomFile = path.join(
      memory.dir,
      memory.version === 1 ? 'memory.oom_control' : 'memory.events',
    );
    if (limits.memoryBytes !== undefined) {
      if (memory.version === 1) {
        w(memory.dir, 'memory.limit_in_bytes', limits.memoryBytes);
        // No swap beyond the limit: memsw must be written after the limit it bounds.
        if (layout.memsw) w(memory.dir, 'memory.memsw.limit_in_bytes', limits.memoryBytes);
      } else {
        w(memory.dir, 'memory.max', limits.memoryBytes);
        w(memory.dir, 'memory.swap.max', 0);
      }
    }
  }
  if (cpu) {
    const period = 100000;
    const quota =
      limits.cpus !== undefined ? Math.max(1000, Math.round(limits.cpus * period)) : undefined;
    if (cpu.version === 1) {
      if (limits.cpuShares !== undefined) w(cpu.dir, 'cpu.shares', limits.cpuShares);
      if (quota !== undefined) {
        w(cpu.dir, 'cpu.cfs_period_us', period);
        w(cpu.dir, 'cpu.cfs_quota_us', quota);
      }
    } else {
      if (limits.cpuShares !== undefined)
        w(cpu.dir, 'cpu.weight', sharesToWeight(limits.cpuShares));
      if (quota !== undefined) w(cpu.dir, 'cpu.max', `${quota} ${period}`);
    }
  }
  if (pids && limits.pids !== undefined) w(pids.dir, 'pids.max', limits.pids);
}

const FREEZE_POLL_MS = 2;
const FREEZE_TIMEOUT_MS = 10000;

/** Freezes (or thaws) every task of the container and waits until the kernel says it is done. */
export async function setFrozen(plan: CgroupPlan, frozen: boolean): Promise<void> {
  const f = plan.freezer;
  if (!f) throw new ConflictError('no freezer cgroup on this host');
  const deadline = Date.now() + FREEZE_TIMEOUT_MS;
  for (;;) {
    if (f.version === 2) {
      fs.writeFileSync(path.join(f.dir, 'cgroup.freeze'), frozen ? '1' : '0');
      if (readOr(path.join(f.dir, 'cgroup.events'), '').includes(`frozen ${frozen ? 1 : 0}`))
        return;
    } else {
      const want = frozen ? 'FROZEN' : 'THAWED';
      fs.writeFileSync(path.join(f.dir, 'freezer.state'), want);
      if (readOr(path.join(f.dir, 'freezer.state'), '') === want) return;
    }
    if (Date.now() > deadline)
      throw new ConflictError(`freezer did not reach ${frozen ? 'frozen' : 'thawed'}`);
    await sleep(FREEZE_POLL_MS);
  }
}

export function isFrozen(plan: CgroupPlan): boolean {
  const f = plan.freezer;
  if (!f) return false;
  return f.version === 2
    ? readOr(path.join(f.dir, 'cgroup.events'), '').includes('frozen 1')
    : readOr(path.join(f.dir, 'freezer.state'), '') === 'FROZEN';
}

export interface CgroupStats {
  memoryBytes?: number;
  memoryLimitBytes?: number;
  cpuNanos?: number;
  pids?: number;
  oomKills?: number;
}

function readNumber(file: string): number | undefined {
  const n = Number(readOr(file, 'NaN'));
  return Number.isFinite(n) ? n : undefined;
}

function readKey(file: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readOr(file, ''));
  return m ? Number(m[1]) : undefined;
}

export function readStats(plan: CgroupPlan): CgroupStats {
  const stats: CgroupStats = {};
  const { memory, cpuacct, cpu, pids } = plan.dirs;
  if (memory?.version === 1) {
    stats.memoryBytes = readNumber(path.join(memory.dir, 'memory.usage_in_bytes'));
    stats.memoryLimitBytes = readNumber(path.join(memory.dir, 'memory.limit_in_bytes'));
  } else if (memory) {
    stats.memoryBytes = readNumber(path.join(memory.dir, 'memory.current'));
    stats.memoryLimitBytes = readNumber(path.join(memory.dir, 'memory.max'));
  }
  if (plan.oomFile) stats.oomKills = readKey(plan.oomFile, 'oom_kill');
  if (cpuacct?.version === 1) stats.cpuNanos = readNumber(path.join(cpuacct.dir, 'cpuacct.usage'));
  else if (cpu?.version === 2 || plan.v2Dir) {
    const usec = readKey(path.join(cpu?.dir ?? plan.v2Dir!, 'cpu.stat'), 'usage_usec');
    if (usec !== undefined) stats.cpuNanos = usec * 1000;
  }
  if (pids) stats.pids = readNumber(path.join(pids.dir, 'pids.current'));
  return stats;
}

/** Every pid still in the container's cgroups. */
export function cgroupPids(plan: CgroupPlan): number[] {
  const pids = new Set<number>();
  for (const dir of [...plan.v1Dirs, ...(plan.v2Dir ? [plan.v2Dir] : [])]) {
    for (const p of readOr(path.join(dir, 'cgroup.procs'), '').split('\n'))
      if (p) pids.add(Number(p));
  }
  return [...pids];
}

/** Removes the container's cgroup directories; idempotent, for reconcile after a crash. */
export function removeCgroups(plan: CgroupPlan): void {
  for (const dir of plan.rmdirs) {
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Removes the shared parent directories when the last container is gone. */
export function removeParents(layout: CgroupLayout, parent: string): void {
  const mounts = new Set([...layout.v1.values(), ...(layout.v2 ? [layout.v2.mount] : [])]);
  for (const mount of mounts) {
    try {
      fs.rmdirSync(path.join(mount, parent));
    } catch {
      // still in use by another container, or never made
    }
  }
}
