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
import { SNAPSHOT } from '../../nova/actions';
import { TaskState } from '../../nova/states';
import { type ApiContext, rpcContext } from '../context';
import type { ApiDeps } from '../deps';
import { recordAction } from '../db/instance-actions';
import { bootImageOf, getInstance, type Instance } from '../db/instances';
import { conflictingRequest } from '../faults';
import { now } from '../http';
import { findServer } from '../routes/server-lookup';

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
): Promise<ImageRecord> {
  const { db } = deps;
  const inst = await findServer(db, ctx, uuid);
  if (Boolean(inst.locked) && !ctx.isAdmin)
    throw conflictingRequest(`Instance ${inst.uuid} is locked`);
  const refuse = () =>
    conflictingRequest(
      `Cannot '${SNAPSHOT.name}' instance ${inst.uuid} while it is in ${inst.task_state ? `task_state ${inst.task_state}` : `vm_state ${inst.vm_state}`}`,
    );
  if (!inst.host) throw refuse();
  // The base image may be gone since the boot; the snapshot is still the instance's. A
  // volume-backed instance's snapshot is its root layer over its volume's image: an image
  // that boots anywhere, not Nova's volume snapshot behind an empty image.
  const base = bootImageOf(inst)
    ? await deps.images.show(bootImageOf(inst)).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      })
    : undefined;
  const claimed = await db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .whereNull('task_state')
    .whereIn('vm_state', SNAPSHOT.allowed as readonly string[])
    .update({ task_state: SNAPSHOT.task, updated_at: now() });
  if (claimed === 0) throw refuse();
  const release = () =>
    db('instances')
      .where({ uuid: inst.uuid, task_state: TaskState.IMAGE_SNAPSHOT })
      .update({ task_state: null });
  let image: ImageRecord;
  try {
    image = await deps.images.create(snapshotImage(inst, base, req, ctx.userId));
  } catch (err) {
    await release();
    throw err;
  }
  try {
    await recordAction(db, inst.uuid, SNAPSHOT.name, ctx);
    const current = (await getInstance(db, inst.uuid))!;
    await deps.compute.snapshotInstance(current, image.id, rpcContext(ctx));
  } catch (err) {
    await release();
    await deps.images.delete(image.id).catch(() => undefined);
    throw err;
  }
  return image;
}

/** Deletes the oldest backups of `backup`'s server and type beyond the `keep` newest (it among them). */
export async function rotateBackups(
  deps: ApiDeps,
  backup: ImageRecord,
  keep: number,
): Promise<void> {
  const { instance_uuid, backup_type } = backup.properties;
  const older = (await deps.images.list())
    .filter(
      (i) =>
        i.id !== backup.id &&
        i.properties.instance_uuid === instance_uuid &&
        i.properties.image_type === 'backup' &&
        i.properties.backup_type === backup_type,
    )
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  for (const old of older.slice(keep - 1))
    await deps.images.delete(old.id).catch((err: unknown) => {
      // A backup gone meanwhile is rotated already.
      if (!(err instanceof NotFoundError)) throw err;
    });
}
