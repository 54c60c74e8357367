import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startVolumeCloud, type TestCloud } from '../../testing/api/test-cloud';
import { FakeVolumeHost } from '../../testing/volume/fake-volume-host';
import { waitFor } from '../../testing/wait-for';

const ADMIN = 'admin:admin';
const OTHER = 'alice:other';

describeEachDatabase('os-volume_attachments', (database) => {
  let cloud: TestCloud;
  let volumeHost: FakeVolumeHost;
  let server: string;
  const attachments = () => `/v2.1/servers/${server}/os-volume_attachments`;

  const volume = async (body: Record<string, unknown> = {}, token?: string) => {
    const r = await cloud.request('POST', '/volume/v3/demo/volumes', {
      body: { volume: { size: 1, ...body } },
      token,
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await cloud.api.deps.volumes.drain();
    return r.body.volume.id as string;
  };
  const cinder = async (id: string) =>
    (await cloud.request('GET', `/volume/v3/demo/volumes/${id}`)).body.volume;
  const attach = (body: Record<string, unknown>, o: { version?: string; token?: string } = {}) =>
    cloud.request('POST', attachments(), { body: { volumeAttachment: body }, ...o });

  before(async () => {
    ({ cloud, volumeHost } = await startVolumeCloud({ database }));
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'vm', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    server = r.body.server.id;
    await cloud.waitForStatus(server, ['ACTIVE']);
  });
  after(async () => {
    await volumeHost?.stop();
    await cloud?.close();
  });

  test('attach, list, show, server view, Cinder view, detach', async () => {
    const v1 = await volume({ name: 'data' });
    const r = await attach({ volumeId: v1 }, { version: '2.79' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.volumeAttachment, {
      id: v1,
      volumeId: v1,
      serverId: server,
      device: '/dev/vdb',
      tag: null,
      delete_on_termination: false,
    });
    const c = await cinder(v1);
    assert.equal(c.status, 'in-use');
    assert.equal(c.attachments.length, 1);
    assert.equal(c.attachments[0].server_id, server);
    assert.equal(c.attachments[0].device, '/dev/vdb');
    assert.ok(c.attachments[0].attached_at);

    const v2 = await volume();
    const second = await attach({ volumeId: v2, tag: 'logs' }, { version: '2.70' });
    assert.equal(second.body.volumeAttachment.device, '/dev/vdc');
    assert.equal(second.body.volumeAttachment.tag, 'logs');

    const list = await cloud.request('GET', attachments());
    assert.deepEqual(list.body.volumeAttachments, [
      { id: v1, volumeId: v1, serverId: server, device: '/dev/vdb' },
      { id: v2, volumeId: v2, serverId: server, device: '/dev/vdc' },
    ]);
    const page = await cloud.request('GET', `${attachments()}?limit=1&offset=1`);
    assert.deepEqual(
      page.body.volumeAttachments.map((a: { volumeId: string }) => a.volumeId),
      [v2],
    );
    const shown = await cloud.request('GET', `${attachments()}/${v2}`, { version: '2.89' });
    assert.equal(shown.body.volumeAttachment.id, undefined, '2.89 drops the id');
    assert.equal(typeof shown.body.volumeAttachment.attachment_id, 'string');
    assert.equal(shown.body.volumeAttachment.bdm_uuid, shown.body.volumeAttachment.attachment_id);
    assert.equal(shown.body.volumeAttachment.delete_on_termination, false);

    const s = await cloud.request('GET', `/v2.1/servers/${server}`, { version: '2.3' });
    assert.deepEqual(s.body.server['os-extended-volumes:volumes_attached'], [
      { id: v1, delete_on_termination: false },
      { id: v2, delete_on_termination: false },
    ]);
    const old = await cloud.request('GET', `/v2.1/servers/${server}`, { version: '2.1' });
    assert.deepEqual(old.body.server['os-extended-volumes:volumes_attached'], [
      { id: v1 },
      { id: v2 },
    ]);

    for (const v of [v1, v2]) {
      const d = await cloud.request('DELETE', `${attachments()}/${v}`);
      assert.equal(d.status, 202, JSON.stringify(d.body));
      const after = await cinder(v);
      assert.equal(after.status, 'available');
      assert.deepEqual(after.attachments, []);
    }
    const gone = await cloud.request('DELETE', `${attachments()}/${v1}`);
    assert.equal(gone.status, 404);
    assert.match(gone.body.itemNotFound.message, /is not attached to the instance/);
    const notShown = await cloud.request('GET', `${attachments()}/${v1}`);
    assert.equal(notShown.status, 404);
  });

  test('bad bodies are 400s per microversion, never 500s', async () => {
    const v = await volume();
    const bad: [Record<string, unknown>, string | undefined][] = [
      [{}, undefined],
      [{ volumeId: 'nope' }, undefined],
      [{ volumeId: v, device: 'vdb' }, undefined],
      [{ volumeId: v, tag: 'a' }, '2.48'],
      [{ volumeId: v, tag: 'a/b' }, '2.49'],
      [{ volumeId: v, delete_on_termination: true }, '2.78'],
      [{ volumeId: v, delete_on_termination: 'maybe' }, '2.79'],
      [{ volumeId: v, extra: 1 }, undefined],
    ];
    for (const [body, version] of bad) {
      const r = await attach(body, { version });
      assert.equal(
        r.status,
        400,
        `${JSON.stringify(body)} at ${version}: ${JSON.stringify(r.body)}`,
      );
      assert.equal(r.body.badRequest.code, 400);
    }
    const noBody = await cloud.request('POST', attachments(), { body: {} });
    assert.equal(noBody.status, 400);
    assert.equal((await cinder(v)).status, 'available');
  });

  test('faults: unknown or foreign volume, twice, busy device, locked, state, bad mount point', async () => {
    const missing = await attach({ volumeId: '9f3c1a52-52cc-4a4e-9a8c-3a1e1c1d0000' });
    assert.equal(missing.status, 404);
    assert.match(missing.body.itemNotFound.message, /Volume .* could not be found/);
    const foreign = await volume({}, OTHER);
    assert.equal((await attach({ volumeId: foreign })).status, 404);
    const otherServer = await cloud.request('GET', attachments(), { token: OTHER });
    assert.equal(otherServer.status, 404);

    const v = await volume();
    assert.equal(
      (await attach({ volumeId: v, device: '/dev/vdq' })).body.volumeAttachment.device,
      '/dev/vdq',
    );
    const twice = await attach({ volumeId: v });
    assert.equal(twice.status, 400);
    assert.match(twice.body.badRequest.message, /already attached/);
    const v2 = await volume();
    const inUse = await attach({ volumeId: v2, device: '/dev/vdq' });
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.conflictingRequest.message, /is in use/);
    const attachedElsewhere = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'vm2', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    const vm2 = attachedElsewhere.body.server.id as string;
    await cloud.waitForStatus(vm2, ['ACTIVE']);
    const busy = await cloud.request('POST', `/v2.1/servers/${vm2}/os-volume_attachments`, {
      body: { volumeAttachment: { volumeId: v } },
    });
    assert.equal(busy.status, 400);
    assert.match(busy.body.badRequest.message, /status must be 'available'. Currently in 'in-use'/);

    await cloud.request('POST', `/v2.1/servers/${vm2}/action`, { body: { lock: null } });
    const locked = await cloud.request('POST', `/v2.1/servers/${vm2}/os-volume_attachments`, {
      body: { volumeAttachment: { volumeId: v2 } },
    });
    assert.equal(locked.status, 409);
    assert.match(locked.body.conflictingRequest.message, /is locked/);
    await cloud.request('POST', `/v2.1/servers/${vm2}/action`, { body: { unlock: null } });
    await cloud.request('POST', `/v2.1/servers/${vm2}/action`, { body: { suspend: null } });
    await cloud.waitForStatus(vm2, ['SUSPENDED']);
    const suspended = await cloud.request('POST', `/v2.1/servers/${vm2}/os-volume_attachments`, {
      body: { volumeAttachment: { volumeId: v2 } },
    });
    assert.equal(suspended.status, 409);
    assert.match(suspended.body.conflictingRequest.message, /vm_state suspended/);

    const badMount = await volume({ metadata: { mount_point: '/proc/x' } });
    const refused = await attach({ volumeId: badMount });
    assert.equal(refused.status, 400);
    assert.match(refused.body.badRequest.message, /mount point/);
    assert.equal((await cinder(badMount)).status, 'available');
    assert.equal((await cloud.request('DELETE', `${attachments()}/${v}`)).status, 202);
  });

  test("a compute's failure puts the volume back and says why", async () => {
    const v = await volume();
    const host = (await cloud.request('GET', `/v2.1/servers/${server}`, { token: ADMIN })).body
      .server['OS-EXT-SRV-ATTR:host'] as string;
    const driver = cloud.computes.get(host)!.driver;
    driver.failNext('attachVolume', new Error('the disk is on fire'));
    const r = await attach({ volumeId: v });
    assert.equal(r.status, 500);
    assert.match(r.body.computeFault.message, /the disk is on fire/);
    const c = await cinder(v);
    assert.equal(c.status, 'available');
    assert.deepEqual(c.attachments, []);
    assert.deepEqual((await cloud.request('GET', attachments())).body.volumeAttachments, []);

    assert.equal((await attach({ volumeId: v })).status, 200);
    driver.failNext('detachVolume', new Error('still busy'));
    const d = await cloud.request('DELETE', `${attachments()}/${v}`);
    assert.equal(d.status, 500);
    assert.match(d.body.computeFault.message, /still busy/);
    assert.equal((await cinder(v)).status, 'in-use');
    assert.equal((await cloud.request('DELETE', `${attachments()}/${v}`)).status, 202);
  });

  test('PUT: swap is admin-only and accepted but refused by the driver; 2.85 updates delete_on_termination', async () => {
    const v = await volume();
    const other = await volume();
    assert.equal((await attach({ volumeId: v })).status, 200);
    const put = (body: Record<string, unknown>, o: { token?: string; version?: string } = {}) =>
      cloud.request('PUT', `${attachments()}/${v}`, { body: { volumeAttachment: body }, ...o });
    const denied = await put({ volumeId: other });
    assert.equal(denied.status, 403);
    assert.match(denied.body.forbidden.message, /os-volumes-attachments:swap/);
    const unknown = await put({ volumeId: randomUUID() }, { token: ADMIN });
    assert.equal(unknown.status, 400, 'an unknown new volume is bad input, as Nova says');
    const swap = await put({ volumeId: other }, { token: ADMIN });
    assert.equal(swap.status, 202);
    assert.equal((await cinder(other)).status, 'available');
    assert.equal((await cinder(v)).status, 'in-use');
    const actions = await cloud.request('GET', `/v2.1/servers/${server}/os-instance-actions`);
    assert.equal(actions.body.instanceActions[0].action, 'swap_volume');

    assert.equal(
      (await put({ volumeId: v, delete_on_termination: true })).status,
      400,
      'delete_on_termination is a 2.85 field',
    );
    assert.equal((await put({ volumeId: v })).status, 403, 'before 2.85 every PUT is a swap');
    assert.equal(
      (await put({ volumeId: v, delete_on_termination: true }, { version: '2.85' })).status,
      202,
    );
    const shown = await cloud.request('GET', `${attachments()}/${v}`, { version: '2.85' });
    assert.equal(shown.body.volumeAttachment.delete_on_termination, true);
    assert.equal((await put({ volumeId: v, bogus: 1 }, { version: '2.85' })).status, 400);
    assert.equal((await cloud.request('DELETE', `${attachments()}/${v}`)).status, 202);
  });

  test('deleting the server frees its volumes and deletes the delete_on_termination ones', async () => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'doomed', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    const doomed = r.body.server.id as string;
    await cloud.waitForStatus(doomed, ['ACTIVE']);
    const kept = await volume();
    const dropped = await volume();
    const url = `/v2.1/servers/${doomed}/os-volume_attachments`;
    for (const [volumeId, dot] of [
      [kept, false],
      [dropped, true],
    ] as const) {
      const a = await cloud.request('POST', url, {
        body: { volumeAttachment: { volumeId, delete_on_termination: dot } },
        version: '2.79',
      });
      assert.equal(a.status, 200, JSON.stringify(a.body));
    }
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${doomed}`)).status, 204);
    await cloud.waitForStatus(doomed, ['DELETED']);
    await waitFor('the kept volume is available again', async () => {
      const c = await cinder(kept);
      return c.status === 'available' && c.attachments.length === 0;
    });
    // Its deletion goes on after the server is gone, as Nova's delete_on_termination does.
    await waitFor(
      'the delete_on_termination volume to be gone',
      async () => (await cloud.request('GET', `/volume/v3/demo/volumes/${dropped}`)).status === 404,
    );
  });
});
