import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';
const ADMIN = 'admin:admin';

describeEachDatabase('network API: version discovery and networks', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database, config: { network: { vni_min: 500, vni_max: 502 } } });
  });
  after(() => api.close());

  it('answers version discovery without a token, with the Host the client used', async () => {
    const r = await api.request('GET', '/network/', { token: null });
    assert.equal(r.status, 200);
    const host = new URL(api.url).host;
    assert.deepEqual(r.body, {
      versions: [
        {
          id: 'v2.0',
          status: 'CURRENT',
          links: [{ rel: 'self', href: `http://${host}/network/v2.0/` }],
        },
      ],
    });
    assert.equal((await api.request('GET', '/network/v2.0/', { token: null })).status, 401);
    const resources = await api.request('GET', '/network/v2.0/');
    assert.equal(resources.status, 200);
    assert.ok(
      resources.body.resources.some((x: { collection: string }) => x.collection === 'networks'),
    );
    const bare = await api.request('GET', '/network/v2.0');
    assert.equal(bare.status, 404);
    assert.equal(bare.body.NeutronError.type, 'HTTPNotFound');
  });

  it('creates a network as Neutron shows it, and provider attributes only to admins', async () => {
    const r = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { name: 'net1', admin_state_up: true } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const n = r.body.network;
    assert.equal(n.mtu, 1450);
    assert.equal(n.status, 'ACTIVE');
    assert.deepEqual(n.subnets, []);
    assert.equal(n.shared, false);
    assert.equal(n['router:external'], false);
    assert.equal(n.revision_number, 1);
    assert.equal(n.project_id, 'demo');
    assert.equal(n.tenant_id, 'demo');
    assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(n['provider:network_type'], undefined);
    const asAdmin = await api.request('GET', `/network/v2.0/networks/${n.id}`, { token: ADMIN });
    assert.equal(asAdmin.body.network['provider:network_type'], 'vxlan');
    assert.ok(asAdmin.body.network['provider:segmentation_id'] >= 500);
  });

  it('has the external network public from the start, visible to every project', async () => {
    const r = await api.request('GET', '/network/v2.0/networks?router%3Aexternal=True', {
      token: OTHER,
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.networks.length, 1);
    const pub = r.body.networks[0];
    assert.equal(pub.name, 'public');
    assert.equal(pub.mtu, 1500);
    assert.equal(pub.is_default, false);
    assert.equal(pub.project_id, 'admin');
    assert.equal(pub.subnets.length, 1);
    const subnet = await api.request('GET', `/network/v2.0/subnets/${pub.subnets[0]}`, {
      token: ADMIN,
    });
    assert.equal(subnet.body.subnet.cidr, '172.24.4.0/24');
    assert.equal(subnet.body.subnet.enable_dhcp, false);
  });

  it('refuses unknown attributes, wrong types and admin-only attributes as Neutron does', async () => {
    const unknown = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { name: 'bad', no_such_attribute: 1 } },
    });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body, {
      NeutronError: {
        type: 'HTTPBadRequest',
        message: "Unrecognized attribute(s) 'no_such_attribute'",
        detail: '',
      },
    });
    const type = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { admin_state_up: 'maybe' } },
    });
    assert.equal(type.status, 400);
    assert.match(type.body.NeutronError.message, /Invalid input for admin_state_up/);
    const provider = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { name: 'x', 'provider:network_type': 'vxlan' } },
    });
    assert.equal(provider.status, 403);
    assert.deepEqual(provider.body.NeutronError, {
      type: 'PolicyNotAuthorized',
      message:
        '(rule:create_network and rule:create_network:provider:network_type) is disallowed by policy',
      detail: '',
    });
    const tenant = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { tenant_id: 'someone-else' } },
    });
    assert.equal(tenant.status, 400);
    for (const text of ['{', '[]', 'null', '{"network": 5}']) {
      const r = await api.request('POST', '/network/v2.0/networks', { body: text });
      assert.equal(r.status, 400, text);
      assert.equal(typeof r.body.NeutronError.message, 'string');
    }
  });

  it('hides other projects’ networks (404) and refuses writes on visible ones it does not own (403)', async () => {
    const mine = (
      await api.request('POST', '/network/v2.0/networks', {
        body: { network: { name: 'private' } },
      })
    ).body.network;
    const other = await api.request('GET', `/network/v2.0/networks/${mine.id}`, { token: OTHER });
    assert.equal(other.status, 404);
    assert.deepEqual(other.body.NeutronError, {
      type: 'NetworkNotFound',
      message: `Network ${mine.id} could not be found.`,
      detail: '',
    });
    assert.equal(
      (await api.request('DELETE', `/network/v2.0/networks/${mine.id}`, { token: OTHER })).status,
      404,
    );
    const list = await api.request('GET', '/network/v2.0/networks', { token: OTHER });
    assert.ok(!list.body.networks.some((n: { id: string }) => n.id === mine.id));
    const admin = await api.request('GET', '/network/v2.0/networks', { token: ADMIN });
    assert.ok(admin.body.networks.some((n: { id: string }) => n.id === mine.id));
    const pub = list.body.networks.find((n: { name: string }) => n.name === 'public');
    const put = await api.request('PUT', `/network/v2.0/networks/${pub.id}`, {
      token: OTHER,
      body: { network: { name: 'mine-now' } },
    });
    assert.equal(put.status, 403);
    assert.equal(put.body.NeutronError.message, 'rule:update_network is disallowed by policy');
  });

  it('bumps revision_number on updates and answers a stale If-Match with 412', async () => {
    const n = (
      await api.request('POST', '/network/v2.0/networks', { body: { network: { name: 'rev' } } })
    ).body.network;
    const up = await api.request('PUT', `/network/v2.0/networks/${n.id}`, {
      body: { network: { description: 'one' } },
    });
    assert.equal(up.status, 200);
    assert.equal(up.body.network.revision_number, 2);
    assert.equal(up.body.network.description, 'one');
    const stale = await api.request('PUT', `/network/v2.0/networks/${n.id}`, {
      headers: { 'if-match': 'revision_number=1' },
      body: { network: { description: 'stale' } },
    });
    assert.equal(stale.status, 412);
    assert.deepEqual(stale.body.NeutronError, {
      type: 'RevisionNumberConstraintFailed',
      message: 'Constrained to 1, but current revision is 2',
      detail: '',
    });
    const ro = await api.request('PUT', `/network/v2.0/networks/${n.id}`, {
      body: { network: { status: 'DOWN' } },
    });
    assert.equal(ro.status, 400);
  });

  it('runs out of VNIs with 503 NoNetworkAvailable and a delete frees one', async () => {
    // vni 500..502: three networks exist from the tests above.
    const full = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { name: 'fourth' } },
    });
    assert.equal(full.status, 503);
    assert.equal(full.body.NeutronError.type, 'NoNetworkAvailable');
    const list = await api.request('GET', '/network/v2.0/networks?name=rev');
    assert.equal(
      (await api.request('DELETE', `/network/v2.0/networks/${list.body.networks[0].id}`)).status,
      204,
    );
    assert.equal(
      (
        await api.request('POST', '/network/v2.0/networks', {
          body: { network: { name: 'fourth' } },
        })
      ).status,
      201,
    );
  });

  it('answers an unknown path under /network with a plain Neutron 404', async () => {
    for (const path of ['/network/v2.0/nothing', '/network/v3/', '/network/v2.0/networks/x/y/z']) {
      const r = await api.request('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.NeutronError.type, 'HTTPNotFound');
    }
  });
});
