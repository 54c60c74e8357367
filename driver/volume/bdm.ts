/**
 * Nova's block device mappings as the compute receives them (attach_volume's
 * `bdm`, build_and_run_instance's `block_device_mapping`), read into the
 * VolumeConnections the driver mounts. A mapping is a dict or a
 * BlockDeviceMapping primitive; its connection_info, a JSON string or an
 * object, is what Cinder's attachment returned:
 * {"driver_volume_type":"berth","data":{"volume_id","mount_point","read_only","multiattach"}}.
 */
import { InvalidArgumentError } from '../../common/errors';
import type { VolumeConnection } from '../virt/driver';
import { checkMountPoint } from './mount-point';
import { checkId } from './volume-service';

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields of a nova object primitive, or the dict itself. */
function fields(value: unknown, what: string): Dict {
  if (!isDict(value))
    throw new InvalidArgumentError(`${what} must be an object, got ${JSON.stringify(value)}`);
  const data = value['nova_object.data'];
  return isDict(data) ? data : value;
}

function connectionInfo(value: unknown): Dict {
  let info = value;
  if (typeof value === 'string') {
    try {
      info = JSON.parse(value);
    } catch {
      throw new InvalidArgumentError(`connection_info is not JSON: ${JSON.stringify(value)}`);
    }
  }
  if (!isDict(info))
    throw new InvalidArgumentError(
      `connection_info must be an object, got ${JSON.stringify(info)}`,
    );
  if (info.driver_volume_type !== 'berth')
    throw new InvalidArgumentError(
      `connection_info: driver_volume_type must be berth, got ${JSON.stringify(info.driver_volume_type)}`,
    );
  if (!isDict(info.data)) throw new InvalidArgumentError('connection_info has no data object');
  return info.data;
}

/** A flag that may be absent (false); anything but a boolean is a mistake, not a default. */
function flag(data: Dict, name: string): boolean {
  const v = data[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean')
    throw new InvalidArgumentError(
      `connection_info: ${name} must be a boolean, got ${JSON.stringify(v)}`,
    );
  return v;
}

/** The volume one mapping mounts; InvalidArgumentError (or InvalidVolume) for anything malformed. */
export function connectionOf(bdm: unknown): VolumeConnection {
  const data = connectionInfo(fields(bdm, 'block device mapping').connection_info);
  return {
    volumeId: checkId(data.volume_id),
    mountPoint: checkMountPoint(data.mount_point),
    readOnly: flag(data, 'read_only'),
    multiattach: flag(data, 'multiattach'),
  };
}

function mappingsOf(mappings: unknown): Dict[] {
  if (mappings === undefined || mappings === null) return [];
  const list = isDict(mappings) ? fields(mappings, 'block device mappings').objects : mappings;
  if (!Array.isArray(list))
    throw new InvalidArgumentError(
      `block_device_mapping must be a list, got ${JSON.stringify(mappings)}`,
    );
  return list.map((bdm) => fields(bdm, 'block device mapping'));
}

/** Boot index 0 on a volume: the instance's root file system (boot from volume). */
const isRootVolume = (bdm: Dict) =>
  bdm.destination_type === 'volume' && bdm.boot_index !== null && Number(bdm.boot_index) === 0;

/**
 * The volumes of a build's block device list mounted into the instance, in
 * order: null is none; a local disk (the image's root, destination_type
 * local) and the root volume are no mounts.
 */
export function connectionsOf(mappings: unknown): VolumeConnection[] {
  return mappingsOf(mappings)
    .filter((bdm) => bdm.destination_type !== 'local' && !isRootVolume(bdm))
    .map(connectionOf);
}

/** The id of the volume a build boots from, if it boots from one. */
export function rootVolumeOf(mappings: unknown): string | undefined {
  const roots = mappingsOf(mappings).filter(isRootVolume);
  if (roots.length > 1) throw new InvalidArgumentError('more than one mapping has boot_index 0');
  return roots.length ? checkId(connectionInfo(roots[0].connection_info).volume_id) : undefined;
}
