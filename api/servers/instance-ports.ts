/**
 * The compute API's side of an instance's ports: who the network service
 * is asked for (the caller, and the instance whose ports they are), and
 * their release once the instance is gone.
 */
import type { ApiContext } from '../context';
import type { Instance } from '../db/instances';
import type { InstanceNetworkApi, InstanceOwner, NetworkCaller } from '../network/instance-network';

export const networkCaller = (ctx: ApiContext): NetworkCaller => ({
  projectId: ctx.projectId,
  userId: ctx.userId,
  isAdmin: ctx.isAdmin,
  requestId: ctx.requestId,
});

export const instanceOwner = (i: Instance): InstanceOwner => ({
  uuid: i.uuid,
  projectId: i.project_id,
  userId: i.user_id,
  hostname: i.hostname,
  availabilityZone: i.availability_zone,
});

/**
 * An instance's ports, released once it is gone. A failure is logged, not
 * raised: the instance is deleted either way, and what the network service
 * kept is its to reclaim (the port's device_id names a deleted instance).
 */
export async function releasePorts(
  network: InstanceNetworkApi,
  uuid: string,
  log: { error(message: string, meta: Record<string, unknown>): unknown },
): Promise<void> {
  try {
    await network.deallocateForInstance(uuid);
  } catch (err) {
    log.error('ports of a deleted instance not released', {
      instance_uuid: uuid,
      error: (err as Error).message,
    });
  }
}
