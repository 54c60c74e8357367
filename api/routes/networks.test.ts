import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';
const ADMIN = 'admin:admin';

describeEachDatabase('os-networks and os-tenant-networks', (database) => {
  let api: TestApi;
  let mine: string;
  let theirs: string;
  before(async () => {
    api = await startTestApi({ database });
    const make = async (name: string, token?: string) =>
      (await api.request('POST', '/network/v2.0/networks', { body: { network: { name } }, token }))
        .body.network.id as string;
    mine = await make('mine');
    theirs = await make('theirs', OTHER);
  });
  after(() => api.close());

  const labels = async (path: string, token?: string) =>
    (await api.request('GET', path, { token })).body.networks
      .map((n: { label: string }) => n.label)
      .sort();

  it("lists the networks the project sees (its own and public), in Nova's shape", async () => {
    assert.deepEqual(await labels('/v2.1/os-networks'), ['mine', 'public']);
    assert.deepEqual(await labels('/v2.1/os-networks', OTHER), ['public', 'theirs']);
    const shown = await api.request('GET', `/v2.1/os-networks/${mine}`);
    assert.equal(shown.status, 200);
    const n = shown.body.network;
    assert.equal(n.id, mine);
    assert.equal(n.label, 'mine');
    assert.equal(Object.keys(n).length, 11);
    for (const [k, v] of Object.entries(n))
      if (k !== 'id' && k !== 'label') assert.equal(v, null, k);
    const admin = await api.request('GET', `/v2.1/os-networks/${mine}`, { token: ADMIN });
    assert.equal(Object.keys(admin.body.network).length, 32);
    assert.equal(admin.body.network.mtu, null);
  });

  it("another project's network and an unknown one are 404 Network not found", async () => {
    for (const id of [theirs, randomUUID()]) {
      const r = await api.request('GET', `/v2.1/os-networks/${id}`);
      assert.equal(r.status, 404);
      assert.equal(r.body.itemNotFound.message, 'Network not found');
      assert.equal((await api.request('GET', `/v2.1/os-tenant-networks/${id}`)).status, 404);
    }
  });

  it('os-tenant-networks: id, cidr (None, as Nova) and label', async () => {
    assert.deepEqual(await labels('/v2.1/os-tenant-networks'), ['mine', 'public']);
    const r = await api.request('GET', `/v2.1/os-tenant-networks/${mine}`);
    assert.deepEqual(r.body, { network: { id: mine, cidr: 'None', label: 'mine' } });
  });

  it("nova-network's management is 410 Gone, even for an admin", async () => {
    const calls: [string, string][] = [
      ['POST', '/v2.1/os-networks'],
      ['DELETE', `/v2.1/os-networks/${mine}`],
      ['POST', '/v2.1/os-networks/add'],
      ['POST', `/v2.1/os-networks/${mine}/action`],
      ['POST', '/v2.1/os-tenant-networks'],
      ['DELETE', `/v2.1/os-tenant-networks/${mine}`],
    ];
    for (const [method, path] of calls) {
      const r = await api.request(method, path, { token: ADMIN, body: { network: {} } });
      assert.equal(r.status, 410, `${method} ${path}`);
      assert.equal(r.body.computeFault.code, 410);
    }
    assert.equal((await api.request('GET', `/v2.1/os-networks/${mine}`)).status, 200);
  });

  it('is gone from microversion 2.36', async () => {
    for (const path of ['/v2.1/os-networks', '/v2.1/os-tenant-networks'])
      assert.equal((await api.request('GET', path, { version: '2.36' })).status, 404, path);
  });
});
