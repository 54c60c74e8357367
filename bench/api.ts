// The api benchmark: what berth's Nova API costs a client. End to end, the time
// from POST /v2.1/servers until GET shows the server ACTIVE through `berth api`
// and a real `berth compute` on containers, each server with a port on a network
// of the embedded Neutron (the compute on a simulated host); per request, GET /servers/detail
// with a thousand servers next to a stub that only runs the same query on the
// same database, in the same run.

import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiService } from '../api/service';
import { startTestCloud, type TestCloud } from '../testing/api/test-cloud';
import type { Database } from '../api/db/connection';
import { createLogger } from '../common/log';
import { berthSchema, type BerthConfig } from '../config/schema';
import { LocalImageStore } from '../driver/image/local-image-store';
import { UndoStack } from '../common/undo-stack';
import { computeScratch, startComputeProcess } from './compute-process';
import { inScratchEnvironment } from './leftovers';
import { timeDockerRuns } from './docker-peer';
import { NET, simulatedComputeHost } from './bench-network';
import { NotificationWaiter } from './notification-waiter';
import { quantile } from './stats';

export interface ApiOptions {
  /** servers built one at a time through the API, before the others */
  singles: number;
  /** servers built through the API on real containers, then deleted */
  servers: number;
  /** servers being built (or deleted) at any one time */
  inFlight: number;
  /** instances in the database, all in every GET /servers/detail response */
  instances: number;
  /** timed GET /servers/detail requests to berth and to the stub each */
  requests: number;
  /** keep-alive connections the list requests share, each with one request at a time */
  connections: number;
  /** stops the benchmark at the next point where it can still clean up */
  signal: AbortSignal;
}

interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

interface Timed extends Latency {
  count: number;
  wallMs: number;
}

/** A phase on containers, and what it cost besides time. */
interface Phase extends Timed {
  /** GET /servers/{id} per server until it showed the outcome */
  pollsPerServer: number;
  /** CPU time over wall time: this process (berth api and the client) */
  benchCpu: number;
  /** the same for `berth compute` and the commands it ran (mkfs.ext4, mount) */
  computeCpu: number;
}

interface ListFigures extends Timed {
  /** bytes of one response body */
  bytes: number;
}

interface Report {
  /** POST → ACTIVE one at a time */
  single: Phase;
  /** `docker run -d` of the same rootfs one at a time, in the same run */
  docker: Latency | { unavailable: string };
  build: Phase;
  remove: Phase;
  berth: ListFigures;
  stub: ListFigures;
}

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE_TAR = path.join(ROOT, 'build', 'images', 'busybox.tar');
const CGROUP_PARENT = 'berth-bench-api';
// noauth2: user "bench" of project "bench", not an admin.
const PROJECT = 'bench';
const TOKEN = `${PROJECT}:${PROJECT}`;
// b1.nano: 64 MiB, 1 vCPU, a 1 GiB root disk.
const FLAVOR = '42';
const POLL_MS = 10;
// Generous: with many builds in flight on 2 cores, one server can queue for a while.
const STATUS_TIMEOUT_MS = 120_000;
const FAKE_HOSTS = 4;
// Servers created at once while filling the database for the list test.
const FILL_IN_FLIGHT = 20;
// The list requests run in this many blocks per server, alternating, so drift
// (a neighbour's test, GC, a heartbeat) falls on both alike.
const ROUNDS = 10;
// Per connection, before timing: connections open, code paths are warm.
const WARMUP_REQUESTS = 3;
const DETAIL_PATH = '/v2.1/servers/detail';
// What berth's default listing runs (api/routes/servers.ts listInstances), the
// limit being [api] max_limit.
const LIST_SQL =
  'SELECT * FROM instances WHERE project_id = ? AND deleted = 0 ORDER BY created_at DESC, id DESC LIMIT ?';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export async function apiBenchmark(opts: ApiOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the api benchmark must run as root');
  await access(IMAGE_TAR).catch(() => {
    throw new Error(`test image missing (${IMAGE_TAR}); run scripts/build.sh`);
  });
  // This process's transport would otherwise log every (re)connection at info.
  process.env.BERTH_LOG_LEVEL ??= 'warn';
  const phases = await onContainers(opts);
  const { berth, stub } = await listDetail(opts);
  printReport({ ...phases, berth, stub }, opts);
}

