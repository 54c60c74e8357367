/** Shared set-up for integration tests: real containers need root and the built test image. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ContainerConfig } from '../driver/runtime/spec';

export const projectRoot = path.resolve(__dirname, '..', '..');
export const imageDir = path.join(projectRoot, 'build', 'images', 'busybox-rootfs');
export const imageTar = path.join(projectRoot, 'build', 'images', 'busybox.tar');
export const berthCli = path.join(projectRoot, 'dist', 'cli', 'berth.js');

/** Skip reason when the host cannot run containers for us, else undefined. */
export function needsRoot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, cgroups, mounts)';
  if (!fs.existsSync(imageDir)) return `test image missing (${imageDir}); run scripts/build.sh`;
  return undefined;
}

/**
 * This test run's id: scripts/test.sh sets BERTH_TEST_RUN so that its
 * leftover check and sweep look only at what this run made, never at
 * another run's or a real berth on the same host. A file run by hand gets
 * an id of its own.
 */
export const testRun = process.env.BERTH_TEST_RUN ?? randomBytes(4).toString('hex');
/** Test files run as separate processes of one run: this keeps their names apart. */
const processTag = randomBytes(2).toString('hex');
let serial = 0;

/**
 * A name for something a test makes on the host (state directory, cgroup
 * parent, host, RabbitMQ vhost): `berth-it-<run>-<kind>-<unique>`, the
 * pattern scripts/check-leftovers.sh and scripts/sweep-test-leftovers.sh look for.
 */
export function runName(kind: string): string {
  return `berth-it-${testRun}-${kind}-${processTag}${serial++}`;
}

export function tempStateDir(kind: string): string {
  const dir = path.join(os.tmpdir(), runName(kind));
  fs.mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** An id unique within this run, for things that live inside a run-named parent (containers). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${processTag}${serial++}`;
}

export function containerConfig(
  command: string[],
  overrides: Partial<ContainerConfig> = {},
): ContainerConfig {
  return {
    id: uniqueId('c'),
    layers: [imageDir],
    command,
    limits: { memoryBytes: 128 << 20, pids: 128 },
    network: { mode: 'none' },
    consoleLog: { maxBytes: 1 << 20, backups: 1 },
    ...overrides,
  };
}

export { waitFor } from '../testing/wait-for';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
