/**
 * The block-storage service's operations, as Cinder's volume/api.py does
 * them: check state and quota, record the new status, answer, and let the
 * volume's host do the slow part in the background (a failure there leaves
 * the volume in an error status with the host's reason). The status is the
 * lock: each transition is a conditional update, so two requests cannot
 * both move a volume.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import { rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { computeServices, isUp } from '../db/services';
import {
  DELETE_STATES_MESSAGE,
  invalidInput,
  invalidSnapshot,
  invalidVolume,
  snapshotNotFound,
  typeNotFound,
  volumeNotFound,
} from './errors';
import { checkQuota } from './quotas';
import {
  attachmentsOf,
  deleteSnapshotRow,
  deleteVolumeRow,
  findSnapshot,
  findType,
  findVolume,
  insertSnapshot,
  insertVolume,
  transition,
  updateSnapshot,
  updateVolume,
  type Metadata,
  type SnapshotRow,
  type VolumeRow,
} from './store';
import { volumeFailureMessage, type VolumeRpcAPI } from './volume-rpc';
import { UnavailableError } from '../../common/errors';
import type { ImageRecord, ImageService } from '../../driver/image/image-service';
import { canSee } from '../image/image-policy';

export interface CreateVolumeRequest {
  size?: number;
  name?: string | null;
  description?: string | null;
  volume_type?: string | null;
  availability_zone?: string | null;
  metadata?: Metadata;
  snapshot_id?: string | null;
  multiattach?: boolean;
  /** Cinder's imageRef: the volume is made bootable, for that image */
  imageRef?: string | null;
  /** the same, for an image looked up already (a server's root volume) */
  imageMetadata?: Metadata;
}

/** The images a caller can see, as the compute API looks them up. */
export type ImagesFor = (ctx: ApiContext) => ImageService;

/** Cinder's volume_image_metadata of an image: its Glance fields, as strings. */
export function imageMetadataOf(image: ImageRecord): Metadata {
  const fields = {
    image_id: image.id,
    image_name: image.name,
    checksum: image.checksum,
    container_format: image.container_format,
    disk_format: image.disk_format,
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    size: image.size,
  };
  return Object.fromEntries(
    Object.entries(fields).flatMap(([k, v]) => (v === null ? [] : [[k, String(v)]])),
  );
}

/** Cinder's states a volume may be deleted from. */
const DELETABLE = ['available', 'error', 'error_restoring', 'error_extending', 'error_managing'];

/** `<is> True`, as Cinder's capabilities filter writes a boolean spec. */
const isTrue = (spec: string | undefined) => /^\s*(<is>\s*)?true\s*$/i.test(spec ?? '');

export class VolumeService {
  private readonly background = new Set<Promise<void>>();

  constructor(
    readonly db: Database,
    readonly rpc: VolumeRpcAPI,
    readonly config: BerthConfig,
    readonly log: Logger,
    private readonly images: ImagesFor,
  ) {}

  /** Waits for the host work started so far (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  private later(what: string, ctx: ApiContext, fn: () => Promise<void>): void {
    const p: Promise<void> = fn()
      .catch((err: Error) => {
        ctx.log.error(`volume ${what} failed unexpectedly`, { error: err.stack });
      })
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** A volume the caller may see; another project's is "not found". */
  async visibleVolume(ctx: ApiContext, id: string): Promise<VolumeRow> {
    const v = await findVolume(this.db, id);
    if (!v || (!ctx.isAdmin && v.project_id !== ctx.projectId)) throw volumeNotFound(id);
    return v;
  }

  async visibleSnapshot(ctx: ApiContext, id: string): Promise<SnapshotRow> {
    const s = await findSnapshot(this.db, id);
    if (!s || (!ctx.isAdmin && s.project_id !== ctx.projectId)) throw snapshotNotFound(id);
    return s;
  }

  async create(ctx: ApiContext, r: CreateVolumeRequest): Promise<VolumeRow> {
    const row = await this.insertNew(ctx, r);
    this.later('create', ctx, () => this.createOnHost(ctx, row));
    return row;
  }

  /**
   * A new volume on `host`, waited for: what a server build with a blank
   * volume needs before it is cast. Throws with Cinder's reason when the
   * host cannot make it; that volume, which never held data and belongs to
   * no one's request but the failed build's, is deleted again.
   */
  async createOn(ctx: ApiContext, host: string, r: CreateVolumeRequest): Promise<VolumeRow> {
    const row = await this.insertNew(ctx, r, host);
    await this.createOnHost(ctx, row);
    const made = (await findVolume(this.db, row.id))!;
    if (made.status !== 'available') {
      if (await transition(this.db, made.id, ['error'], { status: 'deleting' }))
        await this.deleteOnHost(ctx, made);
      throw new Error(`volume ${made.id} could not be made: ${made.status_reason ?? made.status}`);
    }
    return made;
  }