/** POST → ACTIVE and DELETE → 404 through `berth api` and `berth compute` over RabbitMQ. */
function onContainers(
  opts: ApiOptions,
): Promise<Pick<Report, 'single' | 'docker' | 'build' | 'remove'>> {
  return inScratchEnvironment('api', CGROUP_PARENT, (vhost, stateDir, cleanup) =>
    startAndTime(vhost, stateDir, opts, cleanup),
  );
}

async function startAndTime(
  vhost: string,
  stateDir: string,
  opts: ApiOptions,
  cleanup: UndoStack,
): Promise<Pick<Report, 'single' | 'docker' | 'build' | 'remove'>> {
  // Before berth starts, so that Docker has the CPUs to itself.
  const runs = await timeDockerRuns(
    path.join(stateDir, 'docker'),
    IMAGE_TAR,
    opts.singles,
    opts.signal,
  );
  const docker = Array.isArray(runs) ? latency(runs) : runs;
  const url = await computeScratch(vhost, stateDir, CGROUP_PARENT, cleanup);
  // Imported where both services look for it (state_path/images), as all-in-one shares it.
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  const image = await images.import('busybox', IMAGE_TAR, { command: ['sleep', '3600'] });
  const log = createLogger({ level: 'warn', json: false });
  const api = await ApiService.start({ config: apiConfig(stateDir, url, opts), log, images });
  cleanup.push('berth api', () => api.stop());
  const host = `berth-bench-api-${process.pid}`;
  const compute = await startComputeProcess({
    url,
    host,
    stateDir,
    cgroupParent: CGROUP_PARENT,
    signal: opts.signal,
    cleanup,
    env: await simulatedComputeHost('api', stateDir, cleanup),
  });
  await computeRegistered(api.deps.db, [host], opts.signal);
  // amqplib reads the same URL under its own scheme.
  const events = await NotificationWaiter.open(url.replace(/^rabbit:/, 'amqp:'), opts.signal);
  cleanup.push('notification listener', () => events.close());
  compute.once('exit', (code, signal) =>
    events.failAll(new Error(`berth compute exited (${code ?? signal})`)),
  );
  const client = new ApiClient(api.url, events);
  const networkId = await benchNetwork(client);
  return { docker, ...(await buildAndDelete(client, image.id, networkId, compute.pid!, opts)) };
}

function apiConfig(stateDir: string, url: string, opts: ApiOptions): BerthConfig {
  const { value, error } = berthSchema.validate({
    DEFAULT: {
      host: `berth-bench-api-conductor-${process.pid}`,
      state_path: stateDir,
      transport_url: url,
      log_level: 'warn',
      // Every server fits on one host of any size: `sleep` uses none of its claim,
      // and root disks are sparse files.
      cpu_allocation_ratio: opts.singles + opts.servers,
      ram_allocation_ratio: 16,
      disk_allocation_ratio: 16,
    },
    api: { listen: '127.0.0.1:0' },
    quota: { instances: -1, cores: -1, ram: -1 },
    network: { quota_port: -1 },
  });
  if (error) throw error;
  return value;
}

/**
 * The project's network, through the embedded Neutron: every server gets a
 * port on it. No DHCP: the addresses come with the port, and the run
 * starts no dnsmasq (whose upstream would be the host's resolver).
 */
async function benchNetwork(client: ApiClient): Promise<string> {
  const { network } = await client.expect(201, 'POST', '/network/v2.0/networks', {
    network: { name: 'bench' },
  });
  await client.expect(201, 'POST', '/network/v2.0/subnets', {
    subnet: { network_id: network.id, ip_version: 4, cidr: NET.cidr, enable_dhcp: false },
  });
  return network.id as string;
}

