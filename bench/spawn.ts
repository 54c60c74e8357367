// The spawn benchmark: what one short-lived container costs with berth, next to
// crun and runc on the same rootfs in the same run, and what a crowd of idle
// containers costs the host beyond their own workloads.

import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ContainerRuntime } from '../driver/runtime/runtime';
import type { ContainerConfig } from '../driver/runtime/spec';
import { hostLeftovers, monitorPids } from './leftovers';
import { measurePeer, peerAvailable, type PeerRuntime } from './peers';
import { ratio, summarize, type Summary } from './stats';

export interface SpawnOptions {
  /** timed samples per runtime in the latency test */
  iterations: number;
  /** containers started at once in the concurrency test */
  concurrent: number;
  /** stops the benchmark at the next point where it can still clean up */
  signal: AbortSignal;
}

type Runtime = 'berth' | PeerRuntime;

interface Concurrency {
  containers: number;
  allRunningMs: number;
  hostKiBPerContainer: number;
  /** how far host memory moved on its own over as long, before the containers started */
  hostDriftKiBPerContainer: number;
  monitorRssKiBPerContainer: number;
  /** the benchmark's own process, which stands in for the compute service */
  selfRssKiBPerContainer: number;
  workloadKiBPerContainer: number;
}

interface MemoryReading {
  host: number;
  monitor: number;
  self: number;
}

interface Report {
  iterations: number;
  latency: Map<Runtime, Summary>;
  unavailable: PeerRuntime[];
  concurrency: Concurrency;
}

const execFileAsync = promisify(execFile);

const KIB = 1024;
const MIB = 1024 * KIB;
const IMAGE_DIR = path.resolve(__dirname, '..', '..', 'build', 'images', 'busybox-rootfs');
const CGROUP_PARENT = 'berth-bench';
// The limits of the peers' bundle (bench/peers.ts), so that every runtime pays for
// the same cgroup writes.
const LIMITS = { memoryBytes: 256 * MIB, pids: 256, cpuShares: 512 };
// Enough to fault in the monitor's spawn path and the kernel's caches before timing.
const WARMUP_ITERATIONS = 5;
// Timings drift by ±20% over minutes on a shared VM; alternating short blocks
// spreads that drift over all runtimes instead of favouring whichever ran first.
const BLOCK = 50;
const TRASH_TIMEOUT_MS = 30_000;
// /proc/meminfo lags until each CPU folds in its counter deltas, which it does
// every vm.stat_interval (1 s by default).
const VMSTAT_SETTLE_MS = 1500;

export async function spawnBenchmark(opts: SpawnOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the spawn benchmark must run as root');
  await access(path.join(IMAGE_DIR, 'bin', 'busybox')).catch(() => {
    throw new Error(`test image missing (${IMAGE_DIR}); run scripts/build.sh`);
  });
  const peers: PeerRuntime[] = [];
  const unavailable: PeerRuntime[] = [];
  for (const peer of ['crun', 'runc'] as const) {
    if (await peerAvailable(peer)) peers.push(peer);
    else unavailable.push(peer);
  }

  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  let report: Report;
  let left: string[];
  try {
    report = {
      ...(await measure(stateDir, peers, opts)),
      iterations: opts.iterations,
      unavailable,
    };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
    // Reported even when the benchmark failed: that is when leaks are likeliest.
    left = await leftovers(stateDir);
    for (const what of left) console.error(`spawn: left behind: ${what}`);
  }
  printReport(report);
  if (left.length > 0) throw new Error('the spawn benchmark did not clean up after itself');
}

async function measure(
  stateDir: string,
  peers: PeerRuntime[],
  opts: SpawnOptions,
): Promise<Pick<Report, 'latency' | 'concurrency'>> {
  const rt = await ContainerRuntime.open({ stateDir, cgroupParent: CGROUP_PARENT });
  try {
    const samples = await measureLatency(rt, peers, opts);
    const latency = new Map([...samples].map(([name, times]) => [name, summarize(times)]));
    opts.signal.throwIfAborted();
    return { latency, concurrency: await measureConcurrency(rt, opts.concurrent, opts.signal) };
  } finally {
    await rt.shutdown();
  }
}

