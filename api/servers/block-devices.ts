/**
 * block_device_mapping_v2 at server create, for what a container can take
 * (Nova's BlockDeviceDict checks and compute/api.py _validate_bdm): the
 * image as the root disk (source image, destination local, boot index 0),
 * a volume as the root (boot from volume: an existing bootable volume, or
 * a new one made from an image), existing volumes (source volume) and new
 * blank ones (source blank with a volume_size), each mounted into the
 * instance as an attached volume is. A root volume holds the instance's
 * writable layer over its image's layers (see the compute's spawn), so
 * what the instance writes outlives it. Volumes made from snapshots at
 * create, and local ephemeral or swap disks, are refused with the reason.
 * Existing volumes are reserved with the instance (their attachment rows
 * are Nova's block device mappings); new ones are made on the host the
 * scheduler picks, just before the build is cast to it. */
import { randomUUID } from 'node:crypto';
import Joi from 'joi';
import type { RpcContext } from '../compute-rpc';
import { systemContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import type { BlankVolumeSpec, Instance } from '../db/instances';
import { now } from '../http';
import { badRequest } from '../faults';
import { integerLike, novaBoolean, novaTag } from '../validate';
import type { Microversion } from '../microversion';
import {
  attachmentsOfInstance,
  findVolume,
  insertAttachment,
  transition,
  type AttachmentRow,
  type VolumeRow,
} from '../volume/store';
import type { VolumeService } from '../volume/volume-service';
import { bdmOf, mountPointOf, nextDeviceName, ROOT_DEVICE, ROOT_MOUNT } from './volume-attachments';

export function blockDeviceSchema(v: Microversion): Joi.Schema {
  const nullableString = Joi.string().max(255).allow(null);
  const keys: Record<string, Joi.Schema> = {
    source_type: Joi.string().valid('volume', 'image', 'snapshot', 'blank').required(),
    destination_type: Joi.string().valid('local', 'volume'),
    uuid: Joi.string()
      .min(1)
      .max(255)
      .pattern(/^[a-zA-Z0-9._-]*$/, 'an id'),
    boot_index: Joi.alternatives(
      Joi.number().integer(),
      Joi.string().pattern(/^-?[0-9]+$/, 'an integer'),
    ).allow(null),
    device_name: Joi.string().min(1).max(255).pattern(/^\S+$/, 'no spaces').allow(null),
    volume_size: integerLike(0).allow(null),
    delete_on_termination: novaBoolean,
    guest_format: nullableString,
    device_type: nullableString,
    disk_bus: nullableString,
    no_device: Joi.any(),
  };
  if (v.ge('2.42')) keys.tag = novaTag;
  if (v.ge('2.67')) keys.volume_type = nullableString;
  return Joi.array().items(Joi.object(keys));
}

export interface BlockDeviceRequest {
  uuid?: string;
  source_type: 'volume' | 'image' | 'snapshot' | 'blank';
  destination_type?: 'local' | 'volume';
  boot_index?: number | string | null;
  device_name?: string | null;
  volume_size?: number | null;
  delete_on_termination?: boolean;
  tag?: string;
  volume_type?: string | null;
}

/**
 * A volume the instance gets: an existing one by id, or a new one of
 * `size` GiB, blank or (the root) made from image `imageId`.
 */
export interface VolumeRequest {
  volumeId?: string;
  size?: number;
  imageId?: string;
  /** boot index 0: the instance's root file system */
  root?: boolean;
  volumeType?: string;
  device?: string;
  tag?: string;
  deleteOnTermination: boolean;
}

export interface BlockDevices {
  /** the image of a boot index 0 local mapping */
  imageId?: string;
  volumes: VolumeRequest[];
}

const invalid = (why: string) => badRequest(`Block Device Mapping is Invalid: ${why}`);

/** Nova names devices by their /dev path; `vdb` is `/dev/vdb`. */
const devicePath = (name: string) => (name.startsWith('/dev/') ? name : `/dev/${name}`);

/** The image and volumes a create's block_device_mapping_v2 asks for, or a 400 saying why not. */
export function parseBlockDevices(list: BlockDeviceRequest[] | undefined): BlockDevices {
  const out: BlockDevices = { volumes: [] };
  for (const bdm of list ?? []) {
    const boot = bdm.boot_index === undefined || bdm.boot_index === null ? -1 : +bdm.boot_index;
    const destination = bdm.destination_type ?? (bdm.source_type === 'volume' ? 'volume' : 'local');
    if (boot > 0)
      throw invalid(
        `Boot sequence for the instance and image/block device mapping combination is not valid.`,
      );
    if (bdm.source_type === 'image' && destination === 'local') {
      if (boot !== 0) throw invalid('an image can only be the root disk, at boot_index 0.');
      if (!bdm.uuid) throw invalid('the image mapping has no uuid.');
      if (out.imageId !== undefined || out.volumes.some((r) => r.root))
        throw invalid(
          'Boot sequence for the instance and image/block device mapping combination is not valid.',
        );
      out.imageId = bdm.uuid;
      continue;
    }
    if (destination === 'local')
      throw invalid(
        'berth instances have no local ephemeral or swap disks: ask for a blank volume (destination_type volume) instead.',
      );
    const common = {
      device: bdm.device_name ? devicePath(bdm.device_name) : undefined,
      tag: bdm.tag,
      deleteOnTermination: bdm.delete_on_termination ?? false,
    };
    if (boot === 0) {
      if (out.imageId !== undefined || out.volumes.some((r) => r.root))
        throw invalid(
          'Boot sequence for the instance and image/block device mapping combination is not valid.',
        );
      out.volumes.push(rootRequest(bdm, { ...common, device: ROOT_DEVICE }));
      continue;
    }
    if (bdm.source_type === 'volume') {
      if (!bdm.uuid) throw invalid('a volume mapping needs the volume uuid.');
      out.volumes.push({ ...common, volumeId: bdm.uuid });
    } else if (bdm.source_type === 'blank') {
      if (!bdm.volume_size) throw invalid('a blank volume needs a volume_size of at least 1 GiB.');
      out.volumes.push({
        ...common,
        size: bdm.volume_size,
        volumeType: bdm.volume_type ?? undefined,
      });
    } else
      throw invalid(
        `volumes made from ${bdm.source_type === 'image' ? 'an image' : 'a snapshot'} at server create are not supported: create the volume first (openstack volume create --${bdm.source_type} …) and map it as source_type volume.`,
      );
  }
  const devices = out.volumes.flatMap((r) => (r.device ? [r.device] : []));
  if (new Set(devices).size !== devices.length)
    throw invalid('two mappings name the same device_name.');
  return out;
}

/** The root volume boot index 0 asks for: an existing volume, or a new one from an image. */
function rootRequest(bdm: BlockDeviceRequest, common: Omit<VolumeRequest, 'root'>): VolumeRequest {
  if (bdm.source_type !== 'image' && bdm.source_type !== 'volume')
    throw invalid(
      `a root volume is an existing volume or one made from an image, not from ${bdm.source_type === 'blank' ? 'nothing' : 'a snapshot'}: make it first (openstack volume create --${bdm.source_type === 'blank' ? 'image' : 'snapshot'} …) and map it as source_type volume.`,
    );
  if (!bdm.uuid) throw invalid(`the root ${bdm.source_type} mapping has no uuid.`);
  if (bdm.source_type === 'volume') return { ...common, root: true, volumeId: bdm.uuid };
  if (!bdm.volume_size)
    throw invalid("Images with destination_type 'volume' need to have a non-zero size specified");
  return {
    ...common,
    root: true,
    imageId: bdm.uuid,
    size: bdm.volume_size,
    volumeType: bdm.volume_type ?? undefined,
  };
}

/** The root volume request of a create, if it boots from a volume. */
export const rootVolumeOf = (b: BlockDevices) => b.volumes.find((r) => r.root);

/**
 * Checks the existing volumes a create names, before anything is made: the
 * caller's, available, and on one host (a volume lives on its compute host,
 * so the instance must be built there).
 */
export async function checkRequestedVolumes(
  volumes: VolumeService,
  ctx: ApiContext,
  requests: VolumeRequest[],
  count: { min: number; max: number },
): Promise<VolumeRow[]> {
  const rows: VolumeRow[] = [];
  for (const r of requests) {
    if (r.volumeId === undefined) continue;
    const v = await volumes
      .visibleVolume(ctx, r.volumeId)
      .catch(() => Promise.reject(invalid(`failed to get volume ${r.volumeId}.`)));
    if (v.status !== 'available')
      throw badRequest(
        `Invalid volume: volume '${v.id}' status must be 'available'. Currently in '${v.status}'`,
      );
    if (count.max > 1 && (!v.multiattach || r.root))
      throw badRequest('Cannot attach one or more volumes to multiple instances');
    if (r.root && !v.image_metadata?.image_id)
      throw invalid(
        v.bootable
          ? `volume ${v.id} was not made from an image: berth boots a volume made with --image.`
          : `Block Device ${v.id} is not bootable.`,
      );
    if (!r.root) mountPointOf(v);
    rows.push(v);
  }
  if (new Set(rows.map((v) => v.host)).size > 1)
    throw invalid(
      'the volumes are on different compute hosts; one instance can only use one host.',
    );
  return rows;
}

/**
 * Reserves the existing volumes for one new instance (inside its create
 * transaction): each goes available → reserved with an attachment row that
 * has no host yet, so a delete before the build releases it as any other.
 */
export async function reserveVolumes(
  trx: Database,
  uuid: string,
  requests: VolumeRequest[],
  rows: VolumeRow[],
): Promise<void> {
  const used: string[] = [];
  for (const r of requests) {
    if (r.volumeId === undefined) {
      // A blank volume's device is taken now, so that the ones named later do not collide.
      if (r.device) used.push(r.device);
      continue;
    }
    const v = rows.find((row) => row.id === r.volumeId)!;
    const from = v.multiattach ? ['available', 'in-use', 'reserved'] : ['available'];
    const to = v.multiattach && v.status !== 'available' ? v.status : 'reserved';
    if (!(await transition(trx, v.id, from, { status: to })))
      throw badRequest(`Invalid volume: volume '${v.id}' status must be 'available'.`);
    await insertReservation(trx, uuid, v, r, used);
  }
}

/**
 * The attachment row that holds volume `v` for the instance until its
 * build (no host yet): Nova's block device mapping, on the next free
 * device (`taken` grows), or the root's.
 */
async function insertReservation(
  q: Database,
  uuid: string,
  v: VolumeRow,
  r: Pick<VolumeRequest, 'root' | 'device' | 'tag' | 'deleteOnTermination'>,
  taken: string[],
): Promise<void> {
  const device = r.root ? ROOT_DEVICE : nextDeviceName(taken, r.device);
  taken.push(device);
  await insertAttachment(q, {
    id: randomUUID(),
    volume_id: v.id,
    instance_uuid: uuid,
    attached_host: null,
    device,
    mount_point: r.root ? ROOT_MOUNT : mountPointOf(v),
    tag: r.tag ?? null,
    delete_on_termination: r.deleteOnTermination,
    attached_at: null,
  });
}

/**
 * On the chosen host, just before the build: the blank volumes are made
 * there, every volume is attached (in-use, with the host), and the block
 * device mappings the compute's spawn mounts are returned. A volume that
 * cannot be made fails the build with Cinder's reason.
 */
export async function attachBuildVolumes(
  volumes: VolumeService,
  inst: Instance,
  host: string,
  context: RpcContext,
): Promise<Record<string, unknown>[]> {
  const { db } = volumes;
  // The volumes are the instance owner's, made on the system's behalf as Nova's compute does.
  const requestId = String(context.request_id);
  const ctx: ApiContext = {
    ...systemContext(volumes.log),
    projectId: inst.project_id,
    userId: inst.user_id,
    requestId,
    log: volumes.log.child({ request_id: requestId, instance_uuid: inst.uuid }),
  };
  const blanks = inst.request_spec.blank_volumes ?? [];
  if (blanks.length) {
    const taken = (await attachmentsOfInstance(db, inst.uuid)).map((a) => a.device);
    for (const [n, r] of blanks.entries()) {
      const v = await volumes.createOn(ctx, host, {
        size: r.size,
        name: `${inst.uuid}-${r.root ? 'root' : 'blank'}-vol`,
        volume_type: r.volumeType,
        imageMetadata: r.imageMetadata,
      });
      await insertReservation(db, inst.uuid, v, r, taken);
      await transition(db, v.id, ['available'], { status: 'reserved' });
      // Made once: a build resumed after a restart does not make it again.
      inst.request_spec.blank_volumes = blanks.slice(n + 1);
      await db('instances')
        .where({ uuid: inst.uuid })
        .update({ request_spec: JSON.stringify(inst.request_spec) });
    }
  }
  const bdms: Record<string, unknown>[] = [];
  for (const a of await attachmentsOfInstance(db, inst.uuid)) {
    const v = (await findVolume(db, a.volume_id))!;
    const attached: AttachmentRow = { ...a, attached_host: host, attached_at: now() };
    await db('volume_attachments')
      .where({ id: a.id })
      .update({ attached_host: host, attached_at: attached.attached_at });
    await transition(db, v.id, ['reserved'], { status: 'in-use' });
    bdms.push(bdmOf(attached, v));
  }
  return bdms;
}

/**
 * The new volumes of a create, as the instance's request spec keeps them
 * until the build; a root one carries its image's metadata, looked up now
 * with the caller's rights.
 */
export const newVolumes = (
  requests: VolumeRequest[],
  rootImage: Record<string, string> | undefined,
): BlankVolumeSpec[] =>
  requests.flatMap(({ volumeId, size, imageId, ...rest }) =>
    volumeId === undefined && size
      ? [{ ...rest, size, ...(imageId ? { imageMetadata: rootImage } : {}) }]
      : [],
  );
