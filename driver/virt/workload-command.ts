/**
 * Which argv an instance's workload runs. As Docker does with `run IMAGE
 * ARGS` (and nova-docker with the Glance property): the image's Entrypoint
 * is kept and `os_command_line` replaces its Cmd; an image that records
 * neither boots `compute.default_command`.
 */
import { InvalidArgumentError } from '../../common/errors';
import type { ImageCommandConfig } from '../image/image-service';

export interface ImageCommandSources {
  config?: ImageCommandConfig;
  properties: Record<string, unknown>;
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
