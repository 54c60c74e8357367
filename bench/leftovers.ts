/** What a benchmark run may have left on the host: its monitor process and cgroups. */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../common/log';
import { MonitorClient } from '../driver/runtime/monitor-client';
import { UndoStack } from '../common/undo-stack';
import { vhostExists } from './compute-process';

/** Processes running the monitor binary for this state directory. */
export async function monitorPids(stateDir: string): Promise<number[]> {
  const socket = MonitorClient.paths(stateDir).socket;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // Gone since the listing, or a kernel thread: not a monitor either way.
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (path.basename(argv[0]) === 'berth-monitor' && argv.includes(socket)) pids.push(+entry);
  }
  return pids;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The run's monitor, and every cgroup directly under a hierarchy whose name `isOurs` claims. */
export async function hostLeftovers(
  stateDir: string,
  isOurs: (cgroupName: string) => boolean,
): Promise<string[]> {
  const left = (await monitorPids(stateDir)).map((pid) => `berth-monitor process ${pid}`);
  for (const hierarchy of await readdir(CGROUP_ROOT)) {
    const dir = path.join(CGROUP_ROOT, hierarchy);
    for (const name of await readdir(dir).catch(() => [])) {
      if (isOurs(name)) left.push(`cgroup ${path.join(dir, name)}`);
    }
  }
  return left;
}

/** Mount points at or under `dir`, in mount order (octal escapes, for spaces and such, kept). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4]) // field 5: the mount point
    .filter((mountPoint): mountPoint is string => !!mountPoint && inside(mountPoint));
}

/**
 * Mounts and loop devices under `dir`: instances' root disks are loop-mounted
 * ext4 files in their container directories, in the host's mount namespace.
 */
export async function mountsUnder(dir: string): Promise<string[]> {
  const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
  const left = (await mountPointsUnder(dir)).map((m) => `mount ${m}`);
  for (const dev of await readdir('/sys/block').catch(() => [])) {
    if (!dev.startsWith('loop')) continue;
    const backing = await readFile(`/sys/block/${dev}/loop/backing_file`, 'utf8').catch(() => '');
    if (inside(backing.trim())) left.push(`loop device /dev/${dev} on ${backing.trim()}`);
  }
  return left;
}

/**
 * Runs a benchmark in a scratch environment — a private vhost name, a temp
 * state directory, an undo stack — then undoes everything and fails when
 * anything is left (containers, cgroups named `cgroupPrefix*`, mounts, the
 * vhost, the directory): reported even when the benchmark failed, which is
 * when leaks are likeliest.
 */
export async function inScratchEnvironment<T>(
  name: string,
  cgroupPrefix: string,
  measure: (vhost: string, stateDir: string, cleanup: UndoStack) => Promise<T>,
): Promise<T> {
  const vhost = `berth-bench-${name}-${process.pid}`;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), `berth-bench-${name}-`));
  const cleanup = new UndoStack(createLogger({ level: 'warn', json: false }));
  cleanup.push('state directory', () => rm(stateDir, { recursive: true, force: true }));
  let result: T;
  const left: string[] = [];
  try {
    result = await measure(vhost, stateDir, cleanup);
  } finally {
    await cleanup.rollback();
    left.push(
      ...(await hostLeftovers(stateDir, (c) => c.startsWith(cgroupPrefix))),
      ...(await mountsUnder(stateDir)),
    );
    if (await vhostExists(vhost)) left.push(`vhost ${vhost}`);
    await access(stateDir).then(
      () => left.push(`directory ${stateDir}`),
      () => undefined,
    );
    for (const what of left) console.error(`${name}: left behind: ${what}`);
  }
  if (left.length > 0) throw new Error(`the ${name} benchmark did not clean up after itself`);
  return result;
}
