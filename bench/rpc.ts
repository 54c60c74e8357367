// The rpc benchmark: what berth's messaging costs a control plane. End to end,
// the time from a build cast to the instance's create.end notification through a
// real `berth compute`, each instance with a 1 GiB root disk and one port (on a
// simulated host of the run's own: bench/bench-network.ts); per call, berth's transport next to oslo.messaging's on
// the same broker in the same run.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { LocalImageStore } from '../driver/image/local-image-store';
import { UndoStack } from '../common/undo-stack';
import { AmqpTransport } from '../messaging/amqp-transport';
import { NOVA_FAULTS } from '../nova/faults';
import type { Transport } from '../messaging/transport';
import { novaInstance } from '../integration-tests/compute-harness';
import { infoCachePrimitive } from '../nova/instance-object';
import { NETWORK_RPC } from '../nova/network-model';
import {
  type BenchPort,
  benchHostState,
  benchPort,
  benchVif,
  simulatedComputeHost,
} from './bench-network';
import { computeScratch, startComputeProcess } from './compute-process';
import { inScratchEnvironment } from './leftovers';
import { timeDockerRuns } from './docker-peer';
import { CONTROL_EXCHANGE as EXCHANGE, NotificationWaiter } from './notification-waiter';
import { measurePeer, peerAvailable } from './peers';
import { quantile } from './stats';

export interface RpcOptions {
  /** instances built one at a time, then terminated, before the pipelined ones */
  singles: number;
  /** instances built, then terminated, through `berth compute` */
  builds: number;
  /** build (and terminate) casts awaiting their notification at any one time */
  inFlight: number;
  /** timed sequential calls per messaging stack in the round-trip test */
  calls: number;
  /** stops the benchmark at the next point where it can still clean up */
  signal: AbortSignal;
}

interface Latency {
  p50: number;
  p99: number;
}

interface Throughput extends Latency {
  count: number;
  wallMs: number;
}

/** A peer's figures, or why it could not run here. */
type PeerFigures = Latency | { unavailable: string };

interface Report {
  /** `docker run -d` and `crun run` of the same rootfs, one at a time, opts.singles each */
  peers: { docker: PeerFigures; crun: PeerFigures };
  /** one build at a time: the latency of one instance with nothing else under way */
  single: Throughput;
  build: Throughput;
  terminate: Throughput;
  berthCall: Latency;
  osloCall: Latency;
}

const execFileAsync = promisify(execFile);

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE_TAR = path.join(ROOT, 'build', 'images', 'busybox.tar');
const OSLO_PAIR = path.join(ROOT, 'bench', 'fixtures', 'oslo_rpc_pair.py');
// Debian's, with python3-oslo.messaging; the python3 on PATH may be another.
const PYTHON = '/usr/bin/python3';
const CGROUP_PARENT = 'berth-bench-rpc';
const COMPUTE_API = { topic: 'compute', version: '6.0' };
const ECHO = { topic: 'bench-berth-echo', version: '1.0' };
const CONTEXT = { user_id: 'u-bench', project_id: 'p-bench', is_admin: true };
// The first calls set up reply queues and channels on both stacks.
const WARMUP_CALLS = 20;
const CALL_TIMEOUT_S = 30;

export async function rpcBenchmark(opts: RpcOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the rpc benchmark must run as root');
  await access(IMAGE_TAR).catch(() => {
    throw new Error(`test image missing (${IMAGE_TAR}); run scripts/build.sh`);
  });
  await access(PYTHON).catch(() => {
    throw new Error(`${PYTHON} missing: the oslo.messaging peer needs Debian's python3`);
  });
  // This process's transports would otherwise log every (re)connection at info.
  process.env.BERTH_LOG_LEVEL ??= 'warn';

  const report = await inScratchEnvironment('rpc', CGROUP_PARENT, (vhost, stateDir, cleanup) =>
    measure(vhost, stateDir, opts, cleanup),
  );
  printReport(report, opts);
}

