/** What a benchmark run may have left on the host: its monitor process and cgroups. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MonitorClient } from '../driver/runtime/monitor-client';

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
