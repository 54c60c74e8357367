/**
 * The compute host's local status API (`[compute] status_listen`):
 * /healthz, Prometheus /metrics, and this host's instances with Nova's
 * vm_state, task_state and integer power_state.
 */
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Logger } from 'winston';
import type { Transport } from '../../messaging/transport';
import type { ComputeDriver } from '../virt/driver';
import type { ManagedInstance, InstanceRecords } from './instance-records';
import { VmState } from '../../nova/states';

export class ComputeMetrics {
  readonly registry = new client.Registry();
  readonly rpcHandled = new client.Counter({
    name: 'berth_rpc_handled_total',
    help: 'RPC requests handled, by method and outcome',
    labelNames: ['method', 'outcome'],
    registers: [this.registry],
  });
  readonly rpcDuration = new client.Histogram({
    name: 'berth_rpc_duration_seconds',
    help: 'Time to handle an RPC request',
    labelNames: ['method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly spawnDuration = new client.Histogram({
    name: 'berth_spawn_duration_seconds',
    help: 'Time from build_and_run_instance to a running instance',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  observe(method: string, ok: boolean, seconds: number): void {
    this.rpcHandled.inc({ method, outcome: ok ? 'ok' : 'failed' });
    this.rpcDuration.observe({ method }, seconds);
    if (method === 'build_and_run_instance' && ok) this.spawnDuration.observe(seconds);
  }
}

export interface StatusApiOptions {
  store: InstanceRecords;
  driver: ComputeDriver;
  transport: Transport;
  metrics: ComputeMetrics;
  log: Logger;
}

async function describe(o: StatusApiOptions, r: ManagedInstance) {
  const info = await o.driver.getInfo(r.spec).catch(() => undefined);
  const diag = info ? await o.driver.getDiagnostics(r.spec).catch(() => undefined) : undefined;
  return {
    uuid: r.uuid,
    name: r.spec.name,
    vm_state: r.vm_state,
    task_state: r.task_state,
    power_state: r.power_state,
    pid: info?.internalId ? Number(info.internalId) : null,
    limits: { vcpus: r.spec.vcpus, memory_mb: r.spec.memoryMb, root_gb: r.spec.rootGb },
    usage: diag
      ? {
          cpu_ns: diag.cpuNanos ?? null,
          memory_bytes: diag.memoryBytes ?? null,
          pids: diag.pids ?? null,
          oom_killed: diag.oomKilled ?? false,
        }
      : null,
    image_ref: r.spec.imageRef,
    fault: r.fault ?? null,
    launched_at: r.launched_at ?? null,
    updated_at: r.updated_at,
  };
}

export function statusApp(o: StatusApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const perInstance = {
    cpu: new client.Gauge({
      name: 'berth_instance_cpu_seconds',
      help: 'CPU time used',
      labelNames: ['uuid'],
      registers: [],
    }),
    memory: new client.Gauge({
      name: 'berth_instance_memory_bytes',
      help: 'Memory charged',
      labelNames: ['uuid'],
      registers: [],
    }),
    states: new client.Gauge({
      name: 'berth_instances',
      help: 'Instances on this host by vm_state',
      labelNames: ['vm_state'],
      registers: [],
    }),
  };
  for (const g of Object.values(perInstance)) o.metrics.registry.registerMetric(g);

  app.get('/healthz', async (_req, res) => {
    const broker = o.transport.connected;
    const driver = await o.driver.getAvailableResource().then(
      () => true,
      () => false,
    );
    res
      .status(broker && driver ? 200 : 503)
      .json({ status: broker && driver ? 'ok' : 'degraded', broker, driver });
  });

  app.get('/metrics', async (_req, res) => {
    perInstance.cpu.reset();
    perInstance.memory.reset();
    perInstance.states.reset();
    for (const state of Object.values(VmState)) perInstance.states.set({ vm_state: state }, 0);
    for (const r of o.store.all()) {
      perInstance.states.inc({ vm_state: r.vm_state });
      const d = await o.driver.getDiagnostics(r.spec).catch(() => undefined);
      if (d?.cpuNanos !== undefined) perInstance.cpu.set({ uuid: r.uuid }, d.cpuNanos / 1e9);
      if (d?.memoryBytes !== undefined) perInstance.memory.set({ uuid: r.uuid }, d.memoryBytes);
    }
    res.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics());
  });

  app.get('/instances', async (_req, res) => {
    res.json({ instances: await Promise.all(o.store.all().map((r) => describe(o, r))) });
  });

  app.get('/instances/:uuid', async (req, res) => {
    const r = o.store.get(req.params.uuid);
    if (!r) {
      res.status(404).json({
        itemNotFound: { code: 404, message: `Instance ${req.params.uuid} could not be found.` },
      });
      return;
    }
    res.json({ instance: await describe(o, r) });
  });

  app.use((_req, res) => {
    res.status(404).json({ itemNotFound: { code: 404, message: 'Not found' } });
  });
  return app;
}

export function listen(app: express.Express, address: string): Promise<Server> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', reject);
  });
}

/** Where a listening `server` is bound, e.g. http://127.0.0.1:8780. */
export function listeningUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