async function measure(
  vhost: string,
  stateDir: string,
  opts: RpcOptions,
  cleanup: UndoStack,
): Promise<Report> {
  const url = await computeScratch(vhost, stateDir, CGROUP_PARENT, cleanup);
  const transport = new AmqpTransport({
    transportUrl: url,
    controlExchange: EXCHANGE,
    faults: NOVA_FAULTS,
    callTimeout: CALL_TIMEOUT_S,
    connectionName: `berth-bench-rpc:${process.pid}`,
  });
  cleanup.push('transport', () => transport.close());

  // Timed before the compute starts, so neither stack shares the broker or the
  // CPUs with heartbeats and builds.
  await transport.serve({ topic: ECHO.topic, server: 'bench' }, [
    { version: ECHO.version, methods: { echo: (args) => args.arg } },
  ]);
  const berthCall = await berthRoundTrips(transport, opts);
  const osloCall = await osloRoundTrips(url, opts);
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  const image = await images.import('busybox', IMAGE_TAR, { command: ['sleep', '3600'] });
  // Also before the compute starts: the peers have the CPUs to themselves too.
  const [rootfs] = (await images.prepare(image.id)).layers;
  const peers = await measurePeers(path.join(stateDir, 'docker'), rootfs, opts);
  return {
    ...(await buildAndTerminate(transport, url, stateDir, image.id, opts, cleanup)),
    peers,
    berthCall,
    osloCall,
  };
}

async function buildAndTerminate(
  transport: Transport,
  url: string,
  stateDir: string,
  imageId: string,
  opts: RpcOptions,
  cleanup: UndoStack,
): Promise<Pick<Report, 'single' | 'build' | 'terminate'>> {
  // amqplib reads the same URL under its own scheme.
  const events = await NotificationWaiter.open(url.replace(/^rabbit:/, 'amqp:'), opts.signal);
  cleanup.push('notification listener', () => events.close());
  // Stands in for nova-conductor, which the compute reports every state change to.
  await transport.serve({ topic: 'conductor', server: 'berth-bench-conductor' }, [
    { version: '3.0', methods: { object_action: () => [{}, null] } },
  ]);
  const host = `berth-bench-${process.pid}`;
  const count = opts.singles + opts.builds;
  const ports = Array.from({ length: count }, (_, i) => benchPort(i));
  const networkEnv = await simulatedComputeHost('rpc', stateDir, cleanup);
  await serveNetwork(transport, host, ports);
  const compute = await startComputeProcess({
    url,
    host,
    stateDir,
    cgroupParent: CGROUP_PARENT,
    signal: opts.signal,
    cleanup,
    env: {
      BERTH_DEFAULT_CONTROL_EXCHANGE: EXCHANGE,
      ...networkEnv,
    },
  });
  // Rather than waiting out EVENT_TIMEOUT_MS for notifications that cannot come.
  compute.once('exit', (code, signal) =>
    events.failAll(new Error(`berth compute exited (${code ?? signal})`)),
  );

  const instances = new Map(
    ports.map((port, i) => {
      const uuid: string = randomUUID();
      const instance = novaInstance(uuid, i + 1, imageId);
      // The port the control plane allocated, as Nova's conductor sends it.
      const data = {
        ...instance['nova_object.data'],
        info_cache: infoCachePrimitive(uuid, [benchVif(port)]),
      };
      return [uuid, { ...instance, 'nova_object.data': data }] as const;
    }),
  );
  const uuids = [...instances.keys()];
  const castEach = (
    batch: string[],
    inFlight: number,
    method: string,
    event: string,
    args: Record<string, unknown>,
  ) =>
    pipelined(batch, event, inFlight, opts.signal, events, (uuid) =>
      transport.cast(
        { ...COMPUTE_API, server: host },
        method,
        { instance: instances.get(uuid), ...args },
        { context: { ...CONTEXT, request_id: `req-${uuid}` } },
      ),
    );
  const build = { image: { id: imageId, properties: {} } };
  const terminate = { bdms: null };
  const singles = uuids.slice(0, opts.singles);
  const rest = uuids.slice(opts.singles);
  const single = await castEach(singles, 1, 'build_and_run_instance', 'instance.create.end', build);
  await castEach(singles, 1, 'terminate_instance', 'instance.delete.end', terminate);
  return {
    single,
    build: await castEach(
      rest,
      opts.inFlight,
      'build_and_run_instance',
      'instance.create.end',
      build,
    ),
    terminate: await castEach(
      rest,
      opts.inFlight,
      'terminate_instance',
      'instance.delete.end',
      terminate,
    ),
  };
}

