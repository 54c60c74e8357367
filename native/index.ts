/**
 * The native layer's whole surface: the addon's syscalls and the path of
 * the berth-monitor helper (container creation, supervision, exec).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface NativeAddon {
  /** Pins a new network namespace on `path` (created; must not exist). */
  netnsCreate(path: string): void;
  umount(path: string, detach?: boolean): void;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
}

/** Errors thrown by the addon carry the syscall, errno and path. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

function projectRoot(): string {
  // Works from both the sources and the compiled tree (dist/native).
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`berth: no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

const buildDir = path.join(projectRoot(), 'native', 'build', 'Release');

/** The helper that creates and owns containers. */
export const monitorBinary = path.join(buildDir, 'berth-monitor');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    const file = path.join(buildDir, 'berth_native.node');
    if (!fs.existsSync(file)) {
      throw new Error(`berth: native addon not built (${file}); run "npm run build"`);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
  }
  return addon;
}

export function isSyscallError(err: unknown): err is SyscallError {
  return err instanceof Error && typeof (err as SyscallError).syscall === 'string';
}
