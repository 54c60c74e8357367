// Docker as a benchmark peer: a private dockerd (Debian's docker.io) with its
// own data root, exec root and socket under a scratch directory, no bridge
// and no iptables rules, so nothing of the host's is touched and a dockerd
// the host may run is not used. `docker run -d` is timed as a user runs it:
// the CLI, from spawn to the container's id, which it prints once started.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { mountPointsUnder } from './leftovers';

const execFileAsync = promisify(execFile);
const READY_TIMEOUT_MS = 60_000;

class DockerPeer {
  private readonly ids: string[] = [];

  private constructor(
    private readonly daemon: ChildProcess,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** A private dockerd under `dir`, or why there is none (dockerd not installed, or it failed). */
  static async start(dir: string): Promise<DockerPeer | string> {
    const found = await execFileAsync('dockerd', ['--version']).catch(() => undefined);
    if (!found) return 'dockerd not installed (Debian package docker.io)';
    await mkdir(dir, { recursive: true });
    const socket = path.join(dir, 'docker.sock');
    const daemon = spawn(
      'dockerd',
      [
        `--data-root=${path.join(dir, 'data')}`,
        `--exec-root=${path.join(dir, 'exec')}`,
        `--pidfile=${path.join(dir, 'docker.pid')}`,
        `--host=unix://${socket}`,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-masq=false',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const peer = new DockerPeer(daemon, dir, { ...process.env, DOCKER_HOST: `unix://${socket}` });
    const ready = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve('dockerd did not start listening'), READY_TIMEOUT_MS);
      const lines = readline.createInterface({ input: daemon.stderr! });
      lines.on('line', (line) => {
        if (line.includes('API listen on')) {
          clearTimeout(timer);
          resolve(undefined);
        }
      });
      daemon.once('exit', (code) => {
        clearTimeout(timer);
        resolve(`dockerd exited (${code}) before listening`);
      });
    });
    if (ready) {
      await peer.stop();
      return ready;
    }
    return peer;
  }

  /** `docker import` of a rootfs tar as `tag`. */
  async importRootfs(tar: string, tag: string): Promise<void> {
    await this.docker(['import', tar, tag]);
  }

  /** Wall time (ms) of one `docker run -d` of `args` (image and command included). */
  async timeRun(args: string[]): Promise<number> {
    const start = performance.now();
    const { stdout } = await this.docker(['run', '-d', ...args]);
    const elapsed = performance.now() - start;
    this.ids.push(stdout.trim());
    return elapsed;
  }

  /** Removes the containers it ran, stops dockerd and removes its directory. */
  async stop(): Promise<void> {
    if (this.ids.length) await this.docker(['rm', '-f', ...this.ids]).catch(() => undefined);
    this.ids.length = 0;
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      this.daemon.kill('SIGTERM');
      await once(this.daemon, 'exit');
    }
    // dockerd leaves its own bind of the exec root and overlay mounts only when killed.
    for (const mount of (await mountPointsUnder(this.dir)).reverse())
      await execFileAsync('umount', ['-l', mount]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private docker(args: string[]) {
    return execFileAsync('docker', args, { env: this.env, maxBuffer: 1 << 20 });
  }
}

/**
 * `docker run -d` (64 MiB, 1 CPU, no network) of the rootfs in `tar`, one
 * at a time, `count` times, in a private dockerd under `dir`: the wall
 * times, or why Docker could not run here.
 */
export async function timeDockerRuns(
  dir: string,
  tar: string,
  count: number,
  signal: AbortSignal,
): Promise<number[] | { unavailable: string }> {
  const peer = await DockerPeer.start(dir);
  if (typeof peer === 'string') return { unavailable: peer };
  try {
    const image = 'berth-bench:busybox';
    await peer.importRootfs(tar, image);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      signal.throwIfAborted();
      const limits = ['--network', 'none', '--memory', '64m', '--cpus', '1'];
      times.push(await peer.timeRun([...limits, image, 'sleep', '3600']));
    }
    return times;
  } finally {
    await peer.stop();
  }
}
