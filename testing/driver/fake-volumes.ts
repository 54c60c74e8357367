/**
 * The VolumeService in memory, with the real one's rules (sizes, busy
 * volumes, snapshots, idempotence), for the compute's unit tests.
 */
import {
  type Capacity,
  checkId,
  checkSize,
  VolumeClaims,
  type VolumeInfo,
  type VolumeService,
  type VolumeSpec,
} from '../../driver/volume/volume-service';
import {
  InvalidVolume,
  SnapshotNotFound,
  VolumeIsBusy,
  VolumeNotFound,
} from '../../driver/volume/volume-errors';

export class FakeVolumes implements VolumeService {
  readonly volumes = new Map<string, VolumeInfo>();
  readonly snapshots = new Map<string, { volumeId: string; sizeGb: number }>();
  private readonly claims = new VolumeClaims();

  constructor(private readonly totalGb = 100) {}

  async restore(): Promise<VolumeInfo[]> {
    return [...this.volumes.values()];
  }

  async create(spec: VolumeSpec, snapshotId?: string | null): Promise<void> {
    const id = checkId(spec.id);
    const sizeGb = checkSize(spec.sizeGb);
    const existing = this.volumes.get(id);
    if (existing) {
      if (existing.sizeGb !== sizeGb)
        throw new InvalidVolume(`volume ${id} exists with size ${existing.sizeGb} GiB`);
      return;
    }
    if (snapshotId !== undefined && snapshotId !== null) {
      const snapshot = this.snapshots.get(checkId(snapshotId, 'snapshot id'));
      if (!snapshot) throw new SnapshotNotFound(snapshotId);
      if (snapshot.sizeGb > sizeGb)
        throw new InvalidVolume(`size ${sizeGb} GiB is smaller than the snapshot's`);
    }
    this.volumes.set(id, {
      id,
      sizeGb,
      name: spec.name ?? null,
      snapshotId: snapshotId ?? undefined,
    });
  }

  async delete(volumeId: string): Promise<void> {
    const id = checkId(volumeId);
    const holders = this.claims.holders(id);
    if (holders.length) throw new VolumeIsBusy(id, holders);
    this.volumes.delete(id);
  }

  async extend(volumeId: string, newSizeGb: number): Promise<void> {
    const v = this.get(volumeId);
    const sizeGb = checkSize(newSizeGb);
    if (sizeGb < v.sizeGb)
      throw new InvalidVolume(`new size ${sizeGb} GiB is below the current ${v.sizeGb} GiB`);
    v.sizeGb = sizeGb;
  }

  async createSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    const v = this.get(volumeId);
    const sid = checkId(snapshotId, 'snapshot id');
    if (!this.snapshots.has(sid)) this.snapshots.set(sid, { volumeId: v.id, sizeGb: v.sizeGb });
  }

  async deleteSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    checkId(volumeId);
    this.snapshots.delete(checkId(snapshotId, 'snapshot id'));
  }

  async capacity(): Promise<Capacity> {
    const used = [...this.volumes.values()].reduce((sum, v) => sum + v.sizeGb, 0);
    return { total_gb: this.totalGb, free_gb: Math.max(0, this.totalGb - used) };
  }

  async show(volumeId: string): Promise<VolumeInfo> {
    return { ...this.get(volumeId) };
  }

  async list(): Promise<VolumeInfo[]> {
    return [...this.volumes.values()].map((v) => ({ ...v }));
  }

  mountPath(volumeId: string): string {
    return `/fake-volumes/${this.get(volumeId).id}/mnt`;
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

  private get(volumeId: string): VolumeInfo {
    const v = this.volumes.get(checkId(volumeId));
    if (!v) throw new VolumeNotFound(volumeId);
    return v;
  }
}
