/**
 * The rules of an instance's volume list, shared by every driver: one
 * mount point per volume and one volume per mount point, and a volume
 * without multiattach in one instance only.
 */
import { checkMountPoint } from '../volume/mount-point';
import { InvalidVolume, VolumeIsBusy } from '../volume/volume-errors';
import type { VolumeConnection } from './driver';

/**
 * The list with `connection` added, or undefined when it is there already
 * (a redelivered attach). `holders`: the instances that have the volume now.
 */
export function withAttachment(
  current: readonly VolumeConnection[],
  connection: VolumeConnection,
  holders: readonly string[],
  uuid: string,
): VolumeConnection[] | undefined {
  const added = { ...connection, mountPoint: checkMountPoint(connection.mountPoint) };
  const same = current.find((v) => v.volumeId === added.volumeId);
  if (same?.mountPoint === added.mountPoint) return undefined;
  if (same)
    throw new InvalidVolume(`volume ${added.volumeId} is already mounted at ${same.mountPoint}`);
  if (current.some((v) => v.mountPoint === added.mountPoint))
    throw new InvalidVolume(`another volume is mounted at ${added.mountPoint}`);
  const others = holders.filter((h) => h !== uuid);
  if (!added.multiattach && others.length) throw new VolumeIsBusy(added.volumeId, others);
  return [...current, added];
}

/** Every connection of a spawn's block device list checked together, in order. */
export function attachmentsOf(
  connections: readonly VolumeConnection[],
  holdersOf: (volumeId: string) => string[],
  uuid: string,
): VolumeConnection[] {
  let list: VolumeConnection[] = [];
  for (const c of connections) list = withAttachment(list, c, holdersOf(c.volumeId), uuid) ?? list;
  return list;
}

/** A root volume is one instance's alone, multiattach or not: two roots on one layer would corrupt it. */
export function checkRootVolume(volumeId: string, holders: readonly string[], uuid: string): void {
  const others = holders.filter((h) => h !== uuid);
  if (others.length) throw new VolumeIsBusy(volumeId, others);
}

/** The volumes an instance holds: its mounts and its root. */
export const heldVolumes = (i: { volumes?: readonly VolumeConnection[]; rootVolume?: string }) => [
  ...(i.volumes ?? []).map((v) => v.volumeId),
  ...(i.rootVolume ? [i.rootVolume] : []),
];
