/**
 * The closed set of error classes every layer maps into. Each maps to one
 * HTTP status / Nova fault and one RPC failure, so callers branch on the
 * class, never on message text.
 */
/** What native code reports as failed, so that callers can tell by errno. */
export interface SyscallFault {
  errno: number;
  /** the errno's name, e.g. ENOENT */
  code: string;
  syscall: string;
  path?: string;
}

export abstract class BerthError extends Error {
  abstract readonly kind: string;
  /** set when a syscall in native code is what failed */
  readonly fault?: SyscallFault;
  constructor(message: string, options?: { cause?: unknown; fault?: SyscallFault }) {
    super(message, options);
    this.name = new.target.name;
    if (options?.fault) this.fault = options.fault;
  }
}

export class NotFoundError extends BerthError {
  readonly kind = 'NotFound';
}

/** The request conflicts with the current state (Nova: InstanceInvalidState). */
export class ConflictError extends BerthError {
  readonly kind = 'Conflict';
}

export class InvalidArgumentError extends BerthError {
  readonly kind = 'InvalidArgument';
}

export class ResourceExhaustedError extends BerthError {
  readonly kind = 'ResourceExhausted';
}

export class UnavailableError extends BerthError {
  readonly kind = 'Unavailable';
}

export class InternalError extends BerthError {
  readonly kind = 'Internal';
}
