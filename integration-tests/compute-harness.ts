/** Running `berth compute` in tests: an isolated RabbitMQ vhost, the child process, Nova-shaped instances. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { LocalImageStore } from '../driver/image/local-image-store';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { announcedUrl } from './fixtures/berth-processes';
import { berthCli, imageTar, waitFor } from './harness';

export function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', ['-q', ...args], { stdio: 'ignore' });
}

/** A vhost of its own keeps a test's queues apart from any real deployment's. */
export function createVhost(name: string): string {
  rabbitmqctl('add_vhost', name);
  rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
  return `rabbit://guest:guest@127.0.0.1:5672/${name}`;
}

/** Consumers of `queue` on the vhost of `transportUrl` (0 while it does not exist). */
export function queueConsumers(transportUrl: string, queue: string): number {
  const vhost = decodeURIComponent(new URL(transportUrl).pathname.slice(1));
  const out = execFileSync('rabbitmqctl', ['-q', 'list_queues', '-p', vhost, 'name', 'consumers'], {
    encoding: 'utf8',
  });
  const row = out.split('\n').find((line) => line.split('\t')[0] === queue);
  return row ? Number(row.split('\t')[1]) : 0;
}

export interface ComputeNode {
  host: string;
  stateDir: string;
  cgroupParent: string;
  url: string;
  durable?: boolean;
}

export interface RunningCompute {
  child: ChildProcess;
  /** the status API, on a port the kernel chose: a new one at each start */
  statusUrl: string;
}

let emptyImageService: Promise<string> | undefined;

/**
 * An image service of this test process's own, which has no images: a
 * compute's [glance] api_servers would otherwise default to 127.0.0.1:8774,
 * where a berth running on this host may answer.
 */
function noImages(): Promise<string> {
  emptyImageService ??= new Promise((resolve) => {
    const server = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'no images here' }));
    });
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/image`);
    });
  });
  return emptyImageService;
}

export async function startCompute(node: ComputeNode): Promise<RunningCompute> {
  const glance = await noImages();
  const child = spawn(process.execPath, [berthCli, 'compute'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      BERTH_DEFAULT_HOST: node.host,
      BERTH_DEFAULT_TRANSPORT_URL: node.url,
      BERTH_DEFAULT_STATE_PATH: node.stateDir,
      BERTH_DEFAULT_REPORT_INTERVAL: '1',
      BERTH_DEFAULT_LOG_LEVEL: 'warn',
      BERTH_COMPUTE_STATUS_LISTEN: '127.0.0.1:0',
      BERTH_GLANCE_API_SERVERS: glance,
      BERTH_COMPUTE_CGROUP_PARENT: node.cgroupParent,
      BERTH_COMPUTE_STOP_TIMEOUT: '1',
      BERTH_OSLO_MESSAGING_RABBIT_AMQP_DURABLE_QUEUES: node.durable ? 'true' : 'false',
    },
  });
  const statusUrl = await announcedUrl(child, 'status API');
  // Announced once it serves RPC; healthy also means the broker and the driver answer.
  await waitFor(
    'compute healthy',
    async () => {
      if (child.exitCode !== null) throw new Error(`berth compute exited with ${child.exitCode}`);
      return (await statusGet(`${statusUrl}/healthz`).catch(() => undefined))?.ok;
    },
    30000,
  );
  return { child, statusUrl };
}

export async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await once(child, 'exit');
}

/** Removes what the node's instances left (they outlive the service by design) and its vhost. */
export async function cleanUpNode(node: ComputeNode, vhost: string): Promise<void> {
  const rt = await ContainerRuntime.open({
    stateDir: node.stateDir,
    cgroupParent: node.cgroupParent,
  });
  await rt.shutdown();
  rabbitmqctl('delete_vhost', vhost);
}

export async function importImage(stateDir: string, command: string[]): Promise<string> {
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  return (await images.import('busybox', imageTar, { command })).id;
}

export interface InstanceStatus {
  uuid: string;
  vm_state: string;
  task_state: string | null;
  power_state: number;
  pid: number | null;
  fault: { message: string } | null;
}

/**
 * GET, sent once more when the server closed a kept-alive connection just
 * as the request went out: the tests' rabbitmqctl calls block this event
 * loop for seconds, long enough for the server's idle timeout to close a
 * pooled socket whose close this process has not seen yet.
 */
export async function statusGet(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
    return fetch(url);
  }
}

async function getJson<T>(url: string): Promise<{ code: number; body: T }> {
  const res = await statusGet(url);
  return { code: res.status, body: (await res.json()) as T };
}

export async function instanceStatus(
  statusUrl: string,
  uuid: string,
): Promise<{ code: number; instance?: InstanceStatus }> {
  const { code, body } = await getJson<{ instance?: InstanceStatus }>(
    `${statusUrl}/instances/${uuid}`,
  );
  return { code, instance: body.instance };
}

export async function allInstances(statusUrl: string): Promise<InstanceStatus[]> {
  return (await getJson<{ instances: InstanceStatus[] }>(`${statusUrl}/instances`)).body.instances;
}

/** An Instance primitive as nova-conductor sends it in build_and_run_instance. */
export function novaInstance(uuid: string, id: number, imageId: string) {
  return {
    'nova_object.name': 'Instance',
    'nova_object.namespace': 'nova',
    'nova_object.version': '2.7',
    'nova_object.data': {
      id,
      uuid,
      user_id: 'u-1',
      project_id: 'p-1',
      image_ref: imageId,
      hostname: `vm-${id}`,
      display_name: `vm-${id}`,
      vm_state: 'building',
      task_state: 'scheduling',
      power_state: 0,
      memory_mb: 64,
      vcpus: 1,
      root_gb: 1,
      metadata: {},
      flavor: {
        'nova_object.name': 'Flavor',
        'nova_object.namespace': 'nova',
        'nova_object.version': '1.2',
        'nova_object.data': {
          id: 1,
          name: 'm1.tiny',
          flavorid: '1',
          memory_mb: 64,
          vcpus: 1,
          root_gb: 1,
        },
      },
    },
  };
}
