// The network benchmark: what a port costs berth, next to the usual way of
// giving a container one, measured in the same run. All of it happens in a
// simulated host of the benchmark's own (a network namespace handed to the
// data plane as `[network] host_netns`); nothing touches the host's network.
//
// - boot with one port on a bridge: plug + create + start + wait + delete +
//   unplug of /bin/true through berth's runtime and Network, against `crun
//   run` whose createRuntime hook puts a veth into a bridge (`ip`, `nsenter`);
// - plug and unplug of one port, alone;
// - TCP round trips and bulk throughput between two instances' namespaces,
//   with 0 and with 100 security-group rules, against two plain namespaces
//   on a bare veth pair (the same program on both sides: bench/fixtures/tcp-peer);
// - 50 instances booted at once on one network.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { access, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { berthSchema } from '../config/schema';
import { createLogger } from '../common/log';
import type { Network } from '../driver/network/network';
import { ContainerRuntime } from '../driver/runtime/runtime';
import type { ContainerConfig } from '../driver/runtime/spec';
import { native } from '../native';
import type { NetSecurityGroupRule } from '../nova/network-model';
import {
  type BenchPort,
  benchHostState,
  benchPort,
  benchVif,
  DEVICE_PREFIX,
  ip,
  MY_IP,
  name,
  Namespaces,
  simulatedHost,
} from './bench-network';
import { hostLeftovers, mountsUnder } from './leftovers';
import { measurePeer, peerAvailable } from './peers';
import { ratio, summarize, type Summary } from './stats';

export interface NetOptions {
  /** timed boots per runtime, and plugs/unplugs */
  iterations: number;
  /** instances booted at once on one network */
  instances: number;
  /** timed TCP round trips per pair and rule count */
  roundTrips: number;
  /** MiB pushed through each pair for throughput */
  bulkMb: number;
  signal: AbortSignal;
}

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
const IMAGE_DIR = path.resolve(__dirname, '..', '..', 'build', 'images', 'busybox-rootfs');
const TCP_PEER = path.join(__dirname, 'fixtures', 'tcp-peer.js');
const CGROUP_PARENT = 'berth-bench-net';
const LIMITS = { memoryBytes: 256 * MIB, pids: 256, cpuShares: 512 };
const BLOCK = 25;
const WARMUP = 3;
const PORT = 5201;
const PEER_BRIDGE = 'pbr0';

interface Report {
  boot: Map<string, Summary>;
  plugMs?: Summary;
  unplugMs?: Summary;
  rr: Map<string, Summary>;
  bulk: Map<string, number>;
  crowd?: { instances: number; allRunningMs: number };
  unavailable: Record<string, string>;
}

export async function netBenchmark(opts: NetOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the net benchmark must run as root');
  await access(path.join(IMAGE_DIR, 'bin', 'busybox')).catch(() => {
    throw new Error(`test image missing (${IMAGE_DIR}); run scripts/build.sh`);
  });
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-net-'));
  const tag = path.basename(work).slice('berth-bench-net-'.length);
  const namespaces = new Namespaces(`berth-bench-net-${tag}`);
  const report: Report = { boot: new Map(), rr: new Map(), bulk: new Map(), unavailable: {} };
  let left: string[] = [];
  try {
    const hostNs = await namespaces.add('host');
    await simulatedHost(hostNs);
    await ip('-n', name(hostNs), 'link', 'add', PEER_BRIDGE, 'type', 'bridge');
    await ip('-n', name(hostNs), 'link', 'set', PEER_BRIDGE, 'up');
    const crun = await crunBlocks(hostNs);
    if (!crun) report.unavailable[CRUN] = 'crun not installed (scripts/bootstrap.sh installs it)';
    const berth = loadLinuxNetwork();
    if (typeof berth === 'string') {
      report.unavailable.berth = berth;
      if (crun) report.boot.set(CRUN, summarize(await inBlocks(opts, crun)));
    } else await measureBerth(report, berth, hostNs, work, opts, crun);
    await measureBareVeth(report, namespaces, opts);
  } finally {
    await namespaces.removeAll();
    left = await hostLeftovers(
      work,
      (name) => name === CGROUP_PARENT || name.startsWith('berth-peer-'),
    );
    left.push(...(await mountsUnder(work)));
    await rm(work, { recursive: true, force: true });
    for (const what of left) console.error(`net: left behind: ${what}`);
  }
  printReport(report, opts);
  if (left.length > 0) throw new Error('the net benchmark did not clean up after itself');
}

// ---- the peers ----