/** The control plane's network service as the agent sees it: the host's document, port status reports. */
async function serveNetwork(transport: Transport, host: string, ports: BenchPort[]): Promise<void> {
  const state = benchHostState(host, 1, ports, []);
  await transport.serve({ topic: NETWORK_RPC.server.topic, server: 'berth-bench-network' }, [
    {
      version: NETWORK_RPC.server.version,
      methods: {
        [NETWORK_RPC.methods.getHostState]: () => state,
        [NETWORK_RPC.methods.portsStatus]: () => null,
      },
    },
  ]);
}

/**
 * The same rootfs started by the peers, one at a time: `docker run -d` of it
 * imported into a private dockerd (64 MiB, 1 CPU, no network: Docker's
 * bridge would touch the host's iptables), and `crun run` (create, start,
 * wait and delete of /bin/true; see peers.ts).
 */
async function measurePeers(
  dockerDir: string,
  rootfs: string,
  opts: RpcOptions,
): Promise<Report['peers']> {
  const summary = (times: number[]) => ({ p50: quantile(times, 0.5), p99: quantile(times, 0.99) });
  const runs = await timeDockerRuns(dockerDir, IMAGE_TAR, opts.singles, opts.signal);
  const docker = Array.isArray(runs) ? summary(runs) : runs;
  const crun = (await peerAvailable('crun'))
    ? summary(await measurePeer('crun', rootfs, opts.singles))
    : { unavailable: 'crun not installed' };
  return { docker, crun };
}

async function berthRoundTrips(transport: Transport, opts: RpcOptions): Promise<Latency> {
  const times: number[] = [];
  for (let i = -WARMUP_CALLS; i < opts.calls; i++) {
    opts.signal.throwIfAborted();
    const start = performance.now();
    const reply = await transport.call(ECHO, 'echo', { arg: i });
    const elapsed = performance.now() - start;
    if (reply !== i) throw new Error(`echo ${i} came back as ${JSON.stringify(reply)}`);
    if (i >= 0) times.push(elapsed);
  }
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

/** The same loop in oslo.messaging, client and server in one Python process. */
async function osloRoundTrips(url: string, opts: RpcOptions): Promise<Latency> {
  const args = [OSLO_PAIR, url, EXCHANGE, String(opts.calls), String(WARMUP_CALLS)];
  const { stdout } = await execFileAsync(PYTHON, args, { signal: opts.signal }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`oslo_rpc_pair.py failed: ${err.stderr?.trim() || err.message}`);
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  return { p50: result.p50_ms, p99: result.p99_ms };
}

/**
 * Sends `send(uuid)` for each instance, keeping at most `inFlight` of them
 * waiting for `event`, and times each from its publishing to its event.
 */
async function pipelined(
  uuids: string[],
  event: string,
  inFlight: number,
  signal: AbortSignal,
  events: NotificationWaiter,
  send: (uuid: string) => Promise<void>,
): Promise<Throughput> {
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < uuids.length) {
      signal.throwIfAborted();
      const uuid = uuids[next++];
      const arrived = events.wait(uuid, event);
      // Awaited below unless the cast fails, which is reported instead.
      arrived.catch(() => undefined);
      const start = performance.now();
      await send(uuid);
      await arrived;
      times.push(performance.now() - start);
    }
  };
  const start = performance.now();
  const workers = Array.from({ length: Math.min(inFlight, uuids.length) }, () =>
    worker().catch((err: unknown) => {
      // The other workers would otherwise keep sending until the end.
      events.failAll(err);
      throw err;
    }),
  );
  // Settled rather than raced, so no cast is still being sent when cleanup starts.
  const failed = (await Promise.allSettled(workers)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return {
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    count: uuids.length,
    wallMs: performance.now() - start,
  };
}

