import { readFileSync } from 'node:fs';
import { parse } from 'ini';
import Joi from 'joi';
import { BerthConfig, OPTION_NAMES, SectionName, berthSchema } from './schema';

export interface LoadConfigOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
}

/** A configuration value that failed validation, or an option/section that does not exist. */
export class ConfigError extends Error {
  constructor(
    readonly section: string,
    readonly key: string | undefined,
    readonly value: unknown,
    readonly expected: string,
    message: string,
  ) {
    super(`invalid configuration: ${message}`);
    this.name = 'ConfigError';
  }
}

type RawConfig = Record<string, Record<string, unknown>>;

// Where an override came from, so an error can point at the env var rather than the file.
type Sources = Map<string, string>;

const sourceKey = (section: string, key: string) => `${section}\0${key}`;

function envName(section: string, key: string): string {
  return `BERTH_${section.toUpperCase()}_${key.toUpperCase()}`;
}

function readIni(file: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new Error(`cannot read configuration file "${file}": ${reason}`, { cause: err });
  }
  const raw: RawConfig = {};
  for (const [section, options] of Object.entries(parse(text))) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError(
        '',
        section,
        options,
        'a [section] header before it',
        `${section} in "${file}": outside any section; expected a [section] header before it`,
      );
    }
    // ini turns bare true/false/null into JS values; undo that so every value reaches
    // joi as the string the operator wrote, exactly as env values do.
    raw[section] = Object.fromEntries(
      Object.entries(options).map(([key, value]) => [
        key,
        typeof value === 'boolean' || value === null ? String(value) : value,
      ]),
    );
  }
  return raw;
}

function applyEnv(raw: RawConfig, env: NodeJS.ProcessEnv, sources: Sources): void {
  for (const [section, keys] of Object.entries(OPTION_NAMES)) {
    const prefix = envName(section, '');
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith(prefix) || value === undefined) continue;
      const key = name.slice(prefix.length).toLowerCase();
      // The BERTH_<SECTION>_ namespace belongs to config, so a misspelt override fails
      // loudly instead of silently leaving the default in place.
      if (!keys.includes(key)) {
        throw unknownOption(section as SectionName, key, value, name);
      }
      raw[section] = { ...raw[section], [key]: value };
      sources.set(sourceKey(section, key), name);
    }
  }
}

function unknownOption(
  section: SectionName,
  key: string,
  value: unknown,
  origin?: string,
): ConfigError {
  const expected = `one of ${OPTION_NAMES[section].join(', ')}`;
  // The value stays out of the message: a misspelt option is often a password.
  const from = origin ? ` (from ${origin})` : '';
  return new ConfigError(
    section,
    key,
    value,
    expected,
    `[${section}] ${key}${from}: not a known option; expected ${expected}`,
  );
}

function toConfigError(detail: Joi.ValidationErrorItem, raw: RawConfig, sources: Sources) {
  const [section, key] = detail.path.map(String);
  if (detail.type === 'object.unknown' && key === undefined) {
    const expected = `one of ${Object.keys(OPTION_NAMES)
      .map((name) => `[${name}]`)
      .join(', ')}`;
    return new ConfigError(
      section,
      undefined,
      undefined,
      expected,
      `[${section}]: not a known section; expected ${expected}`,
    );
  }
  if (detail.type === 'object.unknown') {
    return unknownOption(section as SectionName, key, raw[section]?.[key]);
  }
  // Report what the operator wrote, not joi's converted value.
  const value = raw[section]?.[key];
  const origin = sources.get(sourceKey(section, key));
  const from = origin ? ` (from ${origin})` : '';
  return new ConfigError(
    section,
    key,
    value,
    detail.message,
    `[${section}] ${key} = ${JSON.stringify(value)}${from}: ${detail.message}`,
  );
}

/**
 * Builds the effective configuration: schema defaults, then the INI file, then
 * BERTH_<SECTION>_<KEY> environment overrides.
 */
export function loadConfig(opts: LoadConfigOptions = {}): BerthConfig {
  const { path, env = process.env } = opts;
  const raw = path === undefined ? {} : readIni(path);
  const sources: Sources = new Map();
  applyEnv(raw, env, sources);
  const { value, error } = berthSchema.validate(raw, { errors: { label: false } });
  if (error) throw toConfigError(error.details[0], raw, sources);
  return value;
}
