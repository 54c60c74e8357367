#!/usr/bin/env node
/** The one berth executable: `berth <command> [--config FILE] ...` */
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/loader';
import { log } from '../common/log';
import { BerthError } from '../common/errors';
import { allInOneCommand, apiCommand } from './api';
import { computeCommand } from './compute';
import { demoCommand } from './demo';
import { IMAGE_USAGE, imageCommand } from './image';
import { REGISTER_USAGE, registerEndpointsCommand } from './register-endpoints';
import { RUN_USAGE, runCommand } from './run';

const USAGE = `usage: berth <command> [--config FILE] [options]

commands:
  all-in-one  run the API and a compute node for this host in one process
          [--boot-demo IMAGE_TAR]: then boot one demo server from IMAGE_TAR through the API
  api     run the control plane: Nova compute API v2.1, image API, scheduler, conductor
  compute run the compute node: serve Nova's compute RPC from RabbitMQ with containers
  run     run a container in the foreground and exit with its status
          ${RUN_USAGE.replace(/\n/g, '\n          ')}
  image   manage the host's local images (import a rootfs tar, pull from a registry, list, show, delete)
          ${IMAGE_USAGE.replace(/\n/g, '\n          ')}
  demo    take one container on the test image through its lifecycle
  register-endpoints  put berth's services in the Keystone catalog ([keystone_authtoken] credentials, admin role)
          ${REGISTER_USAGE.replace(/\n/g, '\n          ')}

Configuration: --config FILE (nova.conf-style INI), overridden by BERTH_<SECTION>_<KEY>.`;

/** Pulls `--config FILE` out of the arguments (before any `--`). */
function takeConfigPath(argv: string[]): { configPath?: string; rest: string[] } {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  for (let i = 0; i < end; i++) {
    if (argv[i] === '--config')
      return { configPath: argv[i + 1], rest: [...argv.slice(0, i), ...argv.slice(i + 2)] };
    if (argv[i].startsWith('--config='))
      return { configPath: argv[i].slice(9), rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: argv };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const { configPath, rest } = takeConfigPath(args);
  const config = loadConfig({ path: configPath });
  // Modules without a logger of their own (messaging) log through the default one.
  log.level = config.DEFAULT.log_level;
  switch (command) {
    case 'compute':
      return computeCommand(config);
    case 'api':
      return apiCommand(config);
    case 'all-in-one': {
      const at = rest.indexOf('--boot-demo');
      return allInOneCommand(config, at >= 0 ? rest[at + 1] : undefined);
    }
    case 'run':
      return runCommand(rest, config);
    case 'image':
      return imageCommand(rest, config);
    case 'register-endpoints':
      return registerEndpointsCommand(rest, config);
    case 'demo':
      return demoCommand(
        rest[0] ?? path.join(__dirname, '..', '..', 'build', 'images', 'busybox.tar'),
        config,
      );
    default:
      process.stderr.write(`berth: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof BerthError || err instanceof ConfigError;
    process.stderr.write(`berth: ${known ? (err as Error).message : (err as Error).stack}\n`);
    process.exitCode = 125;
  },
);
