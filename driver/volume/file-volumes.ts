/**
 * The VolumeService on this host's disk: a volume is a sparse file with
 * its own ext4 file system (the file enforces the size exactly and
 * survives instances), attached to a loop device by the addon and mounted
 * once at `<root>/<id>/mnt`, privately. Instances get bind copies of that
 * mount. Snapshots are reflinked (or sparsely copied) files of a frozen
 * file system in `<snapshots>/<id>/`. meta.json, written last and
 * atomically, marks a volume or snapshot as complete.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'winston';
import { writeFileAtomic } from '../../common/atomic-file';
import { KeyedLocks } from '../../common/keyed-locks';
import { UndoStack } from '../../common/undo-stack';
import { isSyscallError, type NativeAddon } from '../../native';
import type { DiskTemplates } from '../runtime/disk-templates';
import { mountSource } from './mountinfo';
import {
  type Capacity,
  checkId,
  checkSize,
  VolumeClaims,
  type VolumeInfo,
  type VolumeService,
  type VolumeSpec,
} from './volume-service';
import {
  InvalidVolume,
  SnapshotNotFound,
  VolumeBackendAPIException,
  VolumeIsBusy,
  VolumeNotFound,
} from './volume-errors';

const GiB = 2 ** 30;
/** errnos of a FICLONE the file system cannot do: copy instead */
const NO_REFLINK = new Set(['EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS']);

export interface FileVolumesOptions {
  /** `<state_path>/volumes` */
  root: string;
  /** `<state_path>/volume-snapshots` */
  snapshots: string;
  /** formatted images by size, shared with the instances' root disks */
  templates: DiskTemplates;
  addon: NativeAddon;
  log: Logger;
}

interface SnapshotMeta {
  id: string;
  volumeId: string;
  sizeGb: number;
}

export class FileVolumes implements VolumeService {
  private readonly locks = new KeyedLocks();
  private readonly claims = new VolumeClaims();
  private readonly addon: NativeAddon;
  private readonly templates: DiskTemplates;
  private readonly log: Logger;

  constructor(private readonly o: FileVolumesOptions) {
    this.addon = o.addon;
    this.templates = o.templates;
    this.log = o.log;
  }

  async restore(): Promise<VolumeInfo[]> {
    await fs.promises.mkdir(this.o.root, { recursive: true, mode: 0o700 });
    await fs.promises.mkdir(this.o.snapshots, { recursive: true, mode: 0o700 });
    const restored: VolumeInfo[] = [];
    for (const id of await fs.promises.readdir(this.o.root)) {
      const meta = this.readMeta(id);
      if (!meta) {
        // A create interrupted by a restart: nothing of it was acknowledged.
        this.log.warn('removing a half-made volume', { volume_id: id });
        await this.removeVolumeDir(id);
        continue;
      }
      this.ensureMounted(id);
      restored.push(meta);
    }
    for (const id of await fs.promises.readdir(this.o.snapshots))
      if (!this.readSnapshotMeta(id))
        await fs.promises.rm(this.snapshotDir(id), { recursive: true, force: true });
    this.log.info('volumes restored', { volumes: restored.length });
    return restored;
  }

  async create(spec: VolumeSpec, snapshotId?: string | null): Promise<void> {
    const id = checkId(spec.id);
    const sizeGb = checkSize(spec.sizeGb);
    if (snapshotId !== undefined && snapshotId !== null) checkId(snapshotId, 'snapshot id');
    return this.locks.run(id, async () => {
      const existing = this.readMeta(id);
      if (existing) {
        if (existing.sizeGb !== sizeGb)
          throw new InvalidVolume(`volume ${id} exists with size ${existing.sizeGb} GiB`);
        return;
      }
      const snapshot = snapshotId ? this.snapshotMeta(snapshotId) : undefined;
      if (snapshot && snapshot.sizeGb > sizeGb)
        throw new InvalidVolume(
          `size ${sizeGb} GiB is smaller than snapshot ${snapshot.id}'s ${snapshot.sizeGb} GiB`,
        );
      const undo = new UndoStack(this.log);
      try {
        await this.removeVolumeDir(id);
        await fs.promises.mkdir(this.mnt(id), { recursive: true, mode: 0o700 });
        undo.push('remove the volume directory', () => this.removeVolumeDir(id));
        if (snapshot) this.copyFile(this.snapshotDisk(snapshot.id), this.disk(id));
        else await this.makeFilesystem(this.disk(id), sizeGb);
        this.ensureMounted(id);
        if (snapshot && sizeGb > snapshot.sizeGb) await this.grow(id, snapshot.sizeGb, sizeGb);
        const meta: VolumeInfo = { id, sizeGb, name: spec.name ?? null, snapshotId: snapshot?.id };
        await this.writeMeta(meta);
      } catch (err) {
        await undo.rollback();
        throw backendError(`create volume ${id}`, err);
      }
      this.log.info('volume created', { volume_id: id, size_gb: sizeGb, snapshot_id: snapshotId });
    });
  }

