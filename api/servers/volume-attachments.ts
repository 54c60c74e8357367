/**
 * os-volume_attachments attach, detach and swap (Nova's compute/api.py
 * attach_volume, detach_volume, swap_volume) against the embedded Cinder:
 * the volume's status is the lock (available → attaching → in-use, in-use
 * → detaching → available), the attachment row is Nova's block device
 * mapping and Cinder's attachment at once, and the compute mounts what the
 * mapping's connection_info names. A compute that fails puts both back.
 */
import { randomUUID } from 'node:crypto';
import { checkMountPoint } from '../../driver/volume/mount-point';
import { ATTACH_VOLUME, DETACH_VOLUME } from '../../nova/actions';
import { VmState } from '../../nova/states';
import { RemoteError } from '../../messaging/transport';
import { rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import type { Instance } from '../db/instances';
import { finishAction, recordAction } from '../db/instance-actions';
import type { ApiDeps } from '../deps';
import { ApiFault, badRequest, computeFault, conflictingRequest, itemNotFound } from '../faults';
import { now } from '../http';
import { callCompute } from '../routes/compute-errors';
import { invalidVolume } from '../volume/errors';
import {
  attachmentsOf,
  attachmentsOfInstance,
  deleteAttachment,
  insertAttachment,
  transition,
  updateVolume,
  type AttachmentRow,
  type VolumeRow,
} from '../volume/store';
import { checkGuarded } from './instance-guards';

export interface AttachRequest {
  volumeId: string;
  device?: string | null;
  tag?: string;
  delete_on_termination?: boolean;
}

/** Instances boot from their image's (or root volume's) /dev/vda; volumes take the next free letters, as Nova names them. */
export const ROOT_DEVICE = '/dev/vda';
/** Where a root volume is: the instance's own root. */
export const ROOT_MOUNT = '/';
const DEVICE_PREFIX = '/dev/vd';

function letterIndex(suffix: string): number {
  return [...suffix].reduce((n, c) => n * 26 + (c.charCodeAt(0) - 96), 0) - 1;
}

function letters(index: number): string {
  let s = '';
  for (let i = index + 1; i > 0; i = Math.floor((i - 1) / 26))
    s = String.fromCharCode(97 + ((i - 1) % 26)) + s;
  return s;
}

/**
 * Nova's compute_utils.get_next_device_name: the requested device if it is
 * free, else the first /dev/vdX after the root device no mapping uses.
 */
export function nextDeviceName(used: string[], requested?: string | null): string {
  const taken = new Set([ROOT_DEVICE, ...used]);
  if (requested) {
    if (taken.has(requested))
      throw conflictingRequest(`The supplied device path (${requested}) is in use.`);
    return requested;
  }
  const indices = new Set(
    [...taken]
      .filter((d) => d.startsWith(DEVICE_PREFIX))
      .map((d) => letterIndex(d.slice(DEVICE_PREFIX.length))),
  );
  let i = 0;
  while (indices.has(i)) i++;
  return DEVICE_PREFIX + letters(i);
}

/**
 * Where the compute mounts a volume: the user's `mount_point` metadata,
 * else /mnt/<name or id>; checked by the compute's own rule so a bad one
 * is the caller's 400 before anything changes.
 */
export function mountPointOf(v: Pick<VolumeRow, 'id' | 'name' | 'metadata'>): string {
  return checkMountPoint(v.metadata.mount_point ?? `/mnt/${v.name || v.id}`);
}

/** The attachment of a volume-backed instance's root volume: mounted at the instance's root. */
export const isRootAttachment = (a: Pick<AttachmentRow, 'mount_point'>) =>
  a.mount_point === ROOT_MOUNT;

/** The block device mapping the compute's attach_volume and build_and_run_instance read. */
export function bdmOf(a: AttachmentRow, v: VolumeRow) {
  return {
    volume_id: v.id,
    attachment_id: a.id,
    device_name: a.device,
    source_type: 'volume',
    destination_type: 'volume',
    // The root volume (boot from volume) is boot index 0, as Nova's root BDM.
    boot_index: isRootAttachment(a) ? 0 : null,
    delete_on_termination: a.delete_on_termination,
    tag: a.tag,
    connection_info: JSON.stringify({
      driver_volume_type: 'berth',
      data: {
        volume_id: v.id,
        mount_point: a.mount_point,
        read_only: v.readonly,
        multiattach: v.multiattach,
      },
    }),
  };
}

/** A compute's failure as the caller's fault: its own words, whatever the cause. */
async function computeCall(call: () => Promise<void>, what: string): Promise<void> {
  try {
    await callCompute(call);
  } catch (err) {
    if (err instanceof ApiFault) throw err;
    throw computeFault(`${what}: ${err instanceof RemoteError ? err.message : String(err)}`);
  }
}

export async function findAttachment(
  deps: ApiDeps,
  inst: Instance,
  volumeId: string,
): Promise<AttachmentRow | undefined> {
  return (await attachmentsOfInstance(deps.db, inst.uuid)).find((a) => a.volume_id === volumeId);
}

/** The one host the instance's volumes are on, if it has any: the scheduler must pick it. */
export async function volumeHost(db: Database, uuid: string): Promise<string | undefined> {
  const row = await db('volume_attachments')
    .join('volumes', 'volumes.id', 'volume_attachments.volume_id')
    .where({ 'volume_attachments.instance_uuid': uuid })
    .whereNotNull('volumes.host')
    .first('volumes.host');
  return row?.host ?? undefined;
}

/** The status a volume returns to once `attachmentId` is gone: in-use while others remain. */
async function statusWithout(db: Database, volumeId: string, attachmentId: string) {
  const rest = (await attachmentsOf(db, [volumeId])).filter((a) => a.id !== attachmentId);
  return rest.length ? 'in-use' : 'available';
}

export async function attachVolume(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  r: AttachRequest,
): Promise<AttachmentRow> {
  const { db } = deps;
  checkGuarded(inst, ATTACH_VOLUME, ctx);
  const v = await deps.volumes.visibleVolume(ctx, r.volumeId);
  const mine = await attachmentsOfInstance(db, inst.uuid);
  if (mine.some((a) => a.volume_id === v.id))
    throw invalidVolume(`volume ${v.id} already attached`);
  if (v.multiattach && !ctx.version.ge('2.60'))
    throw badRequest(
      'Multiattach volumes are only supported starting with compute API version 2.60.',
    );
  const from = v.multiattach ? ['available', 'in-use'] : ['available'];
  const statusMessage = `volume '${v.id}' status must be 'available'. Currently in '${v.status}'`;
  if (!from.includes(v.status)) throw invalidVolume(statusMessage);
  const offloaded = inst.vm_state === VmState.SHELVED_OFFLOADED;
  // Unshelve goes to the host the server's volumes are on: they must all be on one.
  const onHost = offloaded ? await volumeHost(db, inst.uuid) : undefined;
  if (onHost && v.host && v.host !== onHost)
    throw invalidVolume(
      `volume ${v.id} is on host ${v.host}, the shelved server's other volumes on ${onHost}`,
    );
  const mountPoint = mountPointOf(v);
  const device = nextDeviceName(
    mine.map((a) => a.device),
    r.device,
  );
  if (!(await transition(db, v.id, from, { status: 'attaching' })))
    throw invalidVolume(statusMessage);
  const a: AttachmentRow = {
    id: randomUUID(),
    volume_id: v.id,
    instance_uuid: inst.uuid,
    attached_host: inst.host,
    device,
    mount_point: mountPoint,
    tag: r.tag ?? null,
    delete_on_termination: r.delete_on_termination ?? false,
    attached_at: null,
  };
  await insertAttachment(db, a);
  await recordAction(db, inst.uuid, ATTACH_VOLUME.method, ctx);
  try {
    if (!offloaded)
      await computeCall(
        () => deps.compute.attachVolume(inst, bdmOf(a, v), rpcContext(ctx)),
        `Failed to attach volume ${v.id} to ${inst.uuid}`,
      );
  } catch (err) {
    await deleteAttachment(db, a.id);
    await transition(db, v.id, ['attaching'], { status: await statusWithout(db, v.id, a.id) });
    await finishAction(db, inst.uuid, { host: inst.host, error: (err as Error).message });
    throw err;
  }
  a.attached_at = now();
  await db('volume_attachments').where({ id: a.id }).update({ attached_at: a.attached_at });
  await transition(db, v.id, ['attaching'], { status: 'in-use' });
  await finishAction(db, inst.uuid, { host: inst.host });
  return a;
}

export const notAttached = (volumeId: string, serverId: string) =>
  itemNotFound(`Volume ${volumeId} is not attached to the instance ${serverId}`);

export async function detachVolume(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  volumeId: string,
): Promise<void> {
  const { db } = deps;
  const v = await deps.volumes.visibleVolume(ctx, volumeId);
  const a = await findAttachment(deps, inst, v.id);
  if (!a) throw notAttached(v.id, inst.uuid);
  if (isRootAttachment(a)) throw badRequest("Can't detach root device volume");
  checkGuarded(inst, DETACH_VOLUME, ctx);
  if (!(await transition(db, v.id, ['in-use'], { status: 'detaching' })))
    throw invalidVolume(`Volume ${v.id} must be in-use to detach, but is ${v.status}.`);
  await recordAction(db, inst.uuid, DETACH_VOLUME.method, ctx);
  try {
    if (inst.vm_state !== VmState.SHELVED_OFFLOADED)
      await computeCall(
        () => deps.compute.detachVolume(inst, v.id, a.id, rpcContext(ctx)),
        `Failed to detach volume ${v.id} from ${inst.uuid}`,
      );
  } catch (err) {
    await transition(db, v.id, ['detaching'], { status: 'in-use' });
    await finishAction(db, inst.uuid, { host: inst.host, error: (err as Error).message });
    throw err;
  }
  await releaseAttachment(db, a);
  await finishAction(db, inst.uuid, { host: inst.host });
}

/** Removes an attachment whose mount is gone and gives the volume back its detached status. */
export async function releaseAttachment(db: Database, a: AttachmentRow): Promise<void> {
  const status = await statusWithout(db, a.volume_id, a.id);
  await deleteAttachment(db, a.id);
  await updateVolume(db, a.volume_id, { status });
}

/**
 * PUT: with the attached volume's own id (2.85) a change of
 * delete_on_termination; with another volume, Nova's swap. berth's driver
 * cannot swap, so as in Nova, whose swap is a cast the compute's driver
 * then refuses, the request is accepted and the instance action records
 * the failure; both volumes stay as they were.
 */
export async function updateAttachment(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  a: AttachmentRow,
  r: { volumeId: string; delete_on_termination?: boolean },
): Promise<void> {
  if (r.volumeId === a.volume_id && ctx.version.ge('2.85')) {
    if (r.delete_on_termination !== undefined)
      await deps
        .db('volume_attachments')
        .where({ id: a.id })
        .update({ delete_on_termination: r.delete_on_termination });
    return;
  }
  // Nova's swap looks the new volume up as a request's input: one it cannot find is a 400.
  const target = await deps.volumes.visibleVolume(ctx, r.volumeId).catch((err: unknown) => {
    throw err instanceof ApiFault && err.status === 404 ? badRequest(err.message) : err;
  });
  if (target.status !== 'available')
    throw invalidVolume(`Volume ${target.id} status must be available, but is ${target.status}.`);
  checkGuarded(inst, { method: 'swap_volume', allowed: ATTACH_VOLUME.allowed }, ctx);
  await recordAction(deps.db, inst.uuid, 'swap_volume', ctx);
  await finishAction(deps.db, inst.uuid, {
    host: inst.host,
    error:
      "NotImplementedError: Swap only supports host devices; berth's driver mounts file systems",
  });
}
