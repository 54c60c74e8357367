/**
 * Errors as oslo failures: each error becomes the Python exception a peer
 * re-raises, in the vocabulary of the service berth stands in for
 * (nova/faults.ts); failure strings from peers become RemoteErrors.
 */
import { RemoteError } from './transport';

const REMOTE_SUFFIX = '_Remote';

/** The Python exception a peer re-raises for an error. Errors may carry it as `remoteFault`. */
export interface RemoteFault {
  class: string;
  kwargs?: Record<string, unknown>;
  /** absent: the vocabulary's module */
  module?: string;
}

/** The exceptions a service's peers expect of it. */
export interface FaultVocabulary {
  /** the module of a fault that names none */
  module: string;
  /** the fault of an error that carries none */
  faultOf(err: Error): RemoteFault;
}

/** The failure JSON of an oslo reply (oslo_messaging._drivers.common.serialize_remote_exception). */
export interface Failure {
  class: string;
  module: string;
  message: string;
  tb: string[];
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export function withRemoteFault<E extends Error>(
  err: E,
  fault: RemoteFault,
): E & { remoteFault: RemoteFault } {
  return Object.assign(err, { remoteFault: fault });
}

function attachedFault(err: Error): RemoteFault | undefined {
  const fault = (err as { remoteFault?: Partial<RemoteFault> }).remoteFault;
  return typeof fault?.class === 'string' ? (fault as RemoteFault) : undefined;
}

function faultOf(err: Error, vocabulary: FaultVocabulary): RemoteFault {
  const attached = attachedFault(err);
  if (attached) return attached;
  if (err instanceof RemoteError) {
    return { class: err.exceptionClass, module: err.module, kwargs: err.kwargs };
  }
  return vocabulary.faultOf(err);
}

export function failureOf(thrown: unknown, vocabulary: FaultVocabulary): Failure {
  const err = thrown instanceof Error ? thrown : new Error(String(thrown));
  const fault = faultOf(err, vocabulary);
  const tb = err instanceof RemoteError ? err.traceback : (err.stack ?? '').split('\n');
  return {
    class: fault.class,
    module: fault.module ?? vocabulary.module,
    message: err.message,
    tb: tb.map((line) => (line.endsWith('\n') ? line : `${line}\n`)),
    args: [err.message],
    kwargs: fault.kwargs ?? {},
  };
}

/** The `failure` field of a reply: a JSON string, not an object. */
export function encodeFailure(thrown: unknown, vocabulary: FaultVocabulary): string {
  return JSON.stringify(failureOf(thrown, vocabulary));
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

export function decodeFailure(failure: string): RemoteError {
  let data: Partial<Record<keyof Failure, unknown>>;
  try {
    data = JSON.parse(failure) as typeof data;
  } catch {
    return new RemoteError('RemoteError', 'oslo_messaging.rpc.client', failure);
  }
  let className = typeof data.class === 'string' ? data.class : 'Exception';
  let module = typeof data.module === 'string' ? data.module : 'builtins';
  // oslo strips the suffix it adds when re-raising, so a relayed failure keeps its class.
  if (className.endsWith(REMOTE_SUFFIX) && module.endsWith(REMOTE_SUFFIX)) {
    className = className.slice(0, -REMOTE_SUFFIX.length);
    module = module.slice(0, -REMOTE_SUFFIX.length);
  }
  const kwargs =
    typeof data.kwargs === 'object' && data.kwargs !== null && !Array.isArray(data.kwargs)
      ? (data.kwargs as Record<string, unknown>)
      : {};
  const message = typeof data.message === 'string' ? data.message : '';
  return new RemoteError(className, module, message, kwargs, stringList(data.tb));
}
