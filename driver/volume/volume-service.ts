/**
 * The VolumeService seam: the storage of the volumes this compute host
 * holds (Cinder's volume driver, for berth's file-backed volumes). Every
 * operation is idempotent per id, as RPC messages can be redelivered; a
 * create that fails leaves nothing behind. Errors are the classes of
 * volume-errors.ts.
 */
import { InvalidVolume } from './volume-errors';

export interface VolumeSpec {
  id: string;
  /** GiB, >= 1 */
  sizeGb: number;
  name?: string | null;
}

export interface VolumeInfo {
  id: string;
  sizeGb: number;
  name?: string | null;
  /** the snapshot it was made from */
  snapshotId?: string | null;
}

export interface Capacity {
  total_gb: number;
  free_gb: number;
}

export interface VolumeService {
  /** Reconcile at start: every volume usable again (mounted), half-made ones removed. */
  restore(): Promise<VolumeInfo[]>;
  /**
   * A new empty volume, or a copy of snapshot `snapshotId` grown to
   * `sizeGb` (never smaller than the snapshot: InvalidVolume). An id that
   * exists succeeds when it has that size (a redelivery), else InvalidVolume.
   */
  create(spec: VolumeSpec, snapshotId?: string | null): Promise<void>;
  /** Idempotent (an unknown id succeeds); VolumeIsBusy while an instance holds it. */
  delete(volumeId: string): Promise<void>;
  /** Grows the volume and its file system, online; a size below the current one is InvalidVolume. */
  extend(volumeId: string, newSizeGb: number): Promise<void>;
  /** A consistent point-in-time copy; idempotent per snapshot id. */
  createSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  /** Idempotent. */
  deleteSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  capacity(): Promise<Capacity>;
  /** VolumeNotFound for a volume this host does not have. */
  show(volumeId: string): Promise<VolumeInfo>;
  list(): Promise<VolumeInfo[]>;
  /** The host directory where the volume's file system is mounted (what attaches bind). */
  mountPath(volumeId: string): string;
  /** Instance `holder` has the volume mounted: delete refuses until released. */
  claim(volumeId: string, holder: string): void;
  release(volumeId: string, holder: string): void;
  holders(volumeId: string): string[];
}

/** Volume and snapshot ids become paths: anything but a uuid could name one outside the root. */
export const VOLUME_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who holds which volume, kept in memory: the driver claims again at start from its records. */
export class VolumeClaims {
  private readonly byVolume = new Map<string, Set<string>>();

  claim(volumeId: string, holder: string): void {
    const set = this.byVolume.get(volumeId) ?? new Set<string>();
    set.add(holder);
    this.byVolume.set(volumeId, set);
  }

  release(volumeId: string, holder: string): void {
    const set = this.byVolume.get(volumeId);
    set?.delete(holder);
    if (set && !set.size) this.byVolume.delete(volumeId);
  }

  holders(volumeId: string): string[] {
    return [...(this.byVolume.get(volumeId) ?? [])];
  }
}

/** InvalidVolume unless `id` is a uuid. */
export function checkId(id: unknown, what = 'volume id'): string {
  if (typeof id !== 'string' || !VOLUME_ID.test(id))
    throw new InvalidVolume(`${what} must be a uuid, got ${JSON.stringify(id)}`);
  return id;
}

/** InvalidVolume unless `size` is a whole number of GiB, at least 1. */
export function checkSize(size: unknown): number {
  if (!(Number.isInteger(size) && (size as number) >= 1 && (size as number) <= 1 << 20))
    throw new InvalidVolume(`size must be a whole number of GiB >= 1, got ${JSON.stringify(size)}`);
  return size as number;
}