/**
 * The createRuntime hook of the crun peer, as a CNI bridge plugin does it
 * with iproute2: a veth whose far end becomes the container's eth0, the
 * near end on the bridge, an address, the link up. It runs in crun's
 * namespace, the simulated host's (measurePeer's netns).
 */
const VETH_HOOK = [
  'state=$(cat); pid=${state#*\\"pid\\":}; pid=${pid%%[,\\}]*}',
  'ip link add "pv$pid" type veth peer name eth0 netns "$pid"',
  `ip link set "pv$pid" master ${PEER_BRIDGE} up`,
  'nsenter -t "$pid" -n ip addr add 10.96.0.2/24 dev eth0',
  'nsenter -t "$pid" -n ip link set eth0 up',
].join(' && ');

const CRUN = 'crun+veth hook';
type Block = (n: number) => Promise<number[]>;

/** `n` timed runs of the crun peer per call, or undefined without crun. */
async function crunBlocks(hostNs: string): Promise<Block | undefined> {
  if (!(await peerAvailable('crun'))) return undefined;
  const hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', VETH_HOOK] }] };
  return (n) => measurePeer('crun', IMAGE_DIR, n, { hooks, netns: hostNs });
}

async function inBlocks(opts: NetOptions, block: Block): Promise<number[]> {
  const samples: number[] = [];
  for (let done = 0; done < opts.iterations; done += BLOCK) {
    opts.signal.throwIfAborted();
    samples.push(...(await block(Math.min(BLOCK, opts.iterations - done))));
  }
  return samples;
}

/** Two plain namespaces on a bare veth pair: the floor of any path between two instances. */
async function measureBareVeth(
  report: Report,
  namespaces: Namespaces,
  opts: NetOptions,
): Promise<void> {
  const [a, b] = [await namespaces.add('veth-a'), await namespaces.add('veth-b')];
  await ip(
    '-n',
    name(a),
    'link',
    'add',
    'eth0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    name(b),
  );
  for (const [ns, addr] of [
    [a, '10.98.0.1'],
    [b, '10.98.0.2'],
  ]) {
    await ip('-n', name(ns), 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await ip('-n', name(ns), 'link', 'set', 'eth0', 'up');
  }
  await measureTcp(report, 'bare veth pair', a, b, '10.98.0.2', opts);
}

// ---- TCP between two namespaces ----

async function measureTcp(
  report: Report,
  label: string,
  client: string,
  server: string,
  serverIp: string,
  opts: NetOptions,
): Promise<void> {
  const echo = await startEcho(server);
  try {
    const rr = JSON.parse(
      await inNetns(client, ['rr', serverIp, String(PORT), String(opts.roundTrips), '64']),
    ) as { samplesUs: number[] };
    report.rr.set(label, summarize(rr.samplesUs.slice(Math.min(100, rr.samplesUs.length / 10))));
    const bulk = JSON.parse(
      await inNetns(client, ['bulk', serverIp, String(PORT), String(opts.bulkMb)]),
    ) as { mbPerSecond: number };
    report.bulk.set(label, bulk.mbPerSecond);
  } finally {
    echo.kill('SIGKILL');
    await once(echo, 'exit');
  }
}

async function startEcho(netns: string): Promise<ChildProcess> {
  const child = spawn(
    'nsenter',
    [`--net=${netns}`, '--', process.execPath, TCP_PEER, 'serve', String(PORT)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(readline.createInterface({ input: child.stdout! }), 'line')) as [
    string,
  ];
  if (line !== 'ready') throw new Error(`tcp-peer serve: ${line}`);
  return child;
}

async function inNetns(netns: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    'nsenter',
    [`--net=${netns}`, '--', process.execPath, TCP_PEER, ...args],
    { maxBuffer: 64 * MIB },
  );
  return stdout;
}

// ---- berth ----

type NetworkFactory = (o: { stateDir: string; hostNs: string }) => Network;

/**
 * berth's data plane behind the Network seam. It is loaded by name so that
 * this benchmark builds (and measures its peers) on a tree whose data plane
 * or addon has not landed yet; the reason is then reported instead of
 * berth's numbers.
 */
function loadLinuxNetwork(): NetworkFactory | string {
  let mod: { LinuxNetwork?: new (o: object) => Network & { open(): void } };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional until the data plane is on main
    mod = require('../driver/network/linux-network');
  } catch {
    return 'driver/network/linux-network is not built in this tree';
  }
  const addon = native();
  if (!mod.LinuxNetwork || typeof addon.linkAddVeth !== 'function')
    return 'the native addon has no network primitives';
  const Ctor = mod.LinuxNetwork;
  const defaults = berthSchema.validate({}).value!.network;
  return ({ stateDir, hostNs }) => {
    const network = new Ctor({
      addon,
      stateDir,
      config: { ...defaults, host_netns: hostNs, device_prefix: DEVICE_PREFIX },
      localIp: MY_IP,
      log: createLogger({ level: 'error' }),
    });
    network.open();
    return network;
  };
}

