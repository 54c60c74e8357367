// The density benchmark: many instances of a small image on one host through a
// real `berth compute` over RabbitMQ, and what the host pays for each beyond
// the workload; the compute at idle with all of them; a restart's reconcile;
// GET /servers/detail with as many servers in the API's database.
//
// Host memory beyond the workloads, per instance, is
//   (MemTotal - MemAvailable after the boots) - (the same before) - Σ Pss of the workloads
// over the number of instances: everything the kernel and berth's processes
// hold for them (cgroups, namespaces, mounts, the monitor, the compute's
// tables, the state files' cache that is not reclaimable), the workloads' own
// memory (proportional set size of their processes) excluded. The breakdown
// beside it: the berth-monitor's and the compute's RSS growth, and the memory
// charged to the instances' cgroups.

import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalImageStore } from '../driver/image/local-image-store';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { UndoStack } from '../common/undo-stack';
import { AmqpTransport } from '../messaging/amqp-transport';
import { NOVA_FAULTS } from '../nova/faults';
import { novaInstance } from '../integration-tests/compute-harness';
import { timeDetailRequests } from './api';
import { computeScratch, startComputeProcess } from './compute-process';
import { inScratchEnvironment, monitorPids } from './leftovers';
import { CONTROL_EXCHANGE, NotificationWaiter } from './notification-waiter';

export interface DensityOptions {
  instances: number;
  /** builds awaiting their notification at any one time */
  inFlight: number;
  /** seconds the compute is watched at idle with every instance running */
  idleSeconds: number;
  /** timed GET /servers/detail requests, one at a time */
  requests: number;
  signal: AbortSignal;
}

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE_TAR = path.join(ROOT, 'build', 'images', 'busybox.tar');
const CGROUP_PARENT = 'berth-bench-density';
const COMPUTE_API = { topic: 'compute', version: '6.0' };
const CONTEXT = { user_id: 'u-bench', project_id: 'p-bench', is_admin: true };

interface Report {
  instances: number;
  bootWallMs: number;
  hostKiBPerInstance: number;
  monitorKiBPerInstance: number;
  computeKiBPerInstance: number;
  cgroupKiBPerInstance: number;
  workloadPssKiBPerInstance: number;
  idle: { computeRssMiB: number; computeCpuPercent: number; seconds: number };
  reconcileMs: number;
  detail: { p50Ms: number; p99Ms: number; requests: number };
}

export async function densityBenchmark(opts: DensityOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the density benchmark must run as root');
  process.env.BERTH_LOG_LEVEL ??= 'warn';
  const onHost = await inScratchEnvironment('density', CGROUP_PARENT, (vhost, stateDir, cleanup) =>
    measure(vhost, stateDir, opts, cleanup),
  );
  const detail = await timeDetailRequests(opts.instances, opts.requests, 1, opts.signal);
  printReport({
    ...onHost,
    detail: { p50Ms: detail.p50, p99Ms: detail.p99, requests: opts.requests },
  });
}

async function measure(
  vhost: string,
  stateDir: string,
  opts: DensityOptions,
  cleanup: UndoStack,
): Promise<Omit<Report, 'detail'>> {
  const url = await computeScratch(vhost, stateDir, CGROUP_PARENT, cleanup);
  const transport = new AmqpTransport({
    transportUrl: url,
    controlExchange: CONTROL_EXCHANGE,
    faults: NOVA_FAULTS,
    connectionName: `berth-bench-density:${process.pid}`,
  });
  cleanup.push('transport', () => transport.close());
  // Stands in for nova-conductor: every state change and heartbeat is answered.
  await transport.serve({ topic: 'conductor', server: 'berth-bench-conductor' }, [
    { version: '3.0', methods: { object_action: () => [{}, null] } },
  ]);
  const events = await NotificationWaiter.open(url.replace(/^rabbit:/, 'amqp:'), opts.signal);
  cleanup.push('notification listener', () => events.close());
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  const image = await images.import('busybox', IMAGE_TAR, { command: ['sleep', '86400'] });
  const host = `berth-bench-density-${process.pid}`;
  const start = () =>
    startComputeProcess({
      url,
      host,
      stateDir,
      cgroupParent: CGROUP_PARENT,
      signal: opts.signal,
      cleanup,
    });
  let compute = await start();
  // One build first: the monitor and the image's layers are there before the baseline.
  const instances = Array.from({ length: opts.instances + 1 }, (_, i) => {
    const uuid: string = randomUUID();
    const instance = novaInstance(uuid, i + 1, image.id);
    // No sized root disk: a thousand loop-mounted file systems are a test of ext4, not of berth.
    instance['nova_object.data'].root_gb = 0;
    instance['nova_object.data'].flavor['nova_object.data'].root_gb = 0;
    return { uuid, instance };
  });
  const build = async (batch: typeof instances) => {
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        opts.signal.throwIfAborted();
        const { uuid, instance } = batch[next++];
        const done = events.wait(uuid, 'instance.create.end');
        done.catch(() => undefined);
        await transport.cast(
          { ...COMPUTE_API, server: host },
          'build_and_run_instance',
          { instance, image: { id: image.id, properties: {} } },
          { context: { ...CONTEXT, request_id: `req-${uuid}` } },
        );
        await done;
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight }, () => worker()));
  };
  await build(instances.slice(0, 1));
  const before = await hostSample(stateDir, compute.pid!);
  const booting = performance.now();
  await build(instances.slice(1));
  const bootWallMs = performance.now() - booting;
  const after = await hostSample(stateDir, compute.pid!);
  const pss = await workloadPssKiB(instances.slice(1).map((i) => i.uuid));
  const n = opts.instances;

  const idleStart = await processTicks(compute.pid!);
  const idleWall = performance.now();
  await new Promise((resolve) => setTimeout(resolve, opts.idleSeconds * 1000));
  const idleCpuMs = ((await processTicks(compute.pid!)) - idleStart) * 10;
  const idle = {
    computeRssMiB: Number(((await rssKiB(compute.pid!)) / 1024).toFixed(1)),
    computeCpuPercent: Number(((idleCpuMs / (performance.now() - idleWall)) * 100).toFixed(2)),
    seconds: opts.idleSeconds,
  };

  // A restart: the instances keep running; the new process adopts and reconciles them.
  compute.kill('SIGTERM');
  await new Promise((resolve) => compute.once('exit', resolve));
  const restarting = performance.now();
  compute = await start();
  const reconcileMs = performance.now() - restarting;

  const perInstance = (kib: number) => Number((kib / n).toFixed(1));
  return {
    instances: n,
    bootWallMs: Number(bootWallMs.toFixed(0)),
    hostKiBPerInstance: perInstance(after.usedKiB - before.usedKiB - pss),
    monitorKiBPerInstance: perInstance(after.monitorKiB - before.monitorKiB),
    computeKiBPerInstance: perInstance(after.computeKiB - before.computeKiB),
    cgroupKiBPerInstance: perInstance(after.cgroupKiB - before.cgroupKiB),
    workloadPssKiBPerInstance: perInstance(pss),
    idle,
    reconcileMs: Number(reconcileMs.toFixed(0)),
  };
}

