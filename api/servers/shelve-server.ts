/**
 * shelve, shelveOffload and unshelve (Nova's compute/api.py): a shelved
 * server keeps its ports, volumes, quota and uuid but no host. Shelve
 * snapshots it into `<name>-shelved` and the compute offloads it at once
 * (berth's shelved_offload_time is 0, Tempest's default); a volume-backed
 * server, whose root is its volume, is offloaded straight away. Unshelve
 * schedules it again (to its volumes' host), spawns it with the snapshot
 * as its writable layer and deletes the snapshot.
 */
import { SHELVE, SHELVE_OFFLOAD, UNSHELVE } from '../../nova/actions';
import { rpcContext, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { recordAction } from '../db/instance-actions';
import { getInstance, type Instance } from '../db/instances';
import { now } from '../http';
import { requireAdmin } from '../policy';
import { findServer } from '../routes/server-lookup';
import { checkNotLocked, claimTask, invalidState, releaseTask } from './instance-guards';
import { snapshotInto } from './snapshot-server';

const volumeBacked = (inst: Instance) => !inst.image_ref;

/** The snapshot unshelve starts from, noted on the instance (Nova's shelved_image_id). */
async function noteShelvedImage(deps: ApiDeps, current: Instance, imageId: string) {
  await deps
    .db('instances')
    .where({ uuid: current.uuid })
    .update({
      request_spec: JSON.stringify({ ...current.request_spec, shelved_image: imageId }),
    });
}

/** The task claimed, the action recorded and shelve_offload_instance cast; the task ends if the cast fails. */
async function offload(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  action: typeof SHELVE | typeof SHELVE_OFFLOAD,
): Promise<void> {
  await claimTask(deps.db, inst, action, action.task);
  try {
    await recordAction(deps.db, inst.uuid, action.name, ctx);
    await deps.compute.shelveOffloadInstance(
      (await getInstance(deps.db, inst.uuid))!,
      rpcContext(ctx),
    );
  } catch (err) {
    await releaseTask(deps.db, inst, action.task);
    throw err;
  }
}

export async function shelveServer(deps: ApiDeps, ctx: ApiContext, uuid: string): Promise<void> {
  const inst = await findServer(deps.db, ctx, uuid);
  if (volumeBacked(inst)) {
    checkNotLocked(inst, ctx);
    return offload(deps, ctx, inst, SHELVE);
  }
  await snapshotInto(
    deps,
    ctx,
    inst,
    { name: `${inst.display_name}-shelved`, metadata: {} },
    SHELVE,
    async (current, imageId) => {
      await noteShelvedImage(deps, current, imageId);
      await deps.compute.shelveInstance(current, imageId, rpcContext(ctx));
    },
  );
}

/** Nova's policy: offloading is an admin's (shelve offloads by itself). */
export async function shelveOffloadServer(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
): Promise<void> {
  const inst = await findServer(deps.db, ctx, uuid);
  requireAdmin(ctx, 'os_compute_api:os-shelve:shelve_offload');
  await offload(deps, ctx, inst, SHELVE_OFFLOAD);
}

export async function unshelveServer(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  availabilityZone: string | undefined,
): Promise<void> {
  const inst = await findServer(deps.db, ctx, uuid);
  checkNotLocked(inst, ctx);
  // Not claimTask: an offloaded server has no host, which is the point.
  const zone =
    availabilityZone === undefined
      ? {}
      : {
          request_spec: JSON.stringify({
            ...inst.request_spec,
            availability_zone: availabilityZone,
          }),
        };
  const claimed = await deps
    .db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .whereNull('task_state')
    .whereIn('vm_state', UNSHELVE.allowed as readonly string[])
    .update({ ...zone, task_state: UNSHELVE.task, updated_at: now() });
  if (claimed === 0) throw invalidState(inst, UNSHELVE.name);
  await recordAction(deps.db, inst.uuid, UNSHELVE.name, ctx);
  deps.builds.unshelveLater(inst.uuid, rpcContext(ctx));
}

/** Nova's delete of a shelved server: its snapshot goes with it. */
export async function deleteShelvedImage(deps: ApiDeps, inst: Instance): Promise<void> {
  const imageId = inst.request_spec.shelved_image;
  if (!imageId) return;
  await deps.images.delete(imageId).catch((err: Error) =>
    deps.log.warn('shelved image not deleted', {
      instance_uuid: inst.uuid,
      image_id: imageId,
      error: err.message,
    }),
  );
}