/** 100 rules that match nothing of the benchmark's traffic, so that every packet walks past them. */
function unrelatedRules(count: number): NetSecurityGroupRule[] {
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    direction: 'ingress' as const,
    ethertype: 'IPv4' as const,
    protocol: 'tcp',
    portRangeMin: 20000 + i,
    portRangeMax: 20000 + i,
    remoteIpPrefix: `198.18.${i}.0/24`,
    remoteGroupId: null,
  }));
}

function containerConfig(id: string, command: string[], netnsPath: string): ContainerConfig {
  return {
    id,
    layers: [IMAGE_DIR],
    command,
    limits: LIMITS,
    network: { mode: 'netns', path: netnsPath },
    consoleLog: { maxBytes: MIB, backups: 1 },
  };
}

async function measureBerth(
  report: Report,
  factory: NetworkFactory,
  hostNs: string,
  work: string,
  opts: NetOptions,
  crun: Block | undefined,
): Promise<void> {
  const network = factory({ stateDir: path.join(work, 'network'), hostNs });
  const rt = await ContainerRuntime.open({
    stateDir: path.join(work, 'runtime'),
    cgroupParent: CGROUP_PARENT,
  });
  const plugged = new Set<string>();
  try {
    const crowd = Array.from({ length: opts.instances }, (_, i) => benchPort(i + 2));
    const [a, b] = [benchPort(0), benchPort(1)];
    const all = [a, b, ...crowd];
    await network.sync(benchHostState('bench', 1, all, []));

    const plug = async (uuid: string, p: BenchPort) => {
      plugged.add(uuid);
      return (
        await network.plug({ uuid, hostname: `bench-${uuid.slice(0, 8)}`, vifs: [benchVif(p)] })
      ).netnsPath;
    };
    const unplug = async (uuid: string) => {
      await network.unplug(uuid);
      plugged.delete(uuid);
    };

    // One port, booted and gone again, as a short-lived instance is: each
    // boot a new instance with a new port, as a server create makes them.
    let fresh = all.length + 2;
    // The bridge is there already, as it is for the peer's hook and for any
    // instance but a network's first on a host: a resident neighbour keeps it.
    await plug(randomUUID(), benchPort(fresh++));
    const boot = async (i: number) => {
      const booted = randomUUID();
      const port = benchPort(fresh++);
      const start = performance.now();
      const ns = await plug(booted, port);
      const id = `boot-${i}`;
      await rt.run(containerConfig(id, ['/bin/true'], ns));
      const status = await rt.wait(id);
      await rt.delete(id);
      await unplug(booted);
      if (status.code !== 0) throw new Error(`${id}: /bin/true exited with ${status.code}`);
      return performance.now() - start;
    };
    for (let i = 0; i < WARMUP; i++) await boot(-1 - i);
    // Blocks taking turns with the peer's, as bench/spawn does: a shared VM's
    // drift over minutes then falls on both rather than on whichever ran first.
    let boots = 0;
    const berthBlock: Block = async (n) => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(await boot(boots++));
      return times;
    };
    const peerTimes: number[] = [];
    const bootTimes = await inBlocks(opts, async (n) => {
      if (crun) peerTimes.push(...(await crun(n)));
      return berthBlock(n);
    });
    report.boot.set('berth', summarize(bootTimes));
    if (crun) report.boot.set(CRUN, summarize(peerTimes));

    const plugTimes: number[] = [];
    const unplugTimes: number[] = [];
    for (let i = 0; i < opts.iterations; i++) {
      opts.signal.throwIfAborted();
      const [booted, port] = [randomUUID(), benchPort(fresh++)];
      const t0 = performance.now();
      await plug(booted, port);
      const t1 = performance.now();
      await unplug(booted);
      plugTimes.push(t1 - t0);
      unplugTimes.push(performance.now() - t1);
    }
    report.plugMs = summarize(plugTimes);
    report.unplugMs = summarize(unplugTimes);

    // Two instances' namespaces, with the default group's rules and then 100 more.
    const [nsA, nsB] = [await plug(randomUUID(), a), await plug(randomUUID(), b)];
    await measureTcp(report, 'berth, 0 extra rules', nsA, nsB, b.ip, opts);
    await network.sync(benchHostState('bench', 2, all, unrelatedRules(100)));
    await measureTcp(report, 'berth, 100 rules', nsA, nsB, b.ip, opts);

    // A crowd on one network, all at once, until every one runs.
    opts.signal.throwIfAborted();
    const start = performance.now();
    const runs = await Promise.allSettled(
      crowd.map(async (p, i) => {
        const ns = await plug(randomUUID(), p);
        await rt.run(containerConfig(`crowd-${i}`, ['sleep', '3600'], ns));
      }),
    );
    const allRunningMs = performance.now() - start;
    const failed = runs.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    report.crowd = { instances: crowd.length, allRunningMs };
  } finally {
    await rt.shutdown();
    for (const uuid of plugged) await network.unplug(uuid).catch(() => undefined);
    await network.close();
  }
}

