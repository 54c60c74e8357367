/**
 * The one table between berth's error classes and nova.exception: what a
 * Python peer (nova-api, conductor) re-raises for a berth error, as it would
 * for nova-compute's; and which berth error a peer's failure stands for.
 */
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '../common/errors';
import type { FaultVocabulary, RemoteFault } from '../messaging/failures';
import type { RemoteError } from '../messaging/transport';

// Codes as nova.exception sets them (NovaException puts self.code into kwargs).
function faultForKind(err: BerthError): RemoteFault {
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

export const NOVA_FAULTS: FaultVocabulary = {
  module: 'nova.exception',
  faultOf: (err) =>
    err instanceof BerthError
      ? faultForKind(err)
      : { class: 'NovaException', kwargs: { code: 500 } },
};

const ERROR_OF_EXCEPTION: Record<string, new (message: string) => BerthError> = {
  InstanceNotFound: NotFoundError,
  InstanceInvalidState: ConflictError,
  InvalidInput: InvalidArgumentError,
  AttachInterfaceNotSupported: InvalidArgumentError,
  // What a Python peer raises for an argument it cannot use.
  ValueError: InvalidArgumentError,
  // The cinder.exception classes a compute's volume operations raise.
  VolumeNotFound: NotFoundError,
  InvalidVolume: InvalidArgumentError,
  VolumeIsBusy: InvalidArgumentError,
};

/** The berth error a peer's failure stands for, when it is one a caller can act on. */
export function berthErrorOf(remote: RemoteError): BerthError | undefined {
  const ErrorClass = Object.hasOwn(ERROR_OF_EXCEPTION, remote.exceptionClass)
    ? ERROR_OF_EXCEPTION[remote.exceptionClass]
    : undefined;
  return ErrorClass && new ErrorClass(remote.message);
}
