/** `berth image …`: the host's local image store, shown the way `openstack image` shows Glance. */
import path from 'node:path';
import type { BerthConfig } from '../config/schema';
import { InvalidArgumentError } from '../common/errors';
import type { ImageRecord, ImportOptions } from '../driver/image/image-service';
import type { FreedItem } from '../driver/image/cache/image-cache';
import { parseArgs } from './args';
import { pullCommand } from './image-pull';
import { createLogger } from '../common/log';
import { hostImageStore } from '../driver/image/host-image-store';

export const IMAGE_USAGE = `usage: berth image import NAME TAR [--command JSON_ARRAY] [--property KEY=VALUE]...
       berth image pull [--username U --password P] REF
       berth image list
       berth image show IMAGE
       berth image delete IMAGE
       berth image prune
IMAGE is an image id or a name only one image has.`;

const print = (text: string) => process.stdout.write(`${text}\n`);

/** Returns the exit status; bad input throws (exit 125), an unknown verb is a usage error (2). */
export async function imageCommand(argv: string[], config: BerthConfig): Promise<number> {
  const [verb, ...rest] = argv;
  const store = hostImageStore(
    config,
    createLogger({ level: config.DEFAULT.log_level, json: false }),
  );
  switch (verb) {
    case 'import':
      print((await store.import(...importArgs(rest))).id);
      return 0;
    case 'pull':
      print((await pullCommand(rest, config, store, IMAGE_USAGE)).id);
      return 0;
    case 'list':
      positionals(rest, []);
      print(table([['ID', 'NAME', 'STATUS', 'SIZE'], ...(await store.list()).map(listRow)]));
      return 0;
    case 'show':
      print(table(showRows(await store.show(positionals(rest, ['IMAGE'])[0]))));
      return 0;
    case 'delete':
      await store.delete(positionals(rest, ['IMAGE'])[0]);
      return 0;
    case 'prune':
      positionals(rest, []);
      print(pruneReport(await store.prune()));
      return 0;
    default:
      process.stderr.write(
        `berth: ${verb ? `unknown image command "${verb}"` : 'no image command'}\n${IMAGE_USAGE}\n`,
      );
      return 2;
  }
}

function importArgs(argv: string[]): [string, string, ImportOptions] {
  const args = parseArgs(argv, ['command', 'property'], [], Infinity);
  const [name, tar] = positionals(args.positional, ['NAME', 'TAR']);
  const command = args.options.get('command')?.at(-1);
  const properties = args.options.get('property')?.map(property);
  return [
    name,
    path.resolve(tar),
    {
      command: command === undefined ? undefined : commandArray(command),
      properties: properties && Object.fromEntries(properties),
    },
  ];
}

/** Exactly the named positional arguments, or a usage error naming what is missing or extra. */
function positionals(given: string[], names: string[]): string[] {
  if (given.length < names.length)
    throw new InvalidArgumentError(`missing ${names[given.length]}\n${IMAGE_USAGE}`);
  if (given.length > names.length)
    throw new InvalidArgumentError(`unexpected argument "${given[names.length]}"\n${IMAGE_USAGE}`);
  return given;
}

function commandArray(text: string): string[] {
  let argv: unknown;
  try {
    argv = JSON.parse(text);
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv) || !argv.length || argv.some((a) => typeof a !== 'string'))
    throw new InvalidArgumentError(
      `invalid --command ${JSON.stringify(text)}: expected a JSON array of strings, e.g. '["/bin/sh","-c","echo hi"]'`,
    );
  return argv as string[];
}

function property(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`invalid --property "${text}": expected KEY=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** One line per layer or blob freed, then the total, as `docker image prune` ends. */
function pruneReport(freed: FreedItem[]): string {
  const bytes = freed.reduce((n, f) => n + f.bytes, 0);
  const lines = freed.map((f) => `deleted ${f.kind} ${f.digest} (${f.bytes} bytes)`);
  return [...lines, `Total reclaimed space: ${bytes} bytes`].join('\n');
}

function listRow(r: ImageRecord): string[] {
  return [r.id, r.name, r.status, String(r.size)];
}

/** Glance's fields, then the recorded command, then custom properties flat, as Glance lists them. */
function showRows(r: ImageRecord): string[][] {
  const rows: [string, string | number | null][] = [
    ['id', r.id],
    ['name', r.name],
    ['status', r.status],
    ['container_format', r.container_format],
    ['disk_format', r.disk_format],
    ['size', r.size],
    ['checksum', r.checksum],
    ['os_hash_algo', r.os_hash_algo],
    ['os_hash_value', r.os_hash_value],
    ['created_at', r.created_at],
    ['updated_at', r.updated_at],
  ];
  const text = rows.map(([key, value]): string[] => [key, value === null ? '' : String(value)]);
  if (r.config?.entrypoint) text.push(['entrypoint', JSON.stringify(r.config.entrypoint)]);
  if (r.config?.cmd) text.push(['command', JSON.stringify(r.config.cmd)]);
  if (r.config?.env) text.push(['env', JSON.stringify(r.config.env)]);
  if (r.config?.workingDir) text.push(['working_dir', r.config.workingDir]);
  if (r.config?.user) text.push(['user', r.config.user]);
  for (const [key, value] of Object.entries(r.properties)) text.push([key, value]);
  return text;
}

/** Left-aligned columns two spaces apart, no trailing blanks. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
