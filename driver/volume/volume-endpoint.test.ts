import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { RemoteError } from '../../messaging/transport';
import { FakeTransport } from '../../testing/messaging/fake-transport';
import { FakeVolumes } from '../../testing/driver/fake-volumes';
import { VOLUME_RPC_VERSION, VOLUME_TOPIC, volumeEndpoint } from './volume-endpoint';

const HOST = 'node-1';
const VOL = '11111111-1111-4111-8111-111111111111';
const SNAP = '22222222-2222-4222-8222-222222222222';
const OTHER = '33333333-3333-4333-8333-333333333333';

describe('volume endpoint', () => {
  let transport: FakeTransport;
  let volumes: FakeVolumes;

  const call = (method: string, args: Record<string, unknown>) =>
    transport.call(
      { topic: VOLUME_TOPIC, server: HOST, version: VOLUME_RPC_VERSION },
      method,
      args,
    );

  /** The call fails as the API sees it: a cinder.exception class. */
  async function refused(method: string, args: Record<string, unknown>, exceptionClass: string) {
    await assert.rejects(call(method, args), (err: unknown) => {
      assert.ok(err instanceof RemoteError, String(err));
      assert.equal(err.exceptionClass, exceptionClass, err.message);
      assert.equal(err.module, 'cinder.exception');
      return true;
    });
  }

  beforeEach(async () => {
    transport = new FakeTransport();
    volumes = new FakeVolumes(10);
    await transport.serve({ topic: VOLUME_TOPIC, server: HOST }, [volumeEndpoint(volumes)]);
  });

  afterEach(() => transport.close());

  test('create_volume makes the volume, a redelivery succeeds, capacity counts it', async () => {
    const volume = { id: VOL, size: 3, name: 'data' };
    assert.equal(await call('create_volume', { volume, snapshot_id: null }), null);
    await call('create_volume', { volume, snapshot_id: null });
    const { sizeGb, name } = await volumes.show(VOL);
    assert.deepEqual({ sizeGb, name }, { sizeGb: 3, name: 'data' });
    assert.deepEqual(await call('get_capacity', {}), { total_gb: 10, free_gb: 7 });
  });

  test('create_volume refuses what it cannot make as InvalidVolume', async () => {
    await call('create_volume', { volume: { id: VOL, size: 1, name: null }, snapshot_id: null });
    await refused('create_volume', { volume: { id: VOL, size: 2 } }, 'InvalidVolume');
    await refused('create_volume', { volume: { id: '../etc', size: 1 } }, 'InvalidVolume');
    await refused('create_volume', { volume: { id: OTHER, size: 0 } }, 'InvalidVolume');
    await refused('create_volume', { volume: 'big' }, 'InvalidVolume');
    await refused('create_volume', { volume: { id: OTHER, size: 1, name: 7 } }, 'InvalidVolume');
    assert.deepEqual(
      (await volumes.list()).map((v) => v.id),
      [VOL],
    );
  });

  test('snapshots: made, copied into a new volume no smaller, deleted', async () => {
    await call('create_volume', { volume: { id: VOL, size: 2, name: 'a' }, snapshot_id: null });
    await call('create_snapshot', { volume_id: VOL, snapshot_id: SNAP });
    await refused(
      'create_volume',
      { volume: { id: OTHER, size: 1, name: 'b' }, snapshot_id: SNAP },
      'InvalidVolume',
    );
    await call('create_volume', { volume: { id: OTHER, size: 2, name: 'b' }, snapshot_id: SNAP });
    assert.equal((await volumes.show(OTHER)).snapshotId, SNAP);
    await call('delete_snapshot', { volume_id: VOL, snapshot_id: SNAP });
    await call('delete_snapshot', { volume_id: VOL, snapshot_id: SNAP });
    const fresh = '44444444-4444-4444-8444-444444444444';
    await refused(
      'create_volume',
      { volume: { id: fresh, size: 2, name: 'c' }, snapshot_id: SNAP },
      'SnapshotNotFound',
    );
    await refused('create_snapshot', { volume_id: fresh, snapshot_id: SNAP }, 'VolumeNotFound');
  });

  test('extend_volume grows, never shrinks, and needs the volume', async () => {
    await call('create_volume', { volume: { id: VOL, size: 2, name: 'a' }, snapshot_id: null });
    await call('extend_volume', { volume_id: VOL, new_size: 4 });
    assert.equal((await volumes.show(VOL)).sizeGb, 4);
    await refused('extend_volume', { volume_id: VOL, new_size: 3 }, 'InvalidVolume');
    await refused('extend_volume', { volume_id: OTHER, new_size: 3 }, 'VolumeNotFound');
  });

  test('delete_volume refuses a mounted volume (VolumeIsBusy) and is idempotent', async () => {
    await call('create_volume', { volume: { id: VOL, size: 1, name: 'a' }, snapshot_id: null });
    volumes.claim(VOL, 'instance-1');
    await refused('delete_volume', { volume_id: VOL }, 'VolumeIsBusy');
    volumes.release(VOL, 'instance-1');
    await call('delete_volume', { volume_id: VOL });
    await call('delete_volume', { volume_id: VOL });
    assert.deepEqual(await volumes.list(), []);
  });

  test('a failure the service did not classify is VolumeBackendAPIException', async () => {
    volumes.capacity = async () => {
      throw new Error('statfs failed: EIO');
    };
    await refused('get_capacity', {}, 'VolumeBackendAPIException');
  });
});