/** The scheduler considers a compute once its first heartbeat is committed. */
async function computeRegistered(db: Database, hosts: string[], signal: AbortSignal) {
  const deadline = Date.now() + STATUS_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    const known = await db('compute_nodes').whereIn('host', hosts).count({ n: '*' }).first();
    if (Number(known?.n) === hosts.length) return;
    if (Date.now() > deadline) throw new Error(`computes ${hosts.join(', ')} never reported`);
    await sleep(50);
  }
}

async function buildAndDelete(
  client: ApiClient,
  imageId: string,
  networkId: string,
  computePid: number,
  opts: ApiOptions,
): Promise<Pick<Report, 'single' | 'build' | 'remove'>> {
  const ids: string[] = [];
  const phase = async (
    count: number,
    inFlight: number,
    op: (n: number) => Promise<void>,
  ): Promise<Phase> => {
    const polls = client.polls;
    const bench = process.cpuUsage();
    const compute = await processCpuMs(computePid);
    const timed = await pipelined(count, inFlight, opts.signal, op);
    const { user, system } = process.cpuUsage(bench);
    return {
      ...timed,
      pollsPerServer: (client.polls - polls) / count,
      benchCpu: (user + system) / 1000 / timed.wallMs,
      computeCpu: ((await processCpuMs(computePid)) - compute) / timed.wallMs,
    };
  };
  const create = (offset: number) => async (n: number) => {
    const { server } = await client.expect(202, 'POST', '/v2.1/servers', {
      server: {
        name: `bench-${offset + n}`,
        imageRef: imageId,
        flavorRef: FLAVOR,
        networks: [{ uuid: networkId }],
      },
    });
    ids[offset + n] = server.id as string;
    await client.untilStatus(ids[offset + n], 'ACTIVE', opts.signal);
  };
  const single = await phase(opts.singles, 1, create(0));
  const build = await phase(opts.servers, opts.inFlight, create(opts.singles));
  const remove = await phase(ids.length, opts.inFlight, async (n) => {
    await client.expect(204, 'DELETE', `/v2.1/servers/${ids[n]}`);
    await client.untilStatus(ids[n], 'DELETED', opts.signal);
  });
  return { single, build, remove };
}

/** CPU time (ms) of a process and of the children it has waited for, from /proc/PID/stat. */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name, in parentheses, may hold spaces; the fields after it start at the 3rd.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime (the 14th to 17th), in USER_HZ ticks: 100 a second on Linux.
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
}

/**
 * Runs `op(0)` … `op(count - 1)`, at most `inFlight` at a time, and times
 * each; the first failure stops the others from starting new ones.
 */
async function pipelined(
  count: number,
  inFlight: number,
  signal: AbortSignal,
  op: (n: number) => Promise<void>,
): Promise<Timed> {
  const times: number[] = [];
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < count && !failed) {
      signal.throwIfAborted();
      const n = next++;
      const start = performance.now();
      await op(n);
      times.push(performance.now() - start);
    }
  };
  const start = performance.now();
  const workers = Array.from({ length: Math.min(inFlight, count) }, () =>
    worker().catch((err: unknown) => {
      failed = true;
      throw err;
    }),
  );
  // Settled rather than raced, so no request is still under way when cleanup starts.
  const rejected = (await Promise.allSettled(workers)).find((r) => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return { ...latency(times), count, wallMs: performance.now() - start };
}

function latency(times: number[]): Latency {
  return {
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
  };
}

/** A client of the compute API as project PROJECT, over fetch's keep-alive connections. */
class ApiClient {
  /** GET /servers/{id} sent by untilStatus so far */
  polls = 0;

  constructor(
    private readonly base: string,
    private readonly events?: NotificationWaiter,
  ) {}

