import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { waitFor } from '../../testing/wait-for';

describeEachDatabase('createImage and rebuild on a cloud of FakeDriver computes', (database) => {
  let cloud: TestCloud;
  let id: string;
  before(async () => {
    cloud = await startTestCloud({ database });
    const images = cloud.api.deps.images;
    await images.update(cloud.image.id, {
      properties: { os_command_line: 'sh -c run', docker_image_ref: 'x/y:1', hw_arch: 'x86_64' },
      config: { cmd: ['/bin/app'] },
    });
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'snap', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
  });
  after(() => cloud.close());

  const action = (body: unknown, version?: string, token?: string) =>
    cloud.request('POST', `/v2.1/servers/${id}/action`, { body, version, token });
  const idle = () =>
    waitFor('the task to end', async () => {
      const s = await cloud.request('GET', `/v2.1/servers/${id}`);
      return s.body.server['OS-EXT-STS:task_state'] === null ? s.body.server : undefined;
    });

  test('createImage at 2.45 answers the image id; the record is a Nova snapshot and gets data', async () => {
    const r = await action(
      { createImage: { name: 'snap-1', metadata: { purpose: 'test' } } },
      '2.45',
    );
    assert.equal(r.status, 202);
    assert.equal(r.headers.get('location'), null);
    const imageId = r.body.image_id as string;
    assert.match(imageId, /^[0-9a-f-]{36}$/);
    const image = await waitFor('the snapshot to be active', async () => {
      const i = await cloud.api.deps.images.show(imageId);
      return i.status === 'active' ? i : undefined;
    });
    assert.equal(image.name, 'snap-1');
    assert.equal(image.visibility, 'private');
    assert.equal(image.owner, 'demo');
    assert.equal(image.container_format, 'bare');
    assert.deepEqual(image.config, { cmd: ['/bin/app'] });
    const p = image.properties;
    assert.deepEqual(
      [p.image_type, p.instance_uuid, p.base_image_ref, p.user_id, p.purpose],
      ['snapshot', id, cloud.image.id, 'demo', 'test'],
    );
    assert.equal(p.os_command_line, 'sh -c run', 'inheritable base properties pass on');
    assert.equal(p.hw_arch, 'x86_64');
    assert.equal(p.docker_image_ref, undefined, "the base's registry reference does not");
    const server = await idle();
    assert.equal(server.status, 'ACTIVE');
    const actions = await cloud.request('GET', `/v2.1/servers/${id}/os-instance-actions`);
    assert.equal(actions.body.instanceActions[0].action, 'createImage');
  });

  test('createBackup: backups of a type rotate, the newest kept; bad input is a 400', async () => {
    const backup = async (name: string, rotation: number) => {
      const r = await action({ createBackup: { name, backup_type: 'daily', rotation } }, '2.45');
      assert.equal(r.status, 202, JSON.stringify(r.body));
      await idle();
      return r.body.image_id as string;
    };
    const daily = async () =>
      (await cloud.api.deps.images.list())
        .filter((i) => i.properties.backup_type === 'daily')
        .map((i) => i.id)
        .sort();
    const first = await backup('b-1', 2);
    const second = await backup('b-2', 2);
    const third = await backup('b-3', 2);
    // As in Nova, the rotation follows the snapshot's end: the task is over first.
    await waitFor(`the oldest, ${first}, rotated out`, async () =>
      (await daily()).includes(first) ? undefined : true,
    );
    assert.deepEqual(await daily(), [second, third].sort());
    const kept = await cloud.api.deps.images.show(third);
    assert.equal(kept.properties.image_type, 'backup');
    // The compute rotates only once the new backup is uploaded: a failed one costs none.
    for (const [, { driver }] of cloud.computes)
      driver.failNext('snapshot', new Error('disk full'));
    await backup('b-4', 1);
    assert.deepEqual(await daily(), [second, third].sort());
    for (const bad of [
      { name: 'b', rotation: 1 },
      { name: 'b', backup_type: 'daily' },
      { name: 'b', backup_type: 'daily', rotation: -1 },
    ])
      assert.equal((await action({ createBackup: bad })).status, 400, JSON.stringify(bad));
  });

  test('createImage before 2.45 names the image in Location, with no body', async () => {
    const r = await action({ createImage: { name: 'snap-2' } }, '2.44');
    assert.equal(r.status, 202);
    assert.equal(r.body, undefined);
    const imageId = /\/images\/([0-9a-f-]{36})$/.exec(r.headers.get('location') ?? '')?.[1];
    assert.ok(imageId, r.headers.get('location') ?? 'no Location');
    await cloud.api.deps.images.show(imageId);
    await idle();
  });

  test('createImage: a bad body is 400; a busy server is 409 and makes no image', async () => {
    for (const body of [
      {},
      { name: '' },
      { name: 'x', metadata: { k: 1 } },
      { name: 'x', extra: 1 },
    ]) {
      const r = await action({ createImage: body }, '2.45');
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.badRequest.code, 400);
    }
    const count = (await cloud.api.deps.images.list()).length;
    await cloud.api.deps.db('instances').where({ uuid: id }).update({ task_state: 'rebooting' });
    try {
      const r = await action({ createImage: { name: 'busy' } }, '2.45');
      assert.equal(r.status, 409);
      assert.match(r.body.conflictingRequest.message, /task_state rebooting/);
    } finally {
      await cloud.api.deps.db('instances').where({ uuid: id }).update({ task_state: null });
    }
    assert.equal((await cloud.api.deps.images.list()).length, count);
  });

  test('rebuild answers the server in REBUILD with the new image, then it is ACTIVE on it', async () => {
    const other = await cloud.api.deps.images.create({
      name: 'other',
      container_format: 'bare',
      disk_format: 'raw',
      visibility: 'public',
    });
    const { Readable } = await import('node:stream');
    const header = Buffer.alloc(1024);
    header.write('rootfs/', 0);
    header.write('ustar', 257);
    await cloud.api.deps.images.upload(other.id, Readable.from([header]));
    const r = await action(
      { rebuild: { imageRef: other.id, name: 'rebuilt', metadata: { a: 'b' } } },
      '2.75',
    );
    assert.equal(r.status, 202);
    assert.equal(r.body.server.user_data, null, 'from 2.57 the rebuild shows user_data');
    assert.deepEqual(r.body.server.server_groups, [], 'and from 2.71 its server groups');
    assert.equal(r.body.server.id, id);
    assert.equal(r.body.server.status, 'REBUILD');
    assert.equal(r.body.server.image.id, other.id);
    assert.equal(r.body.server.name, 'rebuilt');
    assert.deepEqual(r.body.server.metadata, { a: 'b' });
    assert.equal(typeof r.body.server.adminPass, 'string');
    const server = await idle();
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.image.id, other.id);
    // An admin's 2.75 rebuild has the show view's extended attributes, less the user data's.
    const byAdmin = await action({ rebuild: { imageRef: other.id } }, '2.75', 'admin:admin');
    assert.equal(byAdmin.status, 202);
    assert.ok('OS-EXT-SRV-ATTR:host' in byAdmin.body.server);
    assert.ok(!('OS-EXT-SRV-ATTR:user_data' in byAdmin.body.server));
    await idle();
    const driver = cloud.computes.get('node-1')!.driver;
    assert.equal(driver.imageOf(id), other.id);
  });

  test('rebuild: an unknown or inactive image and a bad body are 400, a busy server 409', async () => {
    const queued = await cloud.api.deps.images.create({ name: 'q', visibility: 'public' });
    for (const [body, message] of [
      [{ imageRef: '00000000-0000-4000-8000-000000000000' }, /could not be found/],
      [{ imageRef: queued.id }, /is not active/],
      [{}, /imageRef/],
      [{ imageRef: cloud.image.id, bogus: 1 }, /bogus/],
    ] as const) {
      const r = await action({ rebuild: body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.badRequest.message, message);
    }
    await action({ 'os-stop': null });
    await waitFor('stopped', async () => (await idle()).status === 'SHUTOFF');
    await action({ pause: null }).then((r) => assert.equal(r.status, 409));
    const r = await action({ rebuild: { imageRef: cloud.image.id } });
    assert.equal(r.status, 202);
    const again = await action({ rebuild: { imageRef: cloud.image.id } });
    // The first rebuild may still run, or be done: the second conflicts only while it does.
    assert.ok([202, 409].includes(again.status));
    const server = await idle();
    assert.equal(server.status, 'SHUTOFF', 'a stopped server is stopped again after its rebuild');
  });
});
