/**
 * What the benchmarks that drive a real `berth compute` share: a RabbitMQ
 * vhost of their own, and the compute as a child process, started and
 * stopped as an operator's service manager would.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { UndoStack } from '../common/undo-stack';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { announcedUrl } from '../integration-tests/fixtures/berth-processes';

const execFileAsync = promisify(execFile);

const BERTH_CLI = path.join(__dirname, '..', 'cli', 'berth.js');
const HEALTHY_TIMEOUT_MS = 30_000;

export async function rabbitmqctl(...args: string[]): Promise<string> {
  return (await execFileAsync('rabbitmqctl', ['-q', ...args])).stdout;
}

/** Creates `vhost` (deleted again by `cleanup`) and returns its transport URL. */
export async function privateVhost(vhost: string, cleanup: UndoStack): Promise<string> {
  await rabbitmqctl('add_vhost', vhost);
  cleanup.push('vhost', async () => {
    await rabbitmqctl('delete_vhost', vhost);
  });
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return `rabbit://guest:guest@127.0.0.1:5672/${vhost}`;
}

/**
 * Where a benchmark's `berth compute` runs: a private vhost (its transport
 * URL returned) and, run by `cleanup` once the compute has stopped, the end
 * of the containers it left: instances outlive their compute by design.
 */
export async function computeScratch(
  vhost: string,
  stateDir: string,
  cgroupParent: string,
  cleanup: UndoStack,
): Promise<string> {
  const url = await privateVhost(vhost, cleanup);
  cleanup.push('containers', async () => {
    const rt = await ContainerRuntime.open({ stateDir, cgroupParent });
    await rt.shutdown();
  });
  return url;
}

export async function vhostExists(vhost: string): Promise<boolean> {
  return (await rabbitmqctl('list_vhosts')).split('\n').includes(vhost);
}

export interface ComputeProcessOptions {
  /** transport URL, usually of a privateVhost */
  url: string;
  host: string;
  stateDir: string;
  cgroupParent: string;
  /** stops waiting for the compute to become healthy */
  signal: AbortSignal;
  /** where the compute's SIGTERM-and-wait is registered */
  cleanup: UndoStack;
  /** BERTH_* settings beyond the ones above */
  env?: Record<string, string>;
}

/** `berth compute`, once its status API answers /healthz. */
export async function startComputeProcess(o: ComputeProcessOptions): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BERTH_CLI, 'compute'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      BERTH_DEFAULT_HOST: o.host,
      BERTH_DEFAULT_TRANSPORT_URL: o.url,
      BERTH_DEFAULT_STATE_PATH: o.stateDir,
      BERTH_DEFAULT_LOG_LEVEL: 'warn',
      BERTH_COMPUTE_STATUS_LISTEN: '127.0.0.1:0',
      BERTH_COMPUTE_CGROUP_PARENT: o.cgroupParent,
      // `sleep` as PID 1 ignores SIGTERM, so every stop would wait out the whole
      // grace period; Nova's own terminate (libvirt destroy) powers off hard too.
      BERTH_COMPUTE_STOP_TIMEOUT: '0',
      ...o.env,
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  o.cleanup.push('berth compute', async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const statusUrl = await announcedUrl(child, 'status API');
  const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
  for (;;) {
    o.signal.throwIfAborted();
    const exit = child.exitCode ?? child.signalCode;
    if (exit !== null) throw new Error(`berth compute exited (${exit})`);
    const res = await fetch(`${statusUrl}/healthz`).catch(() => undefined);
    if (res?.ok) return child;
    if (Date.now() > deadline) throw new Error('berth compute did not become healthy');
    await sleep(50);
  }
}
