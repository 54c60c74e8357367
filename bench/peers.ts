// Measures peer OCI runtimes (crun, runc) on the same rootfs berth boots, so the
// spawn-latency benchmark has an external reference point.
//
// Timing is done by a driver loop that this module runs in a child process (it
// re-executes itself with DRIVER_FLAG) inside a private mount namespace. Each
// sample is the wall time of one synchronous `RUNTIME run` measured with the
// monotonic clock around spawnSync, so it covers everything a caller waits for:
// exec of the runtime, create, start, wait and delete. The only overhead on top
// is one Node child spawn (~1-2 ms, what any Node caller of a runtime pays), and
// the Node startup and namespace setup of the driver happen once, outside the
// samples.

import { execFile, spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export type PeerRuntime = 'crun' | 'runc';

interface DriverJob {
  runtime: PeerRuntime;
  stateRoot: string;
  bundle: string;
  idPrefix: string;
  iterations: number;
  unmountUnified: boolean;
}

const execFileAsync = promisify(execFile);

const DRIVER_FLAG = '--berth-peer-driver';
const UNIFIED_MOUNT = '/sys/fs/cgroup/unified';
const MIB = 1024 * 1024;

export async function peerAvailable(runtime: PeerRuntime): Promise<boolean> {
  // The bundle is a rootful spec, and the driver needs to create a mount namespace.
  if (process.geteuid?.() !== 0) return false;
  try {
    await execFileAsync(runtime, ['--version']);
    await execFileAsync('unshare', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export interface PeerOptions {
  /** OCI hooks for the bundle (the network benchmark's veth-into-a-bridge createRuntime hook) */
  hooks?: Record<string, { path: string; args?: string[] }[]>;
  /** a network namespace (path) to run the runtime in, so its hooks see that namespace's bridge */
  netns?: string;
}

/** Per-iteration wall times (ms) of `RUNTIME run` of /bin/true in rootfsDir. */
export async function measurePeer(
  runtime: PeerRuntime,
  rootfsDir: string,
  iterations: number,
  o: PeerOptions = {},
): Promise<number[]> {
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  }
  // The driver is this file run by plain node, which only works once it is compiled.
  if (path.extname(__filename) !== '.js') {
    throw new Error(`measurePeer must run from compiled JavaScript, not ${__filename}`);
  }
  // runc rejects relative or symlinked rootfs paths; resolving for both keeps them on equal terms.
  const rootfs = await realpath(rootfsDir);
  // Fail before the runtime does: by then it has already created /proc, /dev and
  // /sys mount points in whatever directory it was handed.
  await lstat(path.join(rootfs, 'bin', 'true'));
  const work = await mkdtemp(path.join(os.tmpdir(), `berth-peer-${runtime}-`));
  try {
    const idPrefix = path.basename(work);
    const job: DriverJob = {
      runtime,
      stateRoot: path.join(work, 'state'),
      bundle: path.join(work, 'bundle'),
      idPrefix,
      iterations,
      unmountUnified: await isHybridCgroupHost(),
    };
    await mkdir(job.stateRoot);
    await mkdir(job.bundle);
    await writeFile(
      path.join(job.bundle, 'config.json'),
      JSON.stringify({ ...bundleSpec(rootfs, `/${idPrefix}`), hooks: o.hooks }, null, 2),
    );
    // Both runtimes go through the same namespace so neither sees a different cgroup layout.
    // execArgv is deliberately not forwarded: under `node -e` it would carry the caller's
    // script into the child, which would call measurePeer again, without end.
    const inNetns = o.netns ? ['nsenter', `--net=${o.netns}`, '--'] : [];
    const [command, ...args] = [...inNetns, 'unshare'];
    const { stdout } = await execFileAsync(command, [
      ...args,
      '--mount',
      '--propagation',
      'private',
      '--',
      process.execPath,
      __filename,
      DRIVER_FLAG,
      JSON.stringify(job),
    ]);
    return JSON.parse(stdout) as number[];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// crun 1.8 refuses hybrid hosts (v1 controllers plus a cgroup2 mount at
// /sys/fs/cgroup/unified), so the driver hides that mount in its namespace.
async function isHybridCgroupHost(): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((line) => {
    const [fields, fsInfo] = line.split(' - ');
    return fields?.split(' ')[4] === UNIFIED_MOUNT && fsInfo?.startsWith('cgroup2 ');
  });
}

// A minimal `runc spec`-style bundle. The resource limits are there for the
// cgroup writes they cost rather than to constrain /bin/true, so the peers pay
// for the same kind of per-instance cgroup setup berth does.
function bundleSpec(rootfs: string, cgroupsPath: string): object {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/true'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: 'peer',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
    ],
    linux: {
      cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: 256 * MIB },
        pids: { limit: 256 },
        cpu: { shares: 512 },
      },
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
    },
  };
}

function runtimeCommand(job: DriverJob, args: string[]): string {
  const result = spawnSync(job.runtime, ['--root', job.stateRoot, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${job.runtime} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

function timeRuns(job: DriverJob): number[] {
  // One untimed run first, so the samples don't include faulting in the runtime binary.
  runtimeCommand(job, ['run', '--bundle', job.bundle, `${job.idPrefix}-warmup`]);
  const times: number[] = [];
  for (let i = 0; i < job.iterations; i++) {
    const start = process.hrtime.bigint();
    runtimeCommand(job, ['run', '--bundle', job.bundle, `${job.idPrefix}-${i}`]);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times;
}

// `run` deletes its container on exit, so anything still listed is a leak or the
// debris of a failed run; it is removed here, while this cgroup layout is visible.
function reapContainers(job: DriverJob): string[] {
  const leaked = runtimeCommand(job, ['list', '--quiet']).split('\n').filter(Boolean);
  for (const id of leaked) runtimeCommand(job, ['delete', '--force', id]);
  return leaked;
}

function runDriver(job: DriverJob): number[] {
  if (job.unmountUnified) {
    const result = spawnSync('umount', [UNIFIED_MOUNT], { stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`umount ${UNIFIED_MOUNT} failed`);
  }
  let times: number[];
  try {
    times = timeRuns(job);
  } catch (err) {
    reapContainers(job);
    throw err;
  }
  const leaked = reapContainers(job);
  if (leaked.length > 0) {
    throw new Error(`${job.runtime} left containers behind: ${leaked.join(', ')}`);
  }
  return times;
}

if (require.main === module && process.argv[2] === DRIVER_FLAG) {
  try {
    process.stdout.write(JSON.stringify(runDriver(JSON.parse(process.argv[3]) as DriverJob)));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
