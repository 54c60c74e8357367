/**
 * The control plane's side of the `berth-volume` RPC each compute serves
 * (helpers' volume contract): every method a call to `berth-volume.<host>`,
 * whose failures carry Cinder's exception class names.
 */
import { MessagingTimeout, RemoteError, type Transport } from '../../messaging/transport';
import type { RpcContext } from '../compute-rpc';

export const VOLUME_RPC = { topic: 'berth-volume', version: '3.0' } as const;
/** Seconds a volume call may take: creating or copying a file of some GiB is not instant. */
const CALL_TIMEOUT_S = 120;

export interface HostCapacity {
  total_gb: number;
  free_gb: number;
}

export interface VolumeRpcAPI {
  createVolume(
    host: string,
    volume: { id: string; size: number; name: string },
    snapshotId: string | null,
    ctx: RpcContext,
  ): Promise<void>;
  deleteVolume(host: string, volumeId: string, ctx: RpcContext): Promise<void>;
  extendVolume(host: string, volumeId: string, newSize: number, ctx: RpcContext): Promise<void>;
  createSnapshot(host: string, volumeId: string, snapshotId: string, ctx: RpcContext): Promise<void>;
  deleteSnapshot(host: string, volumeId: string, snapshotId: string, ctx: RpcContext): Promise<void>;
  getCapacity(host: string, ctx: RpcContext): Promise<HostCapacity>;
}

/** Why a host refused or failed a volume operation, in words a user can act on. */
export function volumeFailureMessage(err: unknown): string {
  if (err instanceof RemoteError) return `${err.exceptionClass}: ${err.message}`;
  if (err instanceof MessagingTimeout) return `the volume host did not answer: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export const isRemote = (err: unknown, exceptionClass: string) =>
  err instanceof RemoteError && err.exceptionClass === exceptionClass;

export class TransportVolumeRpcAPI implements VolumeRpcAPI {
  constructor(private readonly transport: Transport) {}

  private async call(host: string, method: string, args: Record<string, unknown>, ctx: RpcContext) {
    return this.transport.call({ ...VOLUME_RPC, server: host }, method, args, {
      context: ctx,
      timeout: CALL_TIMEOUT_S,
    });
  }

  async createVolume(
    host: string,
    volume: { id: string; size: number; name: string },
    snapshotId: string | null,
    ctx: RpcContext,
  ) {
    await this.call(host, 'create_volume', { volume, snapshot_id: snapshotId }, ctx);
  }

  async deleteVolume(host: string, volumeId: string, ctx: RpcContext) {
    await this.call(host, 'delete_volume', { volume_id: volumeId }, ctx);
  }

  async extendVolume(host: string, volumeId: string, newSize: number, ctx: RpcContext) {
    await this.call(host, 'extend_volume', { volume_id: volumeId, new_size: newSize }, ctx);
  }

  async createSnapshot(host: string, volumeId: string, snapshotId: string, ctx: RpcContext) {
    await this.call(host, 'create_snapshot', { volume_id: volumeId, snapshot_id: snapshotId }, ctx);
  }

  async deleteSnapshot(host: string, volumeId: string, snapshotId: string, ctx: RpcContext) {
    await this.call(host, 'delete_snapshot', { volume_id: volumeId, snapshot_id: snapshotId }, ctx);
  }

  async getCapacity(host: string, ctx: RpcContext) {
    return (await this.call(host, 'get_capacity', {}, ctx)) as HostCapacity;
  }
}
