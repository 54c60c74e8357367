/**
 * rebuild (Nova's compute API rebuild): the new image is checked as a boot
 * image is, the task and the new image_ref (and name, metadata) are one
 * conditional update, then rebuild_instance is cast to the server's host.
 */
import { REBUILD } from '../../nova/actions';
import { type ApiContext, rpcContext } from '../context';
import type { ApiDeps } from '../deps';
import { recordAction } from '../db/instance-actions';
import { bootImageOf, getInstance, type Instance } from '../db/instances';
import { badRequest, conflictingRequest } from '../faults';
import { now } from '../http';
import { canSee } from '../image/image-policy';
import { findServer } from '../routes/server-lookup';

export interface RebuildServerRequest {
  imageRef: string;
  name?: string;
  metadata?: Record<string, string>;
  description?: string | null;
  adminPass?: string;
  preserveEphemeral: boolean;
  diskConfig?: 'AUTO' | 'MANUAL';
}

export async function rebuildServer(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  req: RebuildServerRequest,
): Promise<Instance> {
  const { db } = deps;
  const inst = await findServer(db, ctx, uuid);
  if (Boolean(inst.locked) && !ctx.isAdmin)
    throw conflictingRequest(`Instance ${inst.uuid} is locked`);
  // Nova takes an image URL's last segment as the id.
  const ref = req.imageRef.split('/').pop()!;
  const image = await deps.images.show(ref).catch(() => undefined);
  if (!image || !canSee(image, ctx)) throw badRequest(`Image ${ref} could not be found.`);
  if (image.status !== 'active') throw badRequest(`Image ${image.id} is not active.`);
  // As Nova before 2.93: a volume-backed server is rebuilt in place, on the image its volume holds.
  if (!inst.image_ref && image.id !== bootImageOf(inst))
    throw badRequest('Unable to rebuild with a different image for a volume-backed server.');
  const refuse = () =>
    conflictingRequest(
      `Cannot '${REBUILD.name}' instance ${inst.uuid} while it is in ${inst.task_state ? `task_state ${inst.task_state}` : `vm_state ${inst.vm_state}`}`,
    );
  if (!inst.host) throw refuse();
  const changes: Record<string, unknown> = {
    task_state: REBUILD.task,
    image_ref: inst.image_ref && image.id,
    updated_at: now(),
  };
  if (req.name !== undefined) changes.display_name = req.name;
  if (req.metadata !== undefined) changes.metadata = JSON.stringify(req.metadata);
  if (req.description !== undefined) changes.display_description = req.description;
  if (req.diskConfig !== undefined) changes.auto_disk_config = req.diskConfig === 'AUTO';
  const claimed = await db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .whereNull('task_state')
    .whereIn('vm_state', REBUILD.allowed as readonly string[])
    .update(changes);
  if (claimed === 0) throw refuse();
  const current = (await getInstance(db, inst.uuid))!;
  try {
    await recordAction(db, inst.uuid, REBUILD.name, ctx);
    await deps.compute.rebuildInstance(
      current,
      {
        imageRef: image.id,
        origImageRef: inst.image_ref,
        newPass: req.adminPass ?? null,
        preserveEphemeral: req.preserveEphemeral,
      },
      rpcContext(ctx),
    );
  } catch (err) {
    await db('instances')
      .where({ uuid: inst.uuid, task_state: REBUILD.task })
      .update({
        task_state: null,
        image_ref: inst.image_ref,
        display_name: inst.display_name,
        metadata: JSON.stringify(inst.metadata),
        display_description: inst.display_description,
        auto_disk_config: inst.auto_disk_config,
      });
    throw err;
  }
  return current;
}