  /** Cinder's create from imageRef: an active image the caller can see, else a 400. */
  private async bootImage(ctx: ApiContext, imageRef: string): Promise<ImageRecord> {
    const image = await this.images(ctx)
      .show(imageRef)
      .catch((err: unknown) => {
        // An image service that cannot answer is not a missing image: 503, not 400.
        if (err instanceof UnavailableError) throw err;
        return undefined;
      });
    if (!image || !canSee(image, ctx))
      throw invalidInput('Invalid image identifier or unable to access requested image.');
    if (image.status !== 'active') throw invalidInput(`Image ${image.id} is not active.`);
    return image;
  }

  private async insertNew(ctx: ApiContext, r: CreateVolumeRequest, host?: string) {
    if (r.imageRef && r.snapshot_id)
      throw invalidInput('A volume is made from an image or from a snapshot, not both.');
    const image = r.imageRef
      ? imageMetadataOf(await this.bootImage(ctx, r.imageRef))
      : r.imageMetadata;
    const snapshot = r.snapshot_id ? await this.visibleSnapshot(ctx, r.snapshot_id) : undefined;
    if (snapshot && snapshot.status !== 'available')
      throw invalidSnapshot(`Originating snapshot status must be one of 'available' values`);
    const size = r.size ?? snapshot?.size;
    if (size === undefined) throw invalidInput('Size is required when no snapshot is given.');
    if (!Number.isInteger(size) || size < 1)
      throw invalidInput(`Volume size '${size}' must be an integer and greater than 0`);
    const minDisk = Number(image?.min_disk ?? 0);
    if (size < minDisk)
      throw invalidInput(
        `Volume size ${size}GB cannot be smaller than the image minDisk size ${minDisk}GB.`,
      );
    if (snapshot && size < snapshot.size)
      throw invalidInput(
        `Volume size '${size}'GB cannot be smaller than the snapshot size ${snapshot.size}GB. They must be >= original snapshot size.`,
      );
    const type = await findType(this.db, r.volume_type ?? 'default');
    if (!type) throw typeNotFound(r.volume_type ?? 'default');
    const zone = this.config.DEFAULT.default_availability_zone;
    if (r.availability_zone && r.availability_zone !== zone)
      throw invalidInput(`Availability zone '${r.availability_zone}' is invalid.`);
    const source = snapshot && (await findVolume(this.db, snapshot.volume_id));
    const id = randomUUID();
    await this.db.transaction(async (trx) => {
      await checkQuota(trx, ctx.projectId, { volumes: 1, gigabytes: size, size });
      await insertVolume(trx, {
        id,
        project_id: ctx.projectId,
        user_id: ctx.userId,
        name: r.name ?? null,
        description: r.description ?? null,
        size,
        status: 'creating',
        status_reason: null,
        host: source?.host ?? host ?? null,
        availability_zone: zone,
        volume_type_id: type.id,
        // A copy of a bootable volume boots the same image, as Cinder copies its image metadata.
        bootable: !!image || !!source?.bootable,
        readonly: false,
        // The request's flag is Cinder's deprecated way until 2023.1 (Zed's Tempest uses it);
        // a type's extra spec multiattach=<is> True the current one.
        multiattach: r.multiattach === true || isTrue(type.extra_specs.multiattach),
        snapshot_id: snapshot?.id ?? null,
        metadata: r.metadata ?? {},
        image_metadata: image ?? source?.image_metadata ?? null,
      });
    });
    return (await findVolume(this.db, id))!;
  }

  private async createOnHost(ctx: ApiContext, v: VolumeRow): Promise<void> {
    const log = ctx.log.child({ volume_id: v.id });
    try {
      const host = v.host ?? (await this.chooseHost(ctx, v.size));
      await updateVolume(this.db, v.id, { host });
      await this.rpc.createVolume(
        host,
        { id: v.id, size: v.size, name: v.name ?? '' },
        v.snapshot_id,
        rpcContext(ctx),
      );
      await transition(this.db, v.id, ['creating'], { status: 'available' });
      log.info('volume created', { host });
    } catch (err) {
      const reason = volumeFailureMessage(err);
      await transition(this.db, v.id, ['creating'], { status: 'error', status_reason: reason });
      log.warn('volume create failed', { error: reason });
    }
  }

  /** The up, enabled compute host with the most free capacity that fits `size` GiB. */
  async chooseHost(ctx: ApiContext, size: number): Promise<string> {
    const down = this.config.DEFAULT.service_down_time;
    const hosts = (await computeServices(this.db)).filter((s) => isUp(s, down) && !s.disabled);
    let best: { host: string; free: number } | undefined;
    const reasons: string[] = [];
    for (const s of hosts) {
      try {
        const c = await this.rpc.getCapacity(s.host, rpcContext(ctx));
        if (c.free_gb >= size && (!best || c.free_gb > best.free))
          best = { host: s.host, free: c.free_gb };
        else reasons.push(`${s.host} has ${c.free_gb} GiB free`);
      } catch (err) {
        reasons.push(`${s.host}: ${volumeFailureMessage(err)}`);
      }
    }
    if (!best)
      throw new Error(
        `No valid backend was found. No compute host can hold ${size} GiB${reasons.length ? ` (${reasons.join('; ')})` : ' (no compute host is up)'}.`,
      );
    return best.host;
  }

