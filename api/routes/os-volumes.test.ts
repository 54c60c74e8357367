import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startVolumeCloud, type TestCloud } from '../../testing/api/test-cloud';
import type { FakeVolumeHost } from '../../testing/volume/fake-volume-host';

const OTHER = 'alice:other';

describeEachDatabase('os-volumes and os-snapshots (Nova proxy)', (database) => {
  let cloud: TestCloud;
  let volumeHost: FakeVolumeHost;
  const create = (volume: Record<string, unknown>) =>
    cloud.request('POST', '/v2.1/os-volumes', { body: { volume } });

  before(async () => {
    ({ cloud, volumeHost } = await startVolumeCloud({ database }));
  });
  after(async () => {
    await volumeHost?.stop();
    await cloud?.close();
  });

  test('create, show, list with offset and limit, snapshot, delete, in Nova views', async () => {
    const made = await create({ size: 1, display_name: 'nv', metadata: { k: 'v' } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const id = made.body.volume.id as string;
    assert.deepEqual(Object.keys(made.body.volume).sort(), [
      'attachments',
      'availabilityZone',
      'createdAt',
      'displayDescription',
      'displayName',
      'id',
      'metadata',
      'size',
      'snapshotId',
      'status',
      'volumeType',
    ]);
    assert.deepEqual(made.body.volume.attachments, [{}]);
    await cloud.api.deps.volumes.drain();

    const shown = (await cloud.request('GET', `/v2.1/os-volumes/${id}`)).body.volume;
    assert.equal(shown.status, 'available');
    assert.equal(shown.displayName, 'nv');
    assert.deepEqual(shown.metadata, { k: 'v' });
    assert.equal(shown.volumeType, 'default');
    // The same volume through Cinder.
    const cinder = await cloud.request('GET', `/volume/v3/demo/volumes/${id}`);
    assert.equal(cinder.body.volume.name, 'nv');

    const second = (await create({ size: '2' })).body.volume.id as string;
    await cloud.api.deps.volumes.drain();
    const ids = async (q: string) =>
      (await cloud.request('GET', `/v2.1/os-volumes/detail${q}`)).body.volumes.map(
        (v: { id: string }) => v.id,
      );
    assert.deepEqual(await ids(''), [id, second]);
    assert.deepEqual(await ids('?limit=1'), [id]);
    assert.deepEqual(await ids('?offset=1'), [second]);
    const theirs = await cloud.request('GET', '/v2.1/os-volumes', { token: OTHER });
    assert.deepEqual(theirs.body.volumes, []);

    const snap = await cloud.request('POST', '/v2.1/os-snapshots', {
      body: { snapshot: { volume_id: id, display_name: 's1', force: false } },
    });
    assert.equal(snap.status, 200, JSON.stringify(snap.body));
    assert.equal(snap.body.snapshot.volumeId, id);
    assert.equal(snap.body.snapshot.size, 1);
    await cloud.api.deps.volumes.drain();
    const snapId = snap.body.snapshot.id as string;
    const s = await cloud.request('GET', `/v2.1/os-snapshots/${snapId}`);
    assert.equal(s.body.snapshot.status, 'available');
    assert.equal(s.body.snapshot.displayName, 's1');
    const snaps = await cloud.request('GET', '/v2.1/os-snapshots/detail');
    assert.deepEqual(
      snaps.body.snapshots.map((x: { id: string }) => x.id),
      [snapId],
    );
    // A volume with a snapshot is not deleted, as Cinder refuses it.
    assert.equal((await cloud.request('DELETE', `/v2.1/os-volumes/${id}`)).status, 400);
    assert.equal((await cloud.request('DELETE', `/v2.1/os-snapshots/${snapId}`)).status, 202);
    await cloud.api.deps.volumes.drain();
    assert.equal((await cloud.request('GET', `/v2.1/os-snapshots/${snapId}`)).status, 404);
    for (const v of [id, second])
      assert.equal((await cloud.request('DELETE', `/v2.1/os-volumes/${v}`)).status, 202);
    await cloud.api.deps.volumes.drain();
    assert.equal((await cloud.request('GET', `/v2.1/os-volumes/${id}`)).status, 404);
  });

  test('bad input: sizes, unknown ids, another project, and gone from 2.36', async () => {
    for (const volume of [
      {},
      { size: 0 },
      { size: '0' },
      { size: '#$%' },
      { size: 1, name: 'x' },
      { size: 1, display_name: 'x'.repeat(256) },
      { size: 1, metadata: { k: 1 } },
    ]) {
      const r = await create(volume);
      assert.equal(r.status, 400, JSON.stringify(volume));
      assert.ok(r.body.badRequest.message, JSON.stringify(r.body));
    }
    const unknown = '7b4f5e2a-0000-4000-8000-000000000000';
    for (const [method, path] of [
      ['GET', `/v2.1/os-volumes/${unknown}`],
      ['DELETE', `/v2.1/os-volumes/${unknown}`],
      ['GET', '/v2.1/os-volumes/'],
      ['DELETE', '/v2.1/os-volumes/'],
      ['GET', `/v2.1/os-snapshots/${unknown}`],
      ['DELETE', `/v2.1/os-snapshots/${unknown}`],
    ] as const) {
      const r = await cloud.request(method, path);
      assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
    }
    const snapOfUnknown = await cloud.request('POST', '/v2.1/os-snapshots', {
      body: { snapshot: { volume_id: unknown } },
    });
    assert.equal(snapOfUnknown.status, 404);
    const mine = (await create({ size: 1 })).body.volume.id as string;
    await cloud.api.deps.volumes.drain();
    assert.equal(
      (await cloud.request('GET', `/v2.1/os-volumes/${mine}`, { token: OTHER })).status,
      404,
    );
    assert.equal((await cloud.request('GET', '/v2.1/os-volumes', { version: '2.36' })).status, 404);
    assert.equal((await cloud.request('DELETE', `/v2.1/os-volumes/${mine}`)).status, 202);
    await cloud.api.deps.volumes.drain();
  });
});
