/** `berth run [options] IMAGE_TAR_OR_DIR [--] CMD ARGS...` */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { BerthConfig } from '../config/schema';
import { InvalidArgumentError } from '../common/errors';
import { ImageCache } from '../driver/image/cache/image-cache';
import { rootfsLayers } from '../driver/image/cache/rootfs-source';
import { runForeground } from '../driver/runtime/foreground';
import type { ContainerConfig, NetworkConfig } from '../driver/runtime/spec';
import { parseArgs, parseNumber, parseSize } from './args';

export const RUN_USAGE = `usage: berth run [--memory 64M] [--cpus 0.5] [--pids 64] [--hostname H]
                 [--net none|netns:PATH] [--user-ns] [--env K=V]... [--workdir DIR]
                 IMAGE_TAR_OR_DIR [--] CMD [ARGS...]`;

function network(value: string | undefined): NetworkConfig {
  if (value === undefined || value === 'none') return { mode: 'none' };
  if (value.startsWith('netns:')) return { mode: 'netns', path: path.resolve(value.slice(6)) };
  throw new InvalidArgumentError(`invalid --net "${value}": expected none or netns:PATH`);
}

/** Builds the container from the command line; throws before anything is created. */
export function runConfig(
  argv: string[],
  config: BerthConfig,
  layers: string[] = [],
): ContainerConfig & { image: string } {
  const args = parseArgs(
    argv,
    ['memory', 'cpus', 'pids', 'hostname', 'net', 'env', 'workdir'],
    ['user-ns'],
  );
  const one = (name: string) => args.options.get(name)?.at(-1);
  const image = args.positional[0];
  if (!image) throw new InvalidArgumentError(`no image given\n${RUN_USAGE}`);
  if (!args.rest.length) throw new InvalidArgumentError(`no command given\n${RUN_USAGE}`);
  const memory = one('memory');
  const cpus = one('cpus');
  const pids = one('pids');
  const c = config.compute;
  return {
    image,
    id: `run-${randomBytes(6).toString('hex')}`,
    layers,
    command: args.rest,
    env: args.options.get('env'),
    cwd: one('workdir'),
    hostname: one('hostname'),
    limits: {
      memoryBytes: memory === undefined ? undefined : parseSize('memory', memory),
      cpus: cpus === undefined ? undefined : parseNumber('cpus', cpus, { min: 0.01 }),
      pids: pids === undefined ? undefined : parseNumber('pids', pids, { integer: true, min: 1 }),
    },
    network: network(one('net')),
    userNamespace:
      args.flags.has('user-ns') || c.user_namespace
        ? { base: c.userns_uid_base, size: c.userns_size }
        : undefined,
    consoleLog: { maxBytes: c.console_log_max_bytes, backups: c.console_log_backups },
  };
}

export async function runCommand(argv: string[], config: BerthConfig): Promise<number> {
  const { image, ...container } = runConfig(argv, config);
  const stateDir = config.DEFAULT.state_path;
  container.layers = await rootfsLayers(new ImageCache(path.join(stateDir, 'images')), image);
  const { exit, code } = await runForeground(container, {
    stateDir,
    cgroupParent: config.compute.cgroup_parent,
  });
  if (exit?.oomKilled) {
    const limit = container.limits.memoryBytes;
    process.stderr.write(
      `berth: container killed: out of memory${limit ? ` (limit ${limit} bytes)` : ''}\n`,
    );
  }
  return code;
}