  async call(method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await fetch(this.base + p, {
      method,
      headers: {
        'x-auth-token': TOKEN,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  }

  async expect(status: number, method: string, p: string, body?: unknown): Promise<Json> {
    const res = await this.call(method, p, body);
    if (res.status !== status)
      throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** Polls GET /servers/{id} every POLL_MS until `status` (DELETED: until 404). */
  async untilStatus(id: string, status: string, signal: AbortSignal): Promise<void> {
    // Told by the compute's notification, then confirmed through the API (polling
    // on from there if the API does not show it yet).
    await this.events?.wait(
      id,
      status === 'DELETED' ? 'instance.delete.end' : 'instance.create.end',
    );
    const deadline = Date.now() + STATUS_TIMEOUT_MS;
    for (;;) {
      signal.throwIfAborted();
      this.polls++;
      const res = await this.call('GET', `/v2.1/servers/${id}`);
      if (res.status === 404 && status === 'DELETED') return;
      if (res.status !== 200) throw new Error(`GET server ${id}: HTTP ${res.status}`);
      const server = res.body.server as Json;
      if (server.status === status) return;
      if (server.status === 'ERROR')
        throw new Error(`server ${id} went to ERROR: ${server.fault?.message ?? 'no fault'}`);
      if (Date.now() > deadline) throw new Error(`server ${id} still ${server.status}`);
      await sleep(POLL_MS);
    }
  }
}

/** GET /servers/detail on a FakeDriver cloud full of servers, berth's and the stub's. */
/**
 * GET /servers/detail with `instances` servers, `requests` of them over
 * `connections` keep-alive connections: berth's figures (the density
 * benchmark's, one connection).
 */
export async function timeDetailRequests(
  instances: number,
  requests: number,
  connections: number,
  signal: AbortSignal,
): Promise<ListFigures> {
  return (await listDetail({ instances, requests, connections, signal })).berth;
}

type ListOptions = Pick<ApiOptions, 'instances' | 'requests' | 'connections' | 'signal'>;

async function listDetail(opts: ListOptions): Promise<Pick<Report, 'berth' | 'stub'>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-api-list-'));
  const cleanup = new UndoStack(createLogger({ level: 'warn', json: false }));
  cleanup.push('database directory', () => rm(dir, { recursive: true, force: true }));
  try {
    const cloud = await startTestCloud({
      hosts: Array.from({ length: FAKE_HOSTS }, (_, i) => `fake-${i + 1}`),
      // A file, as deployed (WAL), not the in-memory database of the unit tests.
      connection: `sqlite:///${path.join(dir, 'berth.sqlite')}`,
      config: {
        // Heartbeats are database writes; fewer of them disturb the timing less.
        DEFAULT: { report_interval: 10, cpu_allocation_ratio: 100, disk_allocation_ratio: 16 },
        quota: { instances: -1, cores: -1, ram: -1 },
        network: { quota_port: -1 },
      },
    });
    cleanup.push('test cloud', () => cloud.close());
    await fill(cloud, opts);
    const stub = await startStub(cloud.api.deps.db, cloud.api.deps.config.api.max_limit);
    cleanup.push('stub', async () => {
      // The check in target() leaves an idle keep-alive connection open.
      stub.closeAllConnections();
      await new Promise<void>((resolve) => stub.close(() => resolve()));
    });
    const targets = [
      await target('berth', cloud.url, opts),
      await target('stub', `http://127.0.0.1:${(stub.address() as AddressInfo).port}`, opts),
    ];
    cleanup.push('agents', () => targets.forEach((t) => t.agent.destroy()));
    const [berth, stubbed] = await interleaved(targets, opts);
    return { berth, stub: stubbed };
  } finally {
    await cleanup.rollback();
  }
}

/** `opts.instances` servers of PROJECT through the API, all ACTIVE on the FakeDrivers. */
async function fill(cloud: TestCloud, opts: ListOptions): Promise<void> {
  await pipelined(opts.instances, FILL_IN_FLIGHT, opts.signal, async (n) => {
    const res = await cloud.request('POST', '/v2.1/servers', {
      token: TOKEN,
      body: { server: { name: `list-${n}`, imageRef: cloud.image.id, flavorRef: FLAVOR } },
    });
    if (res.status !== 202) throw new Error(`POST /servers: HTTP ${res.status}`);
  });
  const db = cloud.api.deps.db;
  const deadline = Date.now() + STATUS_TIMEOUT_MS;
  for (;;) {
    opts.signal.throwIfAborted();
    const rows = (await db('instances')
      .where({ project_id: PROJECT, deleted: false })
      .select('vm_state')
      .count({ n: '*' })
      .groupBy('vm_state')) as { vm_state: string; n: number }[];
    const by = new Map(rows.map((r) => [r.vm_state, Number(r.n)]));
    if (by.get('error')) throw new Error(`${by.get('error')} servers went to ERROR`);
    if (by.get('active') === opts.instances) return;
    if (Date.now() > deadline) throw new Error(`servers not all ACTIVE: ${JSON.stringify(rows)}`);
    await sleep(50);
  }
}

/**
 * The floor under berth's listing: the same query on the same database handle,
 * its rows JSON-encoded, with no authentication, validation or view building.
 */
async function startStub(db: Database, maxLimit: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== DETAIL_PATH) {
      res.writeHead(404).end();
      return;
    }
    db.raw(LIST_SQL, [PROJECT, maxLimit]).then(
      (rows: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ servers: rows }));
      },
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

interface Target {
  name: string;
  url: string;
  agent: http.Agent;
  times: number[];
  wallMs: number;
  bytes: number;
}

/** A server under test, checked to list every instance before it is timed. */
async function target(name: string, base: string, opts: ListOptions): Promise<Target> {
  const url = base + DETAIL_PATH;
  const res = await fetch(url, { headers: { 'x-auth-token': TOKEN, accept: 'application/json' } });
  const text = await res.text();
  const listed = (JSON.parse(text) as { servers?: unknown[] }).servers?.length;
  if (res.status !== 200 || listed !== opts.instances)
    throw new Error(`${name}: GET ${DETAIL_PATH} gave HTTP ${res.status}, ${listed} servers`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  return { name, url, agent, times: [], wallMs: 0, bytes: Buffer.byteLength(text) };
}

/** Blocks of requests to each target in turn, the order reversed every round. */
async function interleaved(targets: Target[], opts: ListOptions): Promise<ListFigures[]> {
  for (const t of targets) await block(t, opts.connections * WARMUP_REQUESTS, opts);
  for (const t of targets) {
    t.times = [];
    t.wallMs = 0;
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    // Spread so the blocks add up to exactly `requests`.
    const size = Math.floor(((round + 1) * opts.requests) / ROUNDS);
    const count = size - Math.floor((round * opts.requests) / ROUNDS);
    for (const t of order) await block(t, count, opts);
  }
  return targets.map((t) => ({
    ...latency(t.times),
    count: t.times.length,
    wallMs: t.wallMs,
    bytes: t.bytes,
  }));
}

/** `count` requests over `opts.connections` connections, one request in flight on each. */
async function block(t: Target, count: number, opts: ListOptions): Promise<void> {
  let next = 0;
  const connection = async () => {
    while (next < count) {
      opts.signal.throwIfAborted();
      next++;
      const start = performance.now();
      await get(t);
      t.times.push(performance.now() - start);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(opts.connections, count) }, connection));
  t.wallMs += performance.now() - start;
}

/** One GET, its body read and dropped: the client parses nothing, so it costs both alike. */
function get(t: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      t.url,
      {
        agent: t.agent,
        headers: { 'x-auth-token': TOKEN, accept: 'application/json' },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`${t.name}: HTTP ${res.statusCode}`));
        res.on('error', reject).on('end', resolve).resume();
      },
    );
    req.on('error', reject);
  });
}

