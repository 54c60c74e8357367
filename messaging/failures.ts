/**
 * Errors as oslo failures: each berth error class maps to one nova.exception
 * class, so a Python peer (nova-api, conductor) re-raises what it would get
 * from nova-compute; and failure strings from peers become RemoteErrors.
 */
import { BerthError, NotFoundError } from '../common/errors';
import { RemoteError } from './transport';

const NOVA_EXCEPTION_MODULE = 'nova.exception';
const REMOTE_SUFFIX = '_Remote';

/**
 * The Python exception a peer re-raises for an error: a nova.exception class
 * unless `module` names another. Errors carry it as `novaFault`.
 */
export interface NovaFault {
  class: string;
  kwargs?: Record<string, unknown>;
  module?: string;
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

export function withNovaFault<E extends Error>(
  err: E,
  fault: NovaFault,
): E & { novaFault: NovaFault } {
  return Object.assign(err, { novaFault: fault });
}

function attachedFault(err: Error): NovaFault | undefined {
  const fault = (err as { novaFault?: Partial<NovaFault> }).novaFault;
  return typeof fault?.class === 'string' ? (fault as NovaFault) : undefined;
}

// Codes as nova.exception sets them (NovaException puts self.code into kwargs).
function faultForKind(err: BerthError): NovaFault {
  switch (err.kind) {
    case 'NotFound': {
      const instanceId = (err as NotFoundError & { instanceId?: unknown }).instanceId;
      return typeof instanceId === 'string'
        ? { class: 'InstanceNotFound', kwargs: { instance_id: instanceId, code: 404 } }
        : { class: 'NotFound', kwargs: { code: 404 } };
    }
    case 'Conflict':
      return { class: 'InstanceInvalidState', kwargs: { code: 400 } };
    case 'InvalidArgument':
      return { class: 'InvalidInput', kwargs: { reason: err.message, code: 400 } };
    default:
      return { class: 'NovaException', kwargs: { code: 500 } };
  }
}

function faultOf(err: Error): NovaFault {
  const attached = attachedFault(err);
  if (attached) return attached;
  if (err instanceof RemoteError) {
    return { class: err.exceptionClass, module: err.module, kwargs: err.kwargs };
  }
  if (err instanceof BerthError) return faultForKind(err);
  return { class: 'NovaException', kwargs: { code: 500 } };
}

export function failureOf(thrown: unknown): Failure {
  const err = thrown instanceof Error ? thrown : new Error(String(thrown));
  const fault = faultOf(err);
  const tb = err instanceof RemoteError ? err.traceback : (err.stack ?? '').split('\n');
  return {
    class: fault.class,
    module: fault.module ?? NOVA_EXCEPTION_MODULE,
    message: err.message,
    tb: tb.map((line) => (line.endsWith('\n') ? line : `${line}\n`)),
    args: [err.message],
    kwargs: fault.kwargs ?? {},
  };
}

/** The `failure` field of a reply: a JSON string, not an object. */
export function encodeFailure(thrown: unknown): string {
  return JSON.stringify(failureOf(thrown));
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
