import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

describeEachDatabase('PUT /servers/{id}', (database) => {
  let cloud: TestCloud;
  let id: string;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: {
        server: {
          name: 'upd',
          imageRef: cloud.image.id,
          flavorRef: '1',
          accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2',
        },
      },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
  });
  after(() => cloud.close());

  test("answers at 2.1 with Nova's update view: no extended attributes", async () => {
    const r = await cloud.request('PUT', `/v2.1/servers/${id}`, {
      token: 'admin:admin',
      body: { server: { name: 'renamed', accessIPv4: '1.1.1.1', accessIPv6: '::BABE:202:202' } },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.server).sort(), [
      'OS-DCF:diskConfig',
      'accessIPv4',
      'accessIPv6',
      'addresses',
      'created',
      'flavor',
      'hostId',
      'id',
      'image',
      'links',
      'metadata',
      'name',
      'progress',
      'status',
      'tenant_id',
      'updated',
      'user_id',
    ]);
    assert.equal(r.body.server.accessIPv6, '::babe:202:202');
    for (const list of Object.values(r.body.server.addresses) as Record<string, unknown>[][])
      for (const a of list) assert.deepEqual(Object.keys(a).sort(), ['addr', 'version']);
  });

  test('adds the gated keys per microversion and shows everything from 2.75', async () => {
    const at = async (version: string) =>
      (
        await cloud.request('PUT', `/v2.1/servers/${id}`, {
          version,
          body: { server: { name: 'renamed' } },
        })
      ).body.server;
    const s273 = await at('2.73');
    for (const k of [
      'locked',
      'description',
      'tags',
      'trusted_image_certificates',
      'locked_reason',
    ])
      assert.ok(k in s273, k);
    assert.equal(s273.key_name, undefined);
    assert.equal(s273['OS-EXT-STS:vm_state'], undefined);
    const s275 = await at('2.75');
    const shown = await cloud.request('GET', `/v2.1/servers/${id}`, { version: '2.75' });
    assert.deepEqual(Object.keys(s275).sort(), Object.keys(shown.body.server).sort());
  });

  test('keeps access IPv6 addresses in canonical form from create', async () => {
    const created = await cloud.request('POST', '/v2.1/servers', {
      body: {
        server: {
          name: 'v6',
          imageRef: cloud.image.id,
          flavorRef: '1',
          accessIPv6: '2001:DB8:0:0::1',
        },
      },
    });
    const r = await cloud.request('GET', `/v2.1/servers/${created.body.server.id}`);
    assert.equal(r.body.server.accessIPv6, '2001:db8::1');
  });

  test('refuses malformed access addresses with 400', async () => {
    for (const server of [{ accessIPv4: '1.1.1.1.1.1' }, { accessIPv6: 'notvalid' }]) {
      const r = await cloud.request('PUT', `/v2.1/servers/${id}`, { body: { server } });
      assert.equal(r.status, 400, JSON.stringify(server));
      assert.equal(r.body.badRequest.code, 400);
    }
  });
});

describeEachDatabase('os-server-password', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
  });
  after(() => cloud.close());

  test('is empty (no metadata service to post one), clears with 204, 404 for no server', async () => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'pw', imageRef: cloud.image.id, flavorRef: '42' } },
    });
    const id = r.body.server.id;
    const pw = await cloud.request('GET', `/v2.1/servers/${id}/os-server-password`);
    assert.deepEqual([pw.status, pw.body], [200, { password: '' }]);
    const del = await cloud.request('DELETE', `/v2.1/servers/${id}/os-server-password`);
    assert.equal(del.status, 204);
    const none = await cloud.request('GET', '/v2.1/servers/no-such/os-server-password');
    assert.equal(none.status, 404);
  });
});
