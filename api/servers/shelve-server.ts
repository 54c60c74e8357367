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
import type { TaskState } from '../../nova/states';
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
async function noteShelvedImage(deps: ApiDeps, inst: Instance, imageId: string | undefined) {
  const current = (await getInstance(deps.db, inst.uuid))!;
  await deps
    .db('instances')
    .where({ uuid: inst.uuid })
    .update({
      request_spec: JSON.stringify({ ...current.request_spec, shelved_image: imageId }),
    });
}

export async function shelveServer(deps: ApiDeps, ctx: ApiContext, uuid: string): Promise<void> {
  const inst = await findServer(deps.db, ctx, uuid);
  if (volumeBacked(inst)) {
    checkNotLocked(inst, ctx);
    await claimTask(deps.db, inst, SHELVE, SHELVE.task);
    await castOrRelease(deps, inst, SHELVE.task, async () => {
      await recordAction(deps.db, inst.uuid, SHELVE.name, ctx);
      await deps.compute.shelveOffloadInstance(
        (await getInstance(deps.db, inst.uuid))!,
        rpcContext(ctx),
      );
    });
    return;
  }
  await snapshotInto(
    deps,
    ctx,
    inst,
    { name: `${inst.display_name}-shelved`, metadata: {} },
    SHELVE,
    async (current, imageId) => {
      await noteShelvedImage(deps, inst, imageId);
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
  await claimTask(deps.db, inst, SHELVE_OFFLOAD, SHELVE_OFFLOAD.task);
  await castOrRelease(deps, inst, SHELVE_OFFLOAD.task, async () => {
    await recordAction(deps.db, inst.uuid, SHELVE_OFFLOAD.name, ctx);
    await deps.compute.shelveOffloadInstance(
      (await getInstance(deps.db, inst.uuid))!,
      rpcContext(ctx),
    );
  });
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

async function castOrRelease(
  deps: ApiDeps,
  inst: Instance,
  task: Exclude<TaskState, null>,
  cast: () => Promise<void>,
): Promise<void> {
  try {
    await cast();
  } catch (err) {
    await releaseTask(deps.db, inst, task);
    throw err;
  }
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
