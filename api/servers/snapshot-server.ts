/**
 * createImage (Nova's compute API snapshot): the server's task is claimed,
 * the image record is made first (queued, with Nova's snapshot properties
 * and what the base image passes on), then snapshot_instance is cast to
 * the server's host, which fills the record with data.
 */
import { NotFoundError } from '../../common/errors';
import type { ImageRecord, NewImage } from '../../driver/image/image-service';
import { CONFIG_PROPERTY } from '../../driver/image/glance-wire';
import {
  DIGEST_PROPERTY,
  LAYERS_PROPERTY,
  REF_PROPERTY,
} from '../../driver/image/registry/registry-record';
import { SNAPSHOT, type GuardedAction } from '../../nova/actions';
import type { TaskState } from '../../nova/states';
import { type ApiContext, rpcContext } from '../context';
import type { ApiDeps } from '../deps';
import { recordAction } from '../db/instance-actions';
import { bootImageOf, getInstance, type Instance } from '../db/instances';
import { findServer } from '../routes/server-lookup';
import { checkNotLocked, claimTask, releaseTask } from './instance-guards';

export interface SnapshotRequest {
  name: string;
  metadata: Record<string, string>;
}

/**
 * Base image properties a snapshot does not inherit: Nova's
 * non_inheritable_image_properties and signature keys, what the snapshot
 * sets for itself, and berth's description of where the base's own data
 * comes from (a snapshot is its layers, not the base's registry reference).
 */
const NOT_INHERITED = [
  'cache_in_nova',
  'bittorrent',
  'image_type',
  'instance_uuid',
  'base_image_ref',
  'user_id',
  'owner_id',
  'owner_user_name',
  'owner_project_name',
  REF_PROPERTY,
  DIGEST_PROPERTY,
  LAYERS_PROPERTY,
  CONFIG_PROPERTY,
];
const inherited = (key: string) => !NOT_INHERITED.includes(key) && !key.startsWith('img_signature');

/** The record Nova's _initialize_instance_snapshot_metadata makes, in berth's terms. */
export function snapshotImage(
  inst: Instance,
  base: ImageRecord | undefined,
  req: SnapshotRequest,
  userId: string,
): NewImage {
  const baseProperties = Object.entries(base?.properties ?? {}).filter(([k]) => inherited(k));
  return {
    name: req.name,
    visibility: 'private',
    owner: inst.project_id,
    container_format: base?.container_format ?? 'bare',
    disk_format: base?.disk_format ?? 'raw',
    min_disk: Math.max(base?.min_disk ?? 0, inst.flavor.root_gb),
    min_ram: base?.min_ram ?? 0,
    // The snapshot boots the workload its base ran.
    config: base?.config,
    properties: {
      ...Object.fromEntries(baseProperties),
      image_type: 'snapshot',
      instance_uuid: inst.uuid,
      user_id: userId,
      ...(bootImageOf(inst) ? { base_image_ref: bootImageOf(inst) } : {}),
      ...req.metadata,
    },
  };
}

export async function snapshotServer(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  req: SnapshotRequest,
  /** a createBackup: the compute rotates this type's older backups once it is uploaded */
  backup?: { type: string; rotation: number },
): Promise<ImageRecord> {
  const inst = await findServer(deps.db, ctx, uuid);
  return snapshotInto(deps, ctx, inst, req, SNAPSHOT, (current, imageId) =>
    backup
      ? deps.compute.backupInstance(current, imageId, backup, rpcContext(ctx))
      : deps.compute.snapshotInstance(current, imageId, rpcContext(ctx)),
  );
}

/**
 * The task claimed, the image record made (queued), the action recorded,
 * then `cast` tells the host to fill it: createImage's steps, and shelve's.
 * Nothing is left behind when a step fails: the task ends, the record goes.
 */
export async function snapshotInto(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  req: SnapshotRequest,
  action: GuardedAction & { name: string; task: Exclude<TaskState, null> },
  cast: (current: Instance, imageId: string) => Promise<void>,
): Promise<ImageRecord> {
  const { db } = deps;
  checkNotLocked(inst, ctx);
  // The base image may be gone since the boot; the snapshot is still the instance's. A
  // volume-backed instance's snapshot is its root layer over its volume's image: an image
  // that boots anywhere, not Nova's volume snapshot behind an empty image.
  const base = bootImageOf(inst)
    ? await deps.images.show(bootImageOf(inst)).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      })
    : undefined;
  await claimTask(db, inst, action, action.task);
  let image: ImageRecord;
  try {
    image = await deps.images.create(snapshotImage(inst, base, req, ctx.userId));
  } catch (err) {
    await releaseTask(db, inst, action.task);
    throw err;
  }
  try {
    await recordAction(db, inst.uuid, action.name, ctx);
    await cast((await getInstance(db, inst.uuid))!, image.id);
  } catch (err) {
    await releaseTask(db, inst, action.task);
    await deps.images.delete(image.id).catch(() => undefined);
    throw err;
  }
  return image;
}