async function measureLatency(
  rt: ContainerRuntime,
  peers: PeerRuntime[],
  opts: SpawnOptions,
): Promise<Map<Runtime, number[]>> {
  for (let i = 0; i < WARMUP_ITERATIONS; i++) await timeSpawn(rt, `warmup-${i}`);
  const runtimes: Runtime[] = ['berth', ...peers];
  const samples = new Map(runtimes.map((name) => [name, [] as number[]]));
  for (let done = 0, round = 0; done < opts.iterations; done += BLOCK, round++) {
    const n = Math.min(BLOCK, opts.iterations - done);
    // Taking turns at going first keeps drift within a round from always hitting one runtime.
    for (const name of rotate(runtimes, round)) {
      opts.signal.throwIfAborted();
      const times =
        name === 'berth'
          ? await berthBlock(rt, n, done, opts.signal)
          : await measurePeer(name, IMAGE_DIR, n);
      samples.get(name)!.push(...times);
    }
  }
  return samples;
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function berthBlock(
  rt: ContainerRuntime,
  n: number,
  first: number,
  signal: AbortSignal,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = first; i < first + n; i++) {
    signal.throwIfAborted();
    times.push(await timeSpawn(rt, `spawn-${i}`));
  }
  // Deleted containers' directories are removed in the background; the peers
  // should not pay for the tail of that in their turn.
  await trashEmptied(rt.stateDir);
  return times;
}

/** Wall time (ms) of create+start+wait+delete, as a caller of the runtime sees it. */
async function timeSpawn(rt: ContainerRuntime, id: string): Promise<number> {
  const start = performance.now();
  await rt.run(containerConfig(id, ['/bin/true']));
  const status = await rt.wait(id);
  await rt.delete(id);
  const elapsed = performance.now() - start;
  if (status.code !== 0) throw new Error(`container ${id}: /bin/true exited with ${status.code}`);
  return elapsed;
}

async function measureConcurrency(
  rt: ContainerRuntime,
  count: number,
  signal: AbortSignal,
): Promise<Concurrency> {
  // A baseline taken while earlier containers are still being removed would
  // credit their freed memory to the new ones.
  await trashEmptied(rt.stateDir);
  const monitorPid = await findMonitorPid(rt.stateDir);
  const ids = Array.from({ length: count }, (_, i) => `idle-${i}`);
  // Whatever host memory does while none of ours is starting is other processes'
  // doing, and as much again may be hidden in the result.
  const idle = await readMemory(monitorPid);
  const before = await readMemory(monitorPid);

  const start = performance.now();
  const runs = await Promise.allSettled(
    ids.map((id) => rt.run(containerConfig(id, ['sleep', '3600']))),
  );
  const allRunningMs = performance.now() - start;
  // Settled rather than raced, so no spawn is still in flight when shutdown comes.
  const failed = runs.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const notRunning = ids.filter((id) => rt.info(id).state !== 'running');
  if (notRunning.length > 0) throw new Error(`not running: ${notRunning.join(', ')}`);
  signal.throwIfAborted();

  const after = await readMemory(monitorPid);
  const workload = ids.reduce((sum, id) => sum + cgroupMemory(rt, id), 0);
  const perContainerKiB = (bytes: number) => bytes / count / KIB;
  return {
    containers: count,
    allRunningMs,
    hostKiBPerContainer: perContainerKiB(after.host - before.host - workload),
    hostDriftKiBPerContainer: perContainerKiB(Math.abs(before.host - idle.host)),
    monitorRssKiBPerContainer: perContainerKiB(after.monitor - before.monitor),
    selfRssKiBPerContainer: perContainerKiB(after.self - before.self),
    workloadKiBPerContainer: perContainerKiB(workload),
  };
}

function containerConfig(id: string, command: string[]): ContainerConfig {
  return {
    id,
    layers: [IMAGE_DIR],
    command,
    limits: LIMITS,
    // A network namespace of its own, as the peers' bundle asks for.
    network: { mode: 'none' },
    consoleLog: { maxBytes: MIB, backups: 1 },
  };
}

function cgroupMemory(rt: ContainerRuntime, id: string): number {
  const bytes = rt.stats(id).memoryBytes;
  // Without it the workload's share can't be told apart from the runtime's.
  if (bytes === undefined) throw new Error(`no memory cgroup usage for container ${id}`);
  return bytes;
}

async function trashEmptied(stateDir: string): Promise<void> {
  const trash = path.join(stateDir, 'trash');
  const deadline = Date.now() + TRASH_TIMEOUT_MS;
  while ((await readdir(trash)).length > 0) {
    if (Date.now() > deadline) throw new Error(`${trash} was not emptied`);
    await sleep(5);
  }
}

async function readMemory(monitorPid: number): Promise<MemoryReading> {
  await sleep(VMSTAT_SETTLE_MS);
  return {
    host: await hostUsedBytes(),
    monitor: await rssBytes(monitorPid),
    self: await rssBytes(process.pid),
  };
}

/**
 * MemTotal − MemAvailable, less the free pages parked in per-CPU lists: MemFree
 * leaves those out, and on recent kernels they come to tens of MiB that a burst of
 * container starts drains or refills at random, swamping what the containers use.
 */