function printReport(r: Report, opts: RpcOptions): void {
  const cell = (n: number, digits = 2) => n.toFixed(digits).padStart(9);
  const perSecond = (t: Throughput) => (t.count * 1000) / t.wallMs;
  console.log(
    `rpc: cast until its notification, through \`berth compute\` (ms; instances of ` +
      `64 MiB / 1 vCPU / a 1 GiB root disk / one port running \`sleep\`: ${opts.singles} one at a ` +
      `time, then ${opts.builds} with ${opts.inFlight} in flight)`,
  );
  console.log(
    `${'operation'.padEnd(34)}${['p50', 'p99', 'wall s', 'per s'].map((h) => h.padStart(9)).join('')}`,
  );
  for (const [name, t] of [
    ['build → create.end, one at a time', r.single],
    ['build_and_run_instance → create.end', r.build],
    ['terminate_instance → delete.end', r.terminate],
  ] as const) {
    console.log(
      `${name.padEnd(34)}${cell(t.p50)}${cell(t.p99)}${cell(t.wallMs / 1000)}${cell(perSecond(t), 1)}`,
    );
  }
  console.log(
    `\nthe same rootfs, one at a time (ms; ${opts.singles} each): berth's build above, and peers`,
  );
  console.log(
    `${'runtime'.padEnd(34)}${['p50', 'p99', 'berth/peer'].map((h) => h.padStart(11)).join('')}`,
  );
  for (const [name, figures] of [
    ['docker run -d (dockerd, CLI)', r.peers.docker],
    ['crun run (/bin/true, whole run)', r.peers.crun],
  ] as const) {
    if ('unavailable' in figures)
      console.log(`${name.padEnd(34)}  not measured: ${figures.unavailable}`);
    else
      console.log(
        `${name.padEnd(34)}${cell(figures.p50).padStart(11)}${cell(figures.p99).padStart(11)}${cell(r.single.p50 / figures.p50).padStart(11)}`,
      );
  }
  console.log(
    `\ncall round trip to an echo endpoint (ms; ${opts.calls} sequential calls ` +
      `after ${WARMUP_CALLS} untimed, client and server in one process)`,
  );
  console.log(`${'stack'.padEnd(34)}${'p50'.padStart(9)}${'p99'.padStart(9)}`);
  console.log(`${'berth'.padEnd(34)}${cell(r.berthCall.p50)}${cell(r.berthCall.p99)}`);
  console.log(`${'oslo.messaging'.padEnd(34)}${cell(r.osloCall.p50)}${cell(r.osloCall.p99)}`);
  const ratio = { p50: r.berthCall.p50 / r.osloCall.p50, p99: r.berthCall.p99 / r.osloCall.p99 };
  console.log(`${'berth/oslo'.padEnd(34)}${cell(ratio.p50)}${cell(ratio.p99)}`);

  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const throughput = (t: Throughput) => ({
    p50Ms: round(t.p50, 3),
    p99Ms: round(t.p99, 3),
    wallMs: round(t.wallMs, 1),
    perSecond: round(perSecond(t), 2),
  });
  const latency = (l: Latency) => ({ p50Ms: round(l.p50, 3), p99Ms: round(l.p99, 3) });
  const json = {
    benchmark: 'rpc',
    singles: opts.singles,
    builds: opts.builds,
    inFlight: opts.inFlight,
    calls: opts.calls,
    single: throughput(r.single),
    build: throughput(r.build),
    peers: Object.fromEntries(
      Object.entries(r.peers).map(([name, f]) => [
        name,
        'unavailable' in f
          ? f
          : { ...latency(f), 'berth/peer': { p50: round(r.single.p50 / f.p50, 3) } },
      ]),
    ),
    terminate: throughput(r.terminate),
    callRoundTrip: {
      berth: latency(r.berthCall),
      oslo: latency(r.osloCall),
      ratios: { 'berth/oslo': { p50: round(ratio.p50, 3), p99: round(ratio.p99, 3) } },
    },
  };
  console.log(JSON.stringify(json));
}
