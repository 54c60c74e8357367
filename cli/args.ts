/** Command-line parsing shared by berth's subcommands. */
import { InvalidArgumentError } from '../common/errors';

export interface ParsedArgs {
  options: Map<string, string[]>;
  flags: Set<string>;
  positional: string[];
  /** everything after `--` */
  rest: string[];
}

/**
 * `valued` names options that take a value (`--memory 64M` or
 * `--memory=64M`); `boolean` names flags. Anything else is refused, so a
 * typo never silently changes what runs. After `positionals` positional
 * arguments the rest is taken verbatim (a command and its own options).
 */
export function parseArgs(
  argv: string[],
  valued: string[],
  boolean: string[],
  positionals = 1,
): ParsedArgs {
  const out: ParsedArgs = { options: new Map(), flags: new Set(), positional: [], rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--')) {
      // The positionals end the options: `IMAGE CMD…` works without `--`.
      if (out.positional.length < positionals) out.positional.push(arg);
      else {
        out.rest = argv.slice(i);
        break;
      }
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (boolean.includes(name) && eq < 0) out.flags.add(name);
    else if (valued.includes(name)) {
      const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new InvalidArgumentError(`option --${name} needs a value`);
      out.options.set(name, [...(out.options.get(name) ?? []), value]);
    } else throw new InvalidArgumentError(`unknown option --${name}`);
  }
  return out;
}

const UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 };

/** Sizes as operators write them: 64M, 1.5G, 512k, 1048576 (binary units). */
export function parseSize(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m)
    throw new InvalidArgumentError(`invalid --${option} "${text}": expected a size like 64M or 1G`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

export function parseNumber(
  option: string,
  text: string,
  opts: { integer?: boolean; min?: number } = {},
): number {
  const n = Number(text);
  const ok = text.trim() !== '' && Number.isFinite(n) && (!opts.integer || Number.isInteger(n));
  if (!ok || (opts.min !== undefined && n < opts.min)) {
    const what = opts.integer ? 'an integer' : 'a number';
    const bound = opts.min !== undefined ? ` ≥ ${opts.min}` : '';
    throw new InvalidArgumentError(`invalid --${option} "${text}": expected ${what}${bound}`);
  }
  return n;
}