async function hostUsedBytes(): Promise<number> {
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    if (!m) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(m[1]) * KIB;
  };
  const zoneinfo = await readFile('/proc/zoneinfo', 'utf8');
  const perCpuPages = [...zoneinfo.matchAll(/^\s+count:\s+(\d+)$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  const pageSize = Number((await execFileAsync('getconf', ['PAGESIZE'])).stdout);
  return kib('MemTotal') - kib('MemAvailable') - perCpuPages * pageSize;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`/proc/${pid}/status has no VmRSS`);
  return Number(m[1]) * KIB;
}

// Only valid while no container is starting: until it execs, a new container
// is a clone of the monitor with the same command line.
async function findMonitorPid(stateDir: string): Promise<number> {
  const pids = await monitorPids(stateDir);
  if (pids.length !== 1) throw new Error(`expected one berth-monitor, found [${pids.join(', ')}]`);
  return pids[0];
}

async function leftovers(stateDir: string): Promise<string[]> {
  // The peers name their cgroups after their work directories (bench/peers.ts).
  const left = await hostLeftovers(
    stateDir,
    (name) => name === CGROUP_PARENT || name.startsWith('berth-peer-'),
  );
  // berth mounts container roots in the containers' own mount namespaces; any
  // of its mounts that shows up here has escaped.
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n');
  for (const m of mounts.filter((line) => line.includes(stateDir) || line.includes(IMAGE_DIR))) {
    left.push(`mount ${m}`);
  }
  return left;
}

function printReport(r: Report): void {
  const ratios = new Map<string, Summary>();
  const berth = r.latency.get('berth')!;
  for (const [name, s] of r.latency) {
    if (name !== 'berth') ratios.set(`berth/${name}`, ratio(berth, s));
  }
  printLatency(r, ratios);
  printConcurrency(r.concurrency);

  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const rounded = (s: Summary) => ({ median: round(s.median, 3), p95: round(s.p95, 3) });
  const c = r.concurrency;
  const json = {
    benchmark: 'spawn',
    iterations: r.iterations,
    latencyMs: Object.fromEntries([...r.latency].map(([name, s]) => [name, rounded(s)])),
    ratios: Object.fromEntries([...ratios].map(([name, q]) => [name, rounded(q)])),
    unavailable: r.unavailable,
    concurrent: {
      containers: c.containers,
      allRunningMs: round(c.allRunningMs, 1),
      hostMemoryPerContainerKiB: round(c.hostKiBPerContainer, 1),
      hostMemoryDriftPerContainerKiB: round(c.hostDriftKiBPerContainer, 1),
      monitorRssPerContainerKiB: round(c.monitorRssKiBPerContainer, 1),
      benchProcessRssPerContainerKiB: round(c.selfRssKiBPerContainer, 1),
      workloadMemoryPerContainerKiB: round(c.workloadKiBPerContainer, 1),
    },
  };
  console.log(JSON.stringify(json));
}

function printLatency(r: Report, ratios: Map<string, Summary>): void {
  const block = Math.min(BLOCK, r.iterations);
  const cell = (n: number) => n.toFixed(2).padStart(8);
  console.log(
    'spawn latency: create+start+wait+cleanup of /bin/true ' +
      `(ms, ${r.iterations} iterations each, interleaved in blocks of ${block})`,
  );
  console.log(`${'runtime'.padEnd(10)}${'median'.padStart(8)}${'p95'.padStart(8)}`);
  for (const [name, s] of r.latency) {
    console.log(`${name.padEnd(10)}${cell(s.median)}${cell(s.p95)}`);
  }
  for (const name of r.unavailable) console.log(`${name.padEnd(10)}   unavailable`);
  for (const [name, q] of ratios) {
    console.log(`${name.padEnd(10)}${cell(q.median)} (p95 ${q.p95.toFixed(2)})`);
  }
}

function printConcurrency(c: Concurrency): void {
  console.log(
    `\n${c.containers} concurrent \`sleep\` containers: all running after ` +
      `${c.allRunningMs.toFixed(0)} ms; host memory per container beyond the workload: ` +
      `${c.hostKiBPerContainer.toFixed(0)} KiB ` +
      `(±${c.hostDriftKiBPerContainer.toFixed(0)} idle drift; monitor RSS ` +
      `${c.monitorRssKiBPerContainer.toFixed(1)} KiB/container, this process ` +
      `${c.selfRssKiBPerContainer.toFixed(1)} KiB/container; workload ` +
      `${c.workloadKiBPerContainer.toFixed(0)} KiB/container)`,
  );
}
