/**
 * `berth run`: one container in the foreground with the caller's stdio,
 * created by a one-shot helper rather than the host's monitor, and removed
 * when it exits.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorBinary } from '../../native';
import { detectCgroupLayout, planCgroups, removeCgroups, removeParents } from './cgroups';
import { DiskTemplates } from './disk-templates';
import { type ExitStatus, makeContainerDir, prepareStateDir, readExitFile } from './container-dir';
import { type ContainerConfig, containerPaths, encodeSpawnSpec, validateConfig } from './spec';

export interface ForegroundResult {
  /** the workload's exit status; absent when the container could not be set up */
  exit?: ExitStatus;
  /** what a shell should exit with: the workload's code, or 125–127 for setup failures */
  code: number;
}

export async function runForeground(
  config: ContainerConfig,
  opts: { stateDir: string; cgroupParent: string },
): Promise<ForegroundResult> {
  validateConfig(config);
  const layout = detectCgroupLayout();
  const paths = containerPaths(path.resolve(opts.stateDir), config.id, config);
  const plan = planCgroups(layout, opts.cgroupParent, config.id, config.limits);
  prepareStateDir(path.resolve(opts.stateDir));
  const template = config.rootDiskBytes
    ? await new DiskTemplates(path.resolve(opts.stateDir)).get(config.rootDiskBytes)
    : undefined;
  makeContainerDir(paths, config, template);
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = (['SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  // A terminal's ^C reaches the helper directly (same process group); it
  // forwards it to the workload, whose exit decides ours.
  const ignoreInterrupt = () => {};
  const child = spawn(monitorBinary, ['run'], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  try {
    for (const [s, h] of handlers) process.on(s, h);
    process.on('SIGINT', ignoreInterrupt);
    (child.stdio[3] as NodeJS.WritableStream).end(encodeSpawnSpec(config, plan, paths));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    const exit = readExitFile(paths.exitFile);
    return { exit, code: exit ? exit.code : (code ?? 128 + os.constants.signals[signal!]) };
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    process.off('SIGINT', ignoreInterrupt);
    removeCgroups(plan);
    fs.rmSync(paths.dir, { recursive: true, force: true });
    removeParents(layout, opts.cgroupParent);
  }
}
