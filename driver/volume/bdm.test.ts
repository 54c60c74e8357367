import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../../common/errors';
import { connectionOf, connectionsOf, rootVolumeOf } from './bdm';

const VOL = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';

const info = (data: Record<string, unknown>) => ({ driver_volume_type: 'berth', data });
const bdm = (data: Record<string, unknown>, asString = true) => {
  const connection_info = info({ volume_id: VOL, mount_point: '/data', ...data });
  return {
    volume_id: data.volume_id ?? VOL,
    destination_type: 'volume',
    connection_info: asString ? JSON.stringify(connection_info) : connection_info,
  };
};

describe('block device mappings', () => {
  test('connection_info as a JSON string or an object, flags defaulting to false', () => {
    const expected = { volumeId: VOL, mountPoint: '/data', readOnly: false, multiattach: false };
    assert.deepEqual(connectionOf(bdm({})), expected);
    assert.deepEqual(connectionOf(bdm({}, false)), expected);
    assert.deepEqual(
      connectionOf(bdm({ read_only: true, multiattach: true, mount_point: '/mnt/x/' })),
      {
        volumeId: VOL,
        mountPoint: '/mnt/x',
        readOnly: true,
        multiattach: true,
      },
    );
  });

  test('a BlockDeviceMapping primitive is read by its fields', () => {
    const primitive = {
      'nova_object.name': 'BlockDeviceMapping',
      'nova_object.version': '1.20',
      'nova_object.data': bdm({}),
    };
    assert.equal(connectionOf(primitive).volumeId, VOL);
  });

  test('anything malformed is an InvalidArgumentError', () => {
    const bad: unknown[] = [
      null,
      'bdm',
      [],
      {},
      { connection_info: 'not json' },
      { connection_info: '[1]' },
      { connection_info: { driver_volume_type: 'iscsi', data: { volume_id: VOL } } },
      { connection_info: { driver_volume_type: 'berth' } },
      bdm({ volume_id: '../../etc' }),
      bdm({ volume_id: 7 }),
      bdm({ mount_point: 'data' }),
      bdm({ mount_point: '/data/../etc' }),
      bdm({ mount_point: '/' }),
      bdm({ mount_point: '/proc/x' }),
      bdm({ mount_point: undefined }),
      bdm({ read_only: 'yes' }),
      bdm({ multiattach: 1 }),
    ];
    for (const b of bad)
      assert.throws(() => connectionOf(b), InvalidArgumentError, JSON.stringify(b));
  });

  test('a build list: null is none, local disks are skipped, order is kept', () => {
    assert.deepEqual(connectionsOf(null), []);
    assert.deepEqual(connectionsOf(undefined), []);
    const root = { source_type: 'image', destination_type: 'local', boot_index: 0 };
    const list = [root, bdm({ volume_id: OTHER, mount_point: '/b' }), bdm({ mount_point: '/a' })];
    assert.deepEqual(
      connectionsOf(list).map((c) => [c.volumeId, c.mountPoint]),
      [
        [OTHER, '/b'],
        [VOL, '/a'],
      ],
    );
    const wrapped = {
      'nova_object.name': 'BlockDeviceMappingList',
      'nova_object.data': { objects: list },
    };
    assert.equal(connectionsOf(wrapped).length, 2);
    assert.throws(() => connectionsOf('all'), InvalidArgumentError);
    assert.throws(() => connectionsOf([bdm({ mount_point: 'rel' })]), InvalidArgumentError);
  });

  test('boot from volume: the boot index 0 volume is the root, not a mount', () => {
    const root = { ...bdm({ volume_id: OTHER, mount_point: '/' }), boot_index: '0' };
    const list = [root, bdm({ mount_point: '/a' })];
    assert.equal(rootVolumeOf(list), OTHER);
    assert.deepEqual(
      connectionsOf(list).map((c) => c.volumeId),
      [VOL],
    );
    assert.equal(rootVolumeOf([bdm({ mount_point: '/a' })]), undefined);
    assert.equal(rootVolumeOf(null), undefined);
    assert.throws(() => rootVolumeOf([root, { ...root }]), /boot_index 0/);
    assert.throws(
      () => rootVolumeOf([{ ...bdm({ volume_id: '../x', mount_point: '/' }), boot_index: 0 }]),
      InvalidArgumentError,
    );
  });
});
