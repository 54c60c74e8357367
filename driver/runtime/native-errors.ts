/**
 * Maps what native code reports (errno, syscall, path) to berth's error
 * classes by errno, never by message text (the helper picks exit codes the
 * same way: native/helper/fault.c).
 */
import {
  type BerthError,
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../common/errors';
import type { NativeFault } from './monitor-protocol';

const EXHAUSTED = new Set(['ENOMEM', 'ENOSPC', 'EAGAIN', 'EMFILE', 'ENFILE', 'EDQUOT', 'EUSERS']);
const NOT_EXECUTABLE = new Set(['EACCES', 'ENOEXEC', 'EISDIR', 'EPERM', 'ELIBBAD', 'ETXTBSY']);

function isCommandMissing(f: NativeFault): boolean {
  return f.syscall === 'execve' && (f.code === 'ENOENT' || f.code === 'ENOTDIR');
}

/** The class a failure belongs to, with the whole fault in its message and `fault`. */
export function nativeError(context: string, f: NativeFault): BerthError {
  const opts = { fault: { errno: f.errno, code: f.code, syscall: f.syscall, path: f.path } };
  const why = `${f.message} (${f.code})`;
  if (isCommandMissing(f))
    return new InvalidArgumentError(`${context}: command not found: ${why}`, opts);
  if (f.syscall === 'execve' && NOT_EXECUTABLE.has(f.code))
    return new InvalidArgumentError(`${context}: command cannot be executed: ${why}`, opts);
  const message = `${context}: ${why}`;
  if (f.code === 'EEXIST') return new ConflictError(message, opts);
  if (f.code === 'ENOENT' || f.code === 'ESRCH') return new NotFoundError(message, opts);
  if (f.code === 'EINVAL') return new InvalidArgumentError(message, opts);
  if (EXHAUSTED.has(f.code)) return new ResourceExhaustedError(message, opts);
  if (f.code === 'ESHUTDOWN') return new UnavailableError(message, opts);
  return new InternalError(message, opts);
}
