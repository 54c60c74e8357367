/**
 * The cinder.exception classes the compute's volume operations raise, so
 * that the API (or an oslo peer) tells them apart by class name, never by
 * message text. Each is one of berth's error classes as well.
 */
import type { RemoteFault } from '../../messaging/failures';
import {
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from '../../common/errors';

/** Where Cinder's peers find these classes: not the compute's own nova.exception. */
const cinderFault = (exceptionClass: string, kwargs: Record<string, unknown>): RemoteFault => ({
  class: exceptionClass,
  module: 'cinder.exception',
  kwargs,
});

export class VolumeNotFound extends NotFoundError {
  readonly remoteFault: RemoteFault;
  constructor(volumeId: string) {
    super(`Volume ${volumeId} could not be found.`);
    this.remoteFault = cinderFault('VolumeNotFound', { volume_id: volumeId, code: 404 });
  }
}

export class SnapshotNotFound extends NotFoundError {
  readonly remoteFault: RemoteFault;
  constructor(snapshotId: string) {
    super(`Snapshot ${snapshotId} could not be found.`);
    this.remoteFault = cinderFault('SnapshotNotFound', { snapshot_id: snapshotId, code: 404 });
  }
}

export class VolumeIsBusy extends ConflictError {
  readonly remoteFault: RemoteFault;
  constructor(volumeId: string, holders: string[]) {
    super(`Volume ${volumeId} is still attached to instance(s) ${holders.join(', ')}.`);
    this.remoteFault = cinderFault('VolumeIsBusy', { volume_name: volumeId, code: 400 });
  }
}

export class InvalidVolume extends InvalidArgumentError {
  readonly remoteFault: RemoteFault;
  constructor(reason: string) {
    super(`Invalid volume: ${reason}`);
    this.remoteFault = cinderFault('InvalidVolume', { reason, code: 400 });
  }
}

/** What the backend (the kernel, mkfs) failed at; the cause is kept. */
export class VolumeBackendAPIException extends InternalError {
  readonly remoteFault: RemoteFault;
  constructor(data: string, cause?: unknown) {
    super(`Bad or unexpected response from the storage volume backend API: ${data}`, { cause });
    this.remoteFault = cinderFault('VolumeBackendAPIException', { data, code: 500 });
  }
}
