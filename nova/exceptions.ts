/**
 * The nova.exception classes the compute manager raises, so that an oslo
 * peer (nova-api) re-raises the same class it would get from nova-compute.
 */
import type { NovaFault } from '../messaging/failures';
import { ConflictError, NotFoundError } from '../common/errors';

export class InstanceNotFound extends NotFoundError {
  readonly novaFault: NovaFault;
  constructor(uuid: string) {
    super(`Instance ${uuid} could not be found.`);
    this.novaFault = { class: 'InstanceNotFound', kwargs: { instance_id: uuid, code: 404 } };
  }
}

export class InstanceInvalidState extends ConflictError {
  readonly novaFault: NovaFault;
  constructor(uuid: string, state: string, method: string) {
    super(
      `Instance ${uuid} in vm_state ${state}. Cannot ${method} while the instance is in this state.`,
    );
    this.novaFault = {
      class: 'InstanceInvalidState',
      // nova.exception.Invalid's code; nova-api turns it into a 409 itself.
      kwargs: { attr: 'vm_state', instance_uuid: uuid, state, method, code: 400 },
    };
  }
}