function printReport(r: Report, opts: ApiOptions): void {
  const cell = (n: number, digits = 2) => n.toFixed(digits).padStart(9);
  const perSecond = (t: Timed) => (t.count * 1000) / t.wallMs;
  console.log(
    `api: through \`berth api\` and \`berth compute\` on RabbitMQ and real containers (ms; ` +
      `servers of flavor ${FLAVOR} (1 GiB root disk) with one port, running \`sleep\`: ${opts.singles} one at a time, then ` +
      `${opts.servers} with ${opts.inFlight} in flight; each done when the compute's notification ` +
      `came and GET /servers/{id} showed it)`,
  );
  const heads = ['p50', 'p99', 'mean', 'wall s', 'per s', 'polls', 'cpu api', 'cpu cmp'];
  console.log(`${'operation'.padEnd(28)}${heads.map((h) => h.padStart(9)).join('')}`);
  for (const [name, t] of [
    ['POST → ACTIVE, one at a time', r.single],
    ['POST /servers → ACTIVE', r.build],
    ['DELETE /servers/{id} → 404', r.remove],
  ] as const) {
    console.log(
      `${name.padEnd(28)}${cell(t.p50)}${cell(t.p99)}${cell(t.mean)}${cell(t.wallMs / 1000)}` +
        `${cell(perSecond(t), 1)}${cell(t.pollsPerServer, 1)}${cell(t.benchCpu)}${cell(t.computeCpu)}`,
    );
  }
  console.log(
    'polls: GET /servers/{id} per server; cpu: cores busy on average, in this process ' +
      '(berth api and the client) and in `berth compute` with the commands it ran',
  );
  if ('unavailable' in r.docker)
    console.log(`docker run -d: not measured: ${r.docker.unavailable}`);
  else
    console.log(
      `docker run -d of the same rootfs, one at a time (private dockerd, CLI): p50 ` +
        `${r.docker.p50.toFixed(2)} p99 ${r.docker.p99.toFixed(2)}; berth's POST → ACTIVE ` +
        `one at a time / docker run: ${(r.single.p50 / r.docker.p50).toFixed(3)} at p50`,
    );
  console.log(
    `\nGET ${DETAIL_PATH}, ${opts.instances} servers in each response (ms; ${opts.requests} ` +
      `requests each over ${opts.connections} keep-alive connections, in ${ROUNDS} alternating ` +
      `blocks; ${FAKE_HOSTS} FakeDriver computes, SQLite file; client in the same process)`,
  );
  console.log(
    `${'server'.padEnd(28)}${['p50', 'p99', 'mean', 'req/s', 'KiB'].map((h) => h.padStart(9)).join('')}`,
  );
  for (const [name, t] of [
    ['berth', r.berth],
    ['stub (query + JSON rows)', r.stub],
  ] as const) {
    console.log(
      `${name.padEnd(28)}${cell(t.p50)}${cell(t.p99)}${cell(t.mean)}${cell(perSecond(t), 1)}${cell(t.bytes / 1024, 0)}`,
    );
  }
  const ratio = {
    p50: r.berth.p50 / r.stub.p50,
    p99: r.berth.p99 / r.stub.p99,
    mean: r.berth.mean / r.stub.mean,
    rps: perSecond(r.berth) / perSecond(r.stub),
  };
  console.log(
    `${'berth/stub'.padEnd(28)}${cell(ratio.p50)}${cell(ratio.p99)}${cell(ratio.mean)}${cell(ratio.rps)}`,
  );

  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const ms = (l: Latency) => ({
    p50: round(l.p50, 3),
    p99: round(l.p99, 3),
    mean: round(l.mean, 3),
  });
  const phase = (t: Phase) => ({
    ...ms(t),
    polls_per_server: round(t.pollsPerServer, 1),
    cpu_api: round(t.benchCpu, 2),
    cpu_compute: round(t.computeCpu, 2),
  });
  const list = (t: ListFigures) => ({ ...ms(t), rps: round(perSecond(t), 2), bytes: t.bytes });
  const json = {
    benchmark: 'api',
    servers: opts.servers,
    inFlight: opts.inFlight,
    singles: opts.singles,
    pollMs: POLL_MS,
    build_active_single_ms: phase(r.single),
    build_active_ms: phase(r.build),
    docker_run_ms: 'unavailable' in r.docker ? r.docker : ms(r.docker),
    ...('unavailable' in r.docker
      ? {}
      : { ratio_single_vs_docker_p50: round(r.single.p50 / r.docker.p50, 3) }),
    servers_per_s: round(perSecond(r.build), 2),
    delete_ms: phase(r.remove),
    deletes_per_s: round(perSecond(r.remove), 2),
    detail_1000: {
      instances: opts.instances,
      requests: opts.requests,
      connections: opts.connections,
      berth: list(r.berth),
      stub: list(r.stub),
      ratio_p50: round(ratio.p50, 3),
      ratio_p99: round(ratio.p99, 3),
      ratio_rps: round(ratio.rps, 3),
    },
  };
  console.log(JSON.stringify(json));
}
