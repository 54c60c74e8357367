/**
 * The berth-monitor protocol as native/helper/protocol.h declares it. The
 * header is the one definition; monitor-protocol.test.ts reads it and
 * checks that every name, order and limit here agrees.
 */
import os from 'node:os';

/** The largest frame payload either side sends or accepts. */
export const MAX_FRAME = 256 << 20;

export const VERBS = ['spawn', 'kill', 'list', 'ping', 'shutdown'] as const;
export type Verb = (typeof VERBS)[number];

export const EVENTS = ['reply', 'exit'] as const;
export const STATUSES = ['ok', 'error'] as const;
/** The fields of an error reply after `error`, in order. */
export const ERROR_FIELDS = ['errno', 'syscall', 'path', 'message'] as const;
/** The fields of an exit event after `exit`, in order. */
export const EXIT_FIELDS = ['id', 'pid', 'code', 'signal', 'oom'] as const;

export const SPEC_KEYS = [
  'id',
  'rootfs',
  'lower',
  'idmapsource',
  'upper',
  'work',
  'ns',
  'netns',
  'hostname',
  'cwd',
  'env',
  'arg',
  'cgroup',
  'cgroup2',
  'write:',
  'rmdir',
  'uidmap',
  'gidmap',
  'caps',
  'seccomp',
  'mask',
  'readonly',
  'device',
  'loopback',
  'log',
  'logmax',
  'logkeep',
  'exitfile',
  'pidfile',
  'oomfile',
  'pid',
  'userns',
  'uid',
  'gid',
  'sgid',
  'volume',
  'volumeat',
  'volumero',
] as const;
/** `write:<file>` writes its value to <file> before the clone. */
export type SpecKey = Exclude<(typeof SPEC_KEYS)[number], 'write:'> | `write:${string}`;

/** What native code says failed: the errno, the syscall and the path it was given. */
export interface NativeFault {
  errno: number;
  /** the errno's name, e.g. ENOENT */
  code: string;
  syscall: string;
  path?: string;
  message: string;
}

const errnoNames = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** Reads the error fields (errno, syscall, path, message) of a reply or an exec failure. */
export function decodeFault(fields: readonly string[]): NativeFault {
  const [errno, syscall, path, message] = fields;
  const n = Number(errno);
  return {
    errno: n,
    code: errnoNames.get(n) ?? `errno ${errno}`,
    syscall: syscall ?? '',
    path: path || undefined,
    message: message ?? 'berth-monitor error',
  };
}
