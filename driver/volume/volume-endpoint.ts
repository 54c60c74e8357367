/**
 * The compute's side of the `berth-volume` RPC (the helpers' volume
 * contract, client in api/volume/volume-rpc.ts): Cinder's volume manager
 * calls, each served on this host's VolumeService. Every failure leaves as
 * a cinder.exception class, so the API tells a busy volume from a missing
 * one by class name.
 */
import type { Endpoint, EndpointMethod } from '../../messaging/transport';
import { InvalidVolume, VolumeBackendAPIException } from './volume-errors';
import type { Capacity, VolumeService } from './volume-service';

/** The API's VOLUME_RPC: the API may import driver/, not the other way round. */
export const VOLUME_TOPIC = 'berth-volume';
export const VOLUME_RPC_VERSION = '3.0';

type Args = Record<string, unknown>;

/** What create_volume's `volume` argument must be; ids and sizes the service checks itself. */
function volumeArg(value: unknown): { id: unknown; size: unknown; name: string | null } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidVolume(`volume must be an object, got ${JSON.stringify(value)}`);
  const v = value as Args;
  if (v.name !== undefined && v.name !== null && typeof v.name !== 'string')
    throw new InvalidVolume(`volume name must be a string, got ${JSON.stringify(v.name)}`);
  return { id: v.id, size: v.size, name: (v.name as string | undefined) ?? null };
}

/**
 * An error without a Cinder class (a kernel or file system failure the
 * service did not name) would leave as the compute's NovaException: the
 * API would see no volume failure at all.
 */
function asCinderFailure(err: unknown): Error {
  if (err instanceof Error && 'remoteFault' in err) return err;
  return new VolumeBackendAPIException(err instanceof Error ? err.message : String(err), err);
}

export function volumeEndpoint(volumes: VolumeService): Endpoint {
  const methods: Record<string, (a: Args) => Promise<unknown>> = {
    create_volume: async (a) => {
      const v = volumeArg(a.volume);
      await volumes.create(
        { id: v.id as string, sizeGb: v.size as number, name: v.name },
        a.snapshot_id as string | null | undefined,
      );
    },
    delete_volume: (a) => volumes.delete(a.volume_id as string),
    extend_volume: (a) => volumes.extend(a.volume_id as string, a.new_size as number),
    create_snapshot: (a) => volumes.createSnapshot(a.volume_id as string, a.snapshot_id as string),
    delete_snapshot: (a) => volumes.deleteSnapshot(a.volume_id as string, a.snapshot_id as string),
    get_capacity: (): Promise<Capacity> => volumes.capacity(),
  };
  const served: Record<string, EndpointMethod> = {};
  for (const [name, fn] of Object.entries(methods))
    served[name] = async (args) => {
      try {
        // oslo replies None for a method that returns nothing.
        return (await fn(args)) ?? null;
      } catch (err) {
        throw asCinderFailure(err);
      }
    };
  return { version: VOLUME_RPC_VERSION, methods: served };
}