interface HostSample {
  usedKiB: number;
  monitorKiB: number;
  computeKiB: number;
  cgroupKiB: number;
}

async function hostSample(stateDir: string, computePid: number): Promise<HostSample> {
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo)![1]);
  let monitorKiB = 0;
  for (const pid of await monitorPids(stateDir)) monitorKiB += await rssKiB(pid);
  return {
    usedKiB: field('MemTotal') - field('MemAvailable'),
    monitorKiB,
    computeKiB: await rssKiB(computePid),
    cgroupKiB: await cgroupChargedKiB(),
  };
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

/** utime + stime of a process, in clock ticks (100 a second). */
async function processTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Memory charged to the benchmark's cgroup parent (memory controller, v2 or v1). */
async function cgroupChargedKiB(): Promise<number> {
  const layout = detectCgroupLayout();
  const v1 = layout.v1.get('memory');
  const file = v1
    ? path.join(v1, CGROUP_PARENT, 'memory.usage_in_bytes')
    : path.join(layout.v2!.mount, CGROUP_PARENT, 'memory.current');
  const bytes = Number((await readFile(file, 'utf8').catch(() => '0')).trim());
  return bytes / 1024;
}

/** Σ Pss of the processes in the instances' cgroups (their workloads). */
async function workloadPssKiB(uuids: string[]): Promise<number> {
  const layout = detectCgroupLayout();
  const base = layout.v1.get('pids') ?? layout.v2!.mount;
  let total = 0;
  for (const uuid of uuids) {
    const procs = await readFile(
      path.join(base, CGROUP_PARENT, uuid, 'cgroup.procs'),
      'utf8',
    ).catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
      total += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    }
  }
  return total;
}

function printReport(r: Report): void {
  console.log(
    `density: ${r.instances} instances of busybox \`sleep\` (64 MiB, 1 vCPU, no sized root disk) ` +
      `through \`berth compute\`, booted in ${(r.bootWallMs / 1000).toFixed(1)} s`,
  );
  const rows: [string, string][] = [
    ['host memory beyond the workloads', `${r.hostKiBPerInstance} KiB per instance`],
    ['  berth-monitor RSS growth', `${r.monitorKiBPerInstance} KiB per instance`],
    ['  berth compute RSS growth', `${r.computeKiBPerInstance} KiB per instance`],
    ["  charged to the instances' cgroups", `${r.cgroupKiBPerInstance} KiB per instance`],
    ["  the workloads' own (Pss, excluded)", `${r.workloadPssKiBPerInstance} KiB per instance`],
    [
      `compute at idle (${r.idle.seconds} s)`,
      `${r.idle.computeRssMiB} MiB RSS, ${r.idle.computeCpuPercent}% of a core`,
    ],
    ['compute restart to serving (reconcile)', `${r.reconcileMs} ms`],
    [
      `GET /servers/detail, ${r.instances} servers`,
      `p50 ${r.detail.p50Ms.toFixed(2)} ms, p99 ${r.detail.p99Ms.toFixed(2)} ms (${r.detail.requests} one at a time)`,
    ],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(40)}${v}`);
  console.log(
    "host memory: Δ(MemTotal − MemAvailable) over the boots minus the workloads' Pss, per instance",
  );
  console.log(
    JSON.stringify({
      benchmark: 'density',
      instances: r.instances,
      hostKiBPerInstance: r.hostKiBPerInstance,
      detailP99Ms: Number(r.detail.p99Ms.toFixed(3)),
      reconcileMs: r.reconcileMs,
      bootWallMs: r.bootWallMs,
      breakdownKiBPerInstance: {
        monitor: r.monitorKiBPerInstance,
        compute: r.computeKiBPerInstance,
        cgroups: r.cgroupKiBPerInstance,
        workloadPss: r.workloadPssKiBPerInstance,
      },
      idle: r.idle,
      detail: r.detail,
    }),
  );
}
