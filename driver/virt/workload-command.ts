/**
 * What an instance's workload runs, and how. As Docker does with `run
 * IMAGE ARGS` (and nova-docker with the Glance property): the image's
 * Entrypoint is kept and `os_command_line` replaces its Cmd; an image that
 * records neither boots `compute.default_command`. The image's Env,
 * WorkingDir and User apply whichever command runs.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { ImageCommandConfig } from '../image/image-service';
import type { ImageUser } from '../image/image-user';
import { DEFAULT_ENV } from '../runtime/security';

export interface ImageCommandSources {
  config?: ImageCommandConfig;
  properties: Record<string, unknown>;
  /** the config's User, resolved against the image's /etc/passwd and /etc/group */
  user?: ImageUser;
}

export function workloadCommand(image: ImageCommandSources, defaultCommand: string): string[] {
  const override = image.properties.os_command_line;
  const cmd =
    override === undefined
      ? (image.config?.cmd ?? [])
      : parseCommandLine('os_command_line', override);
  const argv = [...(image.config?.entrypoint ?? []), ...cmd];
  return argv.length ? argv : parseCommandLine('compute.default_command', defaultCommand);
}

/**
 * berth's defaults overridden by the image's Env, name by name (Docker's
 * order: an image's PATH replaces the default one). HOME comes from the
 * image user's passwd entry unless the image sets it.
 */
export function workloadEnv(image: ImageCommandSources): string[] {
  const env = new Map<string, string>();
  const add = (entry: string) => env.set(entry.split('=', 1)[0], entry);
  DEFAULT_ENV.forEach(add);
  image.config?.env?.forEach(add);
  if (image.user && !env.has('HOME')) add(`HOME=${image.user.home}`);
  return [...env.values()];
}

/** The image's WorkingDir, `/` when it has none; a relative one is taken from `/`, as Docker does. */
export function workloadCwd(image: ImageCommandSources): string {
  const dir = image.config?.workingDir;
  return dir ? path.posix.resolve('/', dir) : '/';
}

/** A JSON array of strings, or a shell-like line split as Python's shlex.split does. */
export function parseCommandLine(source: string, value: unknown): string[] {
  const bad = (why: string) =>
    new InvalidArgumentError(`${source} ${JSON.stringify(value)}: ${why}`);
  if (typeof value !== 'string') throw bad('must be a string');
  if (!value.trimStart().startsWith('[')) return splitShellWords(value, bad);
  let argv: unknown;
  try {
    argv = JSON.parse(value);
  } catch {
    throw bad('not valid JSON');
  }
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string'))
    throw bad('must be a JSON array of strings');
  return argv as string[];
}

/**
 * POSIX shell quoting without expansion, the rules nova-docker's command
 * line got from docker-py (shlex): single quotes are literal, a backslash
 * escapes any character outside quotes and only `"` or `\` inside double
 * quotes. Operators such as `|` or `;` are plain characters: a workload
 * that needs a shell says `sh -c '...'`.
 */
function splitShellWords(line: string, bad: (why: string) => Error): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      inWord = true;
      if (c === "'" || c === '"') quote = c;
      else if (c !== '\\') word += c;
      else if (i + 1 < line.length) word += line[++i];
      else throw bad('ends with an unescaped backslash');
    }
  }
  if (quote) throw bad(`has no closing ${quote}`);
  if (inWord) words.push(word);
  return words;
}
