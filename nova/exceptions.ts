/**
 * The nova.exception classes berth raises where Nova would, so that an oslo
 * peer re-raises the same class it would get from nova-compute or the
 * conductor.
 */
import type { RemoteFault } from '../messaging/failures';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../common/errors';

export class InstanceNotFound extends NotFoundError {
  readonly remoteFault: RemoteFault;
  constructor(uuid: string) {
    super(`Instance ${uuid} could not be found.`);
    this.remoteFault = { class: 'InstanceNotFound', kwargs: { instance_id: uuid, code: 404 } };
  }
}

export class InstanceInvalidState extends ConflictError {
  readonly remoteFault: RemoteFault;
  constructor(uuid: string, state: string, method: string) {
    super(
      `Instance ${uuid} in vm_state ${state}. Cannot ${method} while the instance is in this state.`,
    );
    this.remoteFault = {
      class: 'InstanceInvalidState',
      // nova.exception.Invalid's code; nova-api turns it into a 409 itself.
      kwargs: { attr: 'vm_state', instance_uuid: uuid, state, method, code: 400 },
    };
  }
}

/** A save whose expected_task_state no longer holds (the conductor refuses it). */
export class UnexpectedTaskState extends ConflictError {
  readonly remoteFault: RemoteFault;
  constructor(uuid: string, expected: unknown, actual: string | null) {
    const cls =
      actual === 'deleting' ? 'UnexpectedDeletingTaskStateError' : 'UnexpectedTaskStateError';
    super(
      `Conflict updating instance ${uuid}. Expected: {'task_state': ${JSON.stringify(expected)}}. Actual: {'task_state': ${JSON.stringify(actual)}}`,
    );
    this.remoteFault = {
      class: cls,
      kwargs: {
        instance_uuid: uuid,
        expected: { task_state: expected },
        actual: { task_state: actual },
      },
    };
  }
}

/** A driver that cannot hot-plug ports (capabilities.supports_attach_interface false). */
export class AttachInterfaceNotSupported extends InvalidArgumentError {
  readonly remoteFault: RemoteFault;
  constructor(uuid: string) {
    super(`Attaching interfaces is not supported for instance ${uuid}.`);
    this.remoteFault = {
      class: 'AttachInterfaceNotSupported',
      kwargs: { instance_uuid: uuid, code: 400 },
    };
  }
}
