import winston, { Logger, format, transports } from 'winston';

export type { Logger } from 'winston';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: string;
  json?: boolean;
}

// Errors stringify to {} by default; keep what an operator needs to debug them.
function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error
    ? { name: value.name, message: value.message, stack: value.stack }
    : value;
}

function formatValue(value: unknown): string {
  // A stack would break the one-line-per-entry shape; JSON output keeps it.
  if (value instanceof Error) return formatValue(value.message);
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value;
  return JSON.stringify(value, errorReplacer);
}

// Timestamp first so JSON lines sort and scan well in a terminal or `less`.
const jsonLine = format.printf(({ timestamp, level, message, ...meta }) =>
  JSON.stringify({ timestamp, level, message, ...meta }, errorReplacer),
);

const humanLine = format.printf(({ level, message, stack, ...meta }) => {
  const fields = Object.entries(meta)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const line = [level, message, ...fields].join(' ');
  return typeof stack === 'string' ? `${line}\n${stack}` : line;
});

function checkLevel(level: string): LogLevel {
  const normalised = level.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(normalised)) {
    throw new Error(`unknown log level "${level}": expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return normalised as LogLevel;
}

/** Logger writing to stderr so stdout stays free for command output. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const { level = 'info', json = true } = opts;
  return winston.createLogger({
    level: checkLevel(level),
    format: format.combine(
      format.errors({ stack: true }),
      ...(json ? [format.timestamp(), jsonLine] : [humanLine]),
    ),
    transports: [new transports.Stream({ stream: process.stderr })],
  });
}

/** Child logger whose lines can be correlated with one instance and API request. */
export function forInstance(logger: Logger, uuid: string, requestId?: string): Logger {
  return logger.child({ instance_uuid: uuid, request_id: requestId });
}

let defaultLogger: Logger | undefined;

function getDefaultLogger(): Logger {
  defaultLogger ??= createLogger({
    level: process.env.BERTH_LOG_LEVEL ?? 'info',
    json: !process.stderr.isTTY,
  });
  return defaultLogger;
}

// Created on first use so importing this module reads no environment and opens no
// transport; methods are bound because winston's internals rely on `this`.
export const log: Logger = new Proxy({} as Logger, {
  get(_target, property) {
    const logger = getDefaultLogger();
    const value: unknown = Reflect.get(logger, property, logger);
    return typeof value === 'function' ? value.bind(logger) : value;
  },
  set(_target, property, value) {
    return Reflect.set(getDefaultLogger(), property, value);
  },
});
