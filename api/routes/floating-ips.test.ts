import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';

describeEachDatabase('os-floating-ips and os-floating-ip-pools', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database, config: { network: { quota_floatingip: 2 } } });
  });
  after(() => api.close());

  const neutron = async (method: string, path: string, body?: unknown) => {
    const r = await api.request(method, `/network/v2.0/${path}`, { body });
    assert.ok(r.status < 300, `${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const allocate = (body?: unknown, token?: string) =>
    api.request('POST', '/v2.1/os-floating-ips', { body, token });

  it('lists the external networks as pools', async () => {
    const r = await api.request('GET', '/v2.1/os-floating-ip-pools');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { floating_ip_pools: [{ name: 'public' }] });
  });

  it('allocates from the default or a named pool, shows, lists and releases, in Nova shape', async () => {
    const a = await allocate();
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const fip = a.body.floating_ip;
    assert.deepEqual(Object.keys(fip).sort(), ['fixed_ip', 'id', 'instance_id', 'ip', 'pool']);
    assert.equal(fip.pool, 'public');
    assert.match(fip.ip, /^172\.24\.4\.\d+$/);
    assert.equal(fip.fixed_ip, null);
    assert.equal(fip.instance_id, null);
    const shown = await api.request('GET', `/v2.1/os-floating-ips/${fip.id}`);
    assert.deepEqual(shown.body.floating_ip, fip);
    const named = await allocate({ pool: 'public' });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    const list = await api.request('GET', '/v2.1/os-floating-ips');
    assert.deepEqual(
      list.body.floating_ips.map((f: { id: string }) => f.id).sort(),
      [fip.id, named.body.floating_ip.id].sort(),
    );
    const over = await allocate({ pool: 'public' });
    assert.equal(over.status, 403, JSON.stringify(over.body));
    assert.equal(over.body.forbidden.message, 'IP allocation over quota in pool public.');
    const theirs = await api.request('GET', `/v2.1/os-floating-ips/${fip.id}`, { token: OTHER });
    assert.equal(theirs.status, 404);
    assert.equal(
      (await api.request('DELETE', `/v2.1/os-floating-ips/${fip.id}`, { token: OTHER })).status,
      404,
    );
    for (const id of [fip.id, named.body.floating_ip.id])
      assert.equal((await api.request('DELETE', `/v2.1/os-floating-ips/${id}`)).status, 202);
    const gone = await api.request('GET', `/v2.1/os-floating-ips/${fip.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Floating IP not found for ID ${fip.id}`);
  });

  it('refuses an unknown pool or one that is not external (404)', async () => {
    const inner = await neutron('POST', 'networks', { network: { name: 'inner' } });
    for (const pool of ['nope', inner.network.id, 'inner']) {
      const r = await allocate({ pool });
      assert.equal(r.status, 404, pool);
      assert.equal(r.body.itemNotFound.message, 'Floating IP pool not found.');
    }
  });

  it('shows the instance and fixed IP of an associated address; release takes the association', async () => {
    const pub = (await neutron('GET', 'networks?name=public')).networks[0].id;
    const net = (await neutron('POST', 'networks', { network: { name: 'fip-net' } })).network.id;
    const subnet = (
      await neutron('POST', 'subnets', {
        subnet: { network_id: net, ip_version: 4, cidr: '10.31.0.0/24' },
      })
    ).subnet.id;
    const router = (await neutron('POST', 'routers', { router: { name: 'fip-r' } })).router.id;
    await neutron('PUT', `routers/${router}/add_router_interface`, { subnet_id: subnet });
    await neutron('PUT', `routers/${router}`, {
      router: { external_gateway_info: { network_id: pub } },
    });
    const server = randomUUID();
    const port = (
      await neutron('POST', 'ports', {
        port: { network_id: net, device_id: server, device_owner: 'compute:nova' },
      })
    ).port;
    const fip = (await allocate()).body.floating_ip;
    await neutron('PUT', `floatingips/${fip.id}`, { floatingip: { port_id: port.id } });
    const shown = (await api.request('GET', `/v2.1/os-floating-ips/${fip.id}`)).body.floating_ip;
    assert.equal(shown.instance_id, server);
    assert.equal(shown.fixed_ip, port.fixed_ips[0].ip_address);
    assert.equal((await api.request('DELETE', `/v2.1/os-floating-ips/${fip.id}`)).status, 202);
    assert.equal((await api.request('GET', `/network/v2.0/floatingips/${fip.id}`)).status, 404);
  });

  it('is gone from microversion 2.36', async () => {
    for (const path of ['/v2.1/os-floating-ips', '/v2.1/os-floating-ip-pools'])
      assert.equal((await api.request('GET', path, { version: '2.36' })).status, 404, path);
  });
});