  async delete(volumeId: string): Promise<void> {
    const id = checkId(volumeId);
    return this.locks.run(id, async () => {
      const holders = this.claims.holders(id);
      if (holders.length) throw new VolumeIsBusy(id, holders);
      if (!fs.existsSync(this.dir(id))) return;
      await this.removeVolumeDir(id);
      this.log.info('volume deleted', { volume_id: id });
    });
  }

  async extend(volumeId: string, newSizeGb: number): Promise<void> {
    const id = checkId(volumeId);
    const sizeGb = checkSize(newSizeGb);
    return this.locks.run(id, async () => {
      const meta = this.volumeMeta(id);
      // A redelivered extend finds the size it asked for.
      if (meta.sizeGb === sizeGb) return;
      if (sizeGb < meta.sizeGb)
        throw new InvalidVolume(`new size ${sizeGb} GiB is below the current ${meta.sizeGb} GiB`);
      try {
        await this.grow(id, meta.sizeGb, sizeGb);
      } catch (err) {
        throw backendError(`extend volume ${id}`, err);
      }
      await this.writeMeta({ ...meta, sizeGb });
      this.log.info('volume extended', { volume_id: id, size_gb: sizeGb });
    });
  }

  async createSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    const id = checkId(volumeId);
    const sid = checkId(snapshotId, 'snapshot id');
    return this.locks.run(id, async () => {
      const meta = this.volumeMeta(id);
      if (this.readSnapshotMeta(sid)) return;
      const dir = this.snapshotDir(sid);
      await fs.promises.rm(dir, { recursive: true, force: true });
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        this.frozen(id, () => this.copyFile(this.disk(id), this.snapshotDisk(sid)));
        await writeMetaFile(dir, { id: sid, volumeId: id, sizeGb: meta.sizeGb });
      } catch (err) {
        await fs.promises.rm(dir, { recursive: true, force: true });
        throw backendError(`snapshot volume ${id}`, err);
      }
      this.log.info('volume snapshot created', { volume_id: id, snapshot_id: sid });
    });
  }

  async deleteSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    checkId(volumeId);
    const sid = checkId(snapshotId, 'snapshot id');
    await fs.promises.rm(this.snapshotDir(sid), { recursive: true, force: true });
    this.log.info('volume snapshot deleted', { volume_id: volumeId, snapshot_id: sid });
  }

  async capacity(): Promise<Capacity> {
    await fs.promises.mkdir(this.o.root, { recursive: true, mode: 0o700 });
    const st = await fs.promises.statfs(this.o.root);
    return {
      total_gb: Math.floor((st.blocks * st.bsize) / GiB),
      free_gb: Math.floor((st.bavail * st.bsize) / GiB),
    };
  }

  async show(volumeId: string): Promise<VolumeInfo> {
    return this.volumeMeta(checkId(volumeId));
  }

  async list(): Promise<VolumeInfo[]> {
    if (!fs.existsSync(this.o.root)) return [];
    const ids = await fs.promises.readdir(this.o.root);
    return ids.map((id) => this.readMeta(id)).filter((m): m is VolumeInfo => m !== undefined);
  }

  mountPath(volumeId: string): string {
    const id = checkId(volumeId);
    this.volumeMeta(id);
    return this.mnt(id);
  }

  claim(volumeId: string, holder: string): void {
    this.claims.claim(volumeId, holder);
  }

  release(volumeId: string, holder: string): void {
    this.claims.release(volumeId, holder);
  }

  holders(volumeId: string): string[] {
    return this.claims.holders(volumeId);
  }

  // ---- the kernel side ----

  /** A sparse copy of the formatted template of its size: no mkfs once a size has one. */
  private async makeFilesystem(file: string, sizeGb: number): Promise<void> {
    this.addon.sparseCopy(await this.templates.get(sizeGb * GiB), file);
  }

  /** Mounted once on the host; a second caller finds it mounted. */
  private ensureMounted(id: string): void {
    const mnt = this.mnt(id);
    if (mountSource(mnt)) return;
    fs.mkdirSync(mnt, { recursive: true, mode: 0o700 });
    const device = this.addon.loopMount({ file: this.disk(id), target: mnt, fstype: 'ext4' });
    this.log.info('volume mounted', { volume_id: id, device });
  }

  /**
   * File, loop device, then file system: each learns the size from the one
   * below. The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE; where
   * the compute lacks it (a container host that drops it), a volume no
   * instance holds is grown unmounted, and a held one is left as it was.
   */
  private async grow(id: string, oldSizeGb: number, sizeGb: number): Promise<void> {
    const mnt = this.mnt(id);
    const device = mountSource(mnt);
    if (!device) throw new VolumeBackendAPIException(`volume ${id} is not mounted`);
    this.resizeDevice(id, device, sizeGb);
    try {
      this.addon.ext4Resize(mnt, (sizeGb * GiB) / fs.statfsSync(mnt).bsize);
      return;
    } catch (err) {
      if (!(isSyscallError(err) && err.code === 'EPERM')) throw err;
      if (this.claims.holders(id).length) {
        // The file system never used the new space: the file may shrink back.
        this.resizeDevice(id, device, oldSizeGb);
        throw new VolumeBackendAPIException(
          `volume ${id} is attached and this host cannot grow a mounted file system ` +
            '(the compute lacks CAP_SYS_RESOURCE): detach it, then extend it',
          err,
        );
      }
    }
    await this.removeMount(id);
    await run('e2fsck', ['-f', '-p', this.disk(id)], [0, 1]);
    await run('resize2fs', [this.disk(id)]);
    this.ensureMounted(id);
  }

  private resizeDevice(id: string, device: string, sizeGb: number): void {
    fs.truncateSync(this.disk(id), sizeGb * GiB);
    this.addon.loopSetCapacity(device);
  }

  /** Writes in flight reach the disk and new ones wait while `copy` runs. */
  private frozen(id: string, copy: () => void): void {
    const mnt = this.mnt(id);
    this.addon.fsFreeze(mnt, true);
    try {
      copy();
    } finally {
      this.addon.fsFreeze(mnt, false);
    }
  }

  private copyFile(src: string, dst: string): void {
    try {
      this.addon.fileClone(src, dst);
    } catch (err) {
      if (!(isSyscallError(err) && NO_REFLINK.has(err.code))) throw err;
      this.addon.sparseCopy(src, dst);
    }
  }

  /** Lazily unmounted: the loop device goes once the last reference does. */
  private async removeMount(id: string): Promise<void> {
    const mnt = this.mnt(id);
    while (mountSource(mnt)) this.addon.umount(mnt, true);
  }

  private async removeVolumeDir(id: string): Promise<void> {
    await this.removeMount(id);
    await fs.promises.rm(this.dir(id), { recursive: true, force: true });
  }

  // ---- records ----

  private dir(id: string): string {
    return path.join(this.o.root, checkId(id));
  }
  private disk(id: string): string {
    return path.join(this.dir(id), 'disk.img');
  }
  private mnt(id: string): string {
    return path.join(this.dir(id), 'mnt');
  }
  private snapshotDir(id: string): string {
    return path.join(this.o.snapshots, checkId(id, 'snapshot id'));
  }
  private snapshotDisk(id: string): string {
    return path.join(this.snapshotDir(id), 'disk.img');
  }

  private readMeta(id: string): VolumeInfo | undefined {
    return readJson<VolumeInfo>(path.join(this.o.root, id, 'meta.json'));
  }

  private volumeMeta(id: string): VolumeInfo {
    const meta = this.readMeta(id);
    if (!meta) throw new VolumeNotFound(id);
    return meta;
  }

  private readSnapshotMeta(id: string): SnapshotMeta | undefined {
    return readJson<SnapshotMeta>(path.join(this.o.snapshots, id, 'meta.json'));
  }

  private snapshotMeta(id: string): SnapshotMeta {
    const meta = this.readSnapshotMeta(id);
    if (!meta) throw new SnapshotNotFound(id);
    return meta;
  }

  private writeMeta(meta: VolumeInfo): Promise<void> {
    return writeMetaFile(this.dir(meta.id), meta);
  }
}

/** Runs a file system tool; an exit code outside `ok` is a VolumeBackendAPIException with its stderr. */
async function run(cmd: string, args: string[], ok = [0]): Promise<void> {
  try {
    await promisify(execFile)(cmd, args);
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    if (typeof e.code === 'number' && ok.includes(e.code)) return;
    throw new VolumeBackendAPIException(
      `${cmd} ${args.join(' ')}: ${e.stderr?.trim() || String(err)}`,
      err,
    );
  }
}

function writeMetaFile(dir: string, meta: object): Promise<void> {
  return writeFileAtomic(path.join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Errors of the seam pass as they are; the kernel's become VolumeBackendAPIException. */
function backendError(what: string, err: unknown): Error {
  if (err instanceof VolumeBackendAPIException || !isSyscallError(err)) return err as Error;
  return new VolumeBackendAPIException(`${what}: ${err.message}`, err);
}
