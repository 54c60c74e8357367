/** What a compute's failure reply, or its silence, means to an API caller. */
import { MessagingTimeout, RemoteError } from '../../messaging/transport';
import { conflictingRequest, itemNotFound, serviceUnavailable, badRequest } from '../faults';

export async function callCompute<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof MessagingTimeout)
      throw serviceUnavailable('The compute host did not answer in time; try again later.');
    if (err instanceof RemoteError) {
      if (err.exceptionClass === 'InstanceNotFound') throw itemNotFound(err.message);
      if (err.exceptionClass === 'InstanceInvalidState') throw conflictingRequest(err.message);
      if (err.exceptionClass === 'InvalidInput' || err.exceptionClass === 'ValueError')
        throw badRequest(err.message);
    }
    throw err;
  }
}
