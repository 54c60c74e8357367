/**
 * A container's directory in the state dir: its writable layer, mount
 * point, console log and the files through which the monitor records its
 * pid and exit.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../../native';
import { ConflictError, InternalError } from '../../common/errors';
import { discardDisk } from './ready-disks';
import type { ContainerConfig, ContainerPaths } from './spec';

export interface ExitStatus {
  code: number;
  signal: number;
  oomKilled: boolean;
  finishedAt: number;
}

/** Makes the state directory's containers/ area, reachable by containers' mapped root users. */
export function prepareStateDir(stateDir: string): void {
  fs.mkdirSync(path.join(stateDir, 'containers'), { recursive: true, mode: 0o711 });
  // Containers with a user namespace mount their overlay as an unprivileged
  // host uid, which must be able to reach their directories.
  fs.chmodSync(stateDir, fs.statSync(stateDir).mode | 0o111);
}

// Synchronous calls on purpose: each is microseconds, while a trip through
// libuv's thread pool costs far more on the spawn path.
/**
 * `disk`: with config.rootDiskBytes, a directory holding the mounted root
 * disk (ReadyDisks.take), which becomes the container's directory; it is
 * consumed either way.
 */
export function makeContainerDir(
  paths: ContainerPaths,
  config: ContainerConfig,
  disk?: string,
): void {
  try {
    if (!config.rootDiskBytes !== !disk)
      throw new InternalError(
        `container ${config.id}: a root disk is needed with rootDiskBytes only`,
      );
    // A directory in the way is never empty (an existing container's): rename fails then.
    if (disk) fs.renameSync(disk, paths.dir);
    else fs.mkdirSync(paths.dir, { mode: 0o711 });
  } catch (err) {
    if (disk) discardDisk(disk);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY')
      throw new ConflictError(`container ${config.id} already exists`);
    throw err;
  }
  try {
    fs.mkdirSync(paths.rootfs);
    // A root volume's layer may be there already: a server booted again from the volume.
    for (const d of [paths.upper, paths.work]) fs.mkdirSync(d, { recursive: !!config.writableDir });
    // The overlay's upper layer must belong to the container's root.
    if (config.userNamespace) {
      const id = config.userNamespace.base;
      for (const d of [paths.upper, paths.work]) fs.chownSync(d, id, id);
      config.layers.forEach((_, i) => fs.mkdirSync(paths.layerMount(i), { recursive: true }));
    }
  } catch (err) {
    discardDisk(paths.dir);
    throw err;
  }
}

/**
 * Files the workload finds in its root from the start (network identity:
 * /etc/hostname, /etc/hosts, /etc/resolv.conf), put in the writable layer
 * before the overlay is mounted, so they hide the image's and survive
 * restarts. Owned by the container's root, as the image's /etc is.
 */
export function seedRootFiles(
  paths: ContainerPaths,
  config: ContainerConfig,
  files: Record<string, string>,
): void {
  const owner = config.userNamespace?.base ?? 0;
  for (const [file, content] of Object.entries(files)) {
    const rel = path.normalize(file).replace(/^\/+/, '');
    if (!rel || rel.startsWith('..'))
      throw new InternalError(`cannot seed ${file}: outside the root`);
    const target = path.join(paths.upper, rel);
    const dirs: string[] = [];
    for (let dir = path.dirname(rel); dir !== '.'; dir = path.dirname(dir)) dirs.unshift(dir);
    for (const dir of dirs.map((d) => path.join(paths.upper, d))) {
      if (fs.existsSync(dir)) continue;
      fs.mkdirSync(dir, { mode: 0o755 });
      fs.chownSync(dir, owner, owner);
    }
    fs.writeFileSync(target, content, { mode: 0o644 });
    fs.chownSync(target, owner, owner);
  }
}

/**
 * The writable layer's own file system (made by ReadyDisks: a sparse copy
 * of the formatted template of the flavor's root_gb), attached to a loop
 * device and mounted in the container's directory, in process (no
 * losetup or mount to fork); the loop device goes with the unmount (autoclear).
 */
function mountDisk(paths: ContainerPaths): void {
  native().loopMount({ file: paths.diskImage, target: paths.disk, fstype: 'ext4' });
}

/**
 * Grows the writable layer's file system to `bytes`, the container being
 * stopped: unmounted, the sparse file grown, ext4 checked and grown, mounted
 * again. Offline because growing a mounted ext4 needs CAP_SYS_RESOURCE,
 * which a berth in a container or user namespace lacks; grow only, as
 * shrinking could lose files.
 */
export function growDisk(paths: ContainerPaths, bytes: number): void {
  if (fs.statSync(paths.diskImage).size >= bytes) return;
  // Not lazy: a file system something still uses must not be resized under it.
  native().umount(paths.disk);
  try {
    fs.truncateSync(paths.diskImage, bytes);
    runTool('e2fsck', ['-f', '-p', paths.diskImage]);
    runTool('resize2fs', [paths.diskImage]);
  } finally {
    mountDisk(paths);
  }
}

/** Runs a host tool; its stderr becomes the error, naming the command. */
function runTool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new InternalError(`${cmd} ${args.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/** The monitor writes `code signal oom unix-ms` when the workload ends. */
export function readExitFile(file: string): ExitStatus | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [code, signal, oom, at] = text.trim().split(' ').map(Number);
  return { code, signal, oomKilled: oom === 1, finishedAt: at || Date.now() };
}

export function readPidFile(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