  async remove(ctx: ApiContext, v: VolumeRow): Promise<void> {
    if ((await attachmentsOf(this.db, [v.id])).length) throw invalidVolume(DELETE_STATES_MESSAGE);
    const snapshots = await this.db('volume_snapshots').where({ volume_id: v.id }).first();
    if (snapshots) throw invalidVolume(DELETE_STATES_MESSAGE);
    if (!(await transition(this.db, v.id, DELETABLE, { status: 'deleting', status_reason: null })))
      throw invalidVolume(DELETE_STATES_MESSAGE);
    this.later('delete', ctx, () => this.deleteOnHost(ctx, v));
  }

  private async deleteOnHost(ctx: ApiContext, v: VolumeRow): Promise<void> {
    try {
      if (v.host) await this.rpc.deleteVolume(v.host, v.id, rpcContext(ctx));
      await deleteVolumeRow(this.db, v.id);
      ctx.log.info('volume deleted', { volume_id: v.id });
    } catch (err) {
      const reason = volumeFailureMessage(err);
      await updateVolume(this.db, v.id, { status: 'error_deleting', status_reason: reason });
      ctx.log.warn('volume delete failed', { volume_id: v.id, error: reason });
    }
  }

  async extend(ctx: ApiContext, v: VolumeRow, newSize: number): Promise<void> {
    if (newSize <= v.size)
      throw invalidInput(
        `New size for extend must be greater than current size. (current: ${v.size}, extended: ${newSize}).`,
      );
    // Before 3.42 only a detached volume grows; the host grows a mounted one online.
    const from = ctx.version.ge('3.42') ? ['available', 'in-use'] : ['available'];
    if (!from.includes(v.status))
      throw invalidVolume(`Volume status must be ${from.join(' or ')} to extend.`);
    await checkQuota(this.db, v.project_id, { gigabytes: newSize - v.size, size: newSize });
    if (!(await transition(this.db, v.id, [v.status], { status: 'extending' })))
      throw invalidVolume(`Volume status must be ${from.join(' or ')} to extend.`);
    this.later('extend', ctx, async () => {
      try {
        await this.rpc.extendVolume(v.host!, v.id, newSize, rpcContext(ctx));
        await transition(this.db, v.id, ['extending'], { status: v.status, size: newSize });
      } catch (err) {
        const reason = volumeFailureMessage(err);
        await transition(this.db, v.id, ['extending'], {
          status: 'error_extending',
          status_reason: reason,
        });
        ctx.log.warn('volume extend failed', { volume_id: v.id, error: reason });
      }
    });
  }

  async createSnapshot(
    ctx: ApiContext,
    v: VolumeRow,
    r: { name?: string | null; description?: string | null; metadata?: Metadata; force: boolean },
  ): Promise<SnapshotRow> {
    const allowed = r.force ? ['available', 'in-use'] : ['available'];
    if (!allowed.includes(v.status))
      throw invalidVolume(
        v.status === 'in-use'
          ? 'Volume is in-use: use force to snapshot an attached volume.'
          : `Volume ${v.id} status must be available, but current status is: ${v.status}.`,
      );
    // A volume no host ever made (a failed create) holds no data to snapshot.
    const host = v.host;
    if (!host) throw invalidVolume(`Volume ${v.id} is on no volume host.`);
    const id = randomUUID();
    await this.db.transaction(async (trx) => {
      await checkQuota(trx, v.project_id, { snapshots: 1, gigabytes: v.size });
      await insertSnapshot(trx, {
        id,
        project_id: v.project_id,
        user_id: ctx.userId,
        volume_id: v.id,
        name: r.name ?? null,
        description: r.description ?? null,
        size: v.size,
        status: 'creating',
        metadata: r.metadata ?? {},
      });
    });
    this.later('snapshot create', ctx, async () => {
      try {
        await this.rpc.createSnapshot(host, v.id, id, rpcContext(ctx));
        await updateSnapshot(this.db, id, { status: 'available' });
      } catch (err) {
        await updateSnapshot(this.db, id, { status: 'error' });
        ctx.log.warn('snapshot create failed', {
          volume_id: v.id,
          snapshot_id: id,
          error: volumeFailureMessage(err),
        });
      }
    });
    return (await findSnapshot(this.db, id))!;
  }

  async removeSnapshot(ctx: ApiContext, s: SnapshotRow): Promise<void> {
    if (!['available', 'error', 'error_deleting'].includes(s.status))
      throw invalidSnapshot('Volume Snapshot status must be available or error.');
    await updateSnapshot(this.db, s.id, { status: 'deleting' });
    this.later('snapshot delete', ctx, async () => {
      const v = await findVolume(this.db, s.volume_id);
      try {
        if (v?.host) await this.rpc.deleteSnapshot(v.host, s.volume_id, s.id, rpcContext(ctx));
        await deleteSnapshotRow(this.db, s.id);
      } catch (err) {
        await updateSnapshot(this.db, s.id, { status: 'error_deleting' });
        ctx.log.warn('snapshot delete failed', {
          snapshot_id: s.id,
          error: volumeFailureMessage(err),
        });
      }
    });
  }
}
