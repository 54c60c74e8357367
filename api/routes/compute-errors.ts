/** What a compute's failure reply, or its silence, means to an API caller. */
import { MessagingTimeout, RemoteError } from '../../messaging/transport';
import { berthErrorOf } from '../../nova/faults';
import { serviceUnavailable, toApiFault } from '../faults';

export async function callCompute<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof MessagingTimeout)
      throw serviceUnavailable('The compute host did not answer in time; try again later.');
    const local = err instanceof RemoteError ? berthErrorOf(err) : undefined;
    throw local ? toApiFault(local) : err;
  }
}