// ---- the report ----

function printReport(r: Report, opts: NetOptions): void {
  const cell = (n: number) => n.toFixed(2).padStart(9);
  const ratios: Record<string, Summary> = {};
  const berthBoot = r.boot.get('berth');
  const crunBoot = r.boot.get('crun+veth hook');
  if (berthBoot && crunBoot) ratios['boot berth/crun+veth hook'] = ratio(berthBoot, crunBoot);
  const bare = r.rr.get('bare veth pair');
  for (const [label, s] of r.rr)
    if (bare && label !== 'bare veth pair') ratios[`rr ${label}/bare veth pair`] = ratio(s, bare);

  console.log(
    `boot with one port: plug+create+start+wait+delete+unplug of /bin/true (ms, ${opts.iterations} each)`,
  );
  console.log(`${'runtime'.padEnd(34)}${'median'.padStart(9)}${'p95'.padStart(9)}`);
  for (const [label, s] of r.boot)
    console.log(`${label.padEnd(34)}${cell(s.median)}${cell(s.p95)}`);
  if (r.plugMs && r.unplugMs) {
    console.log(`${'berth plug one port'.padEnd(34)}${cell(r.plugMs.median)}${cell(r.plugMs.p95)}`);
    console.log(
      `${'berth unplug one port'.padEnd(34)}${cell(r.unplugMs.median)}${cell(r.unplugMs.p95)}`,
    );
  }
  console.log(
    `\nTCP between two namespaces: 64-byte round trips (µs, ${opts.roundTrips}) and echoed bulk (${opts.bulkMb} MiB)`,
  );
  console.log(
    `${'path'.padEnd(34)}${'median'.padStart(9)}${'p95'.padStart(9)}${'MiB/s'.padStart(10)}`,
  );
  for (const [label, s] of r.rr)
    console.log(
      `${label.padEnd(34)}${cell(s.median)}${cell(s.p95)}${(r.bulk.get(label) ?? 0).toFixed(0).padStart(10)}`,
    );
  if (r.crowd)
    console.log(
      `\n${r.crowd.instances} instances on one network: all running after ${r.crowd.allRunningMs.toFixed(0)} ms`,
    );
  for (const [what, why] of Object.entries(r.unavailable))
    console.log(`${what}: unavailable (${why})`);
  for (const [label, q] of Object.entries(ratios))
    console.log(`${label.padEnd(44)}${cell(q.median)} (p95 ${q.p95.toFixed(2)})`);

  const round = (n: number, d = 3) => Number(n.toFixed(d));
  const rounded = (s: Summary) => ({ median: round(s.median), p95: round(s.p95) });
  const entries = <T>(m: Map<string, T>, f: (v: T) => unknown) =>
    Object.fromEntries([...m].map(([k, v]) => [k, f(v)]));
  console.log(
    JSON.stringify({
      benchmark: 'net',
      iterations: opts.iterations,
      bootMs: entries(r.boot, rounded),
      plugMs: r.plugMs && rounded(r.plugMs),
      unplugMs: r.unplugMs && rounded(r.unplugMs),
      roundTripUs: entries(r.rr, rounded),
      bulkMiBPerSecond: entries(r.bulk, (v) => round(v, 1)),
      crowd: r.crowd && {
        instances: r.crowd.instances,
        allRunningMs: round(r.crowd.allRunningMs, 1),
      },
      ratios: Object.fromEntries(Object.entries(ratios).map(([k, q]) => [k, rounded(q)])),
      unavailable: r.unavailable,
    }),
  );
}
