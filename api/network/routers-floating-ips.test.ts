import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';

describeEachDatabase('network API: routers, floating IPs and port forwardings', (database) => {
  let api: TestApi;
  let pub: string;
  let net: string;
  let subnet: string;
  let router: string;
  let port: { id: string; fixed_ips: { ip_address: string }[] };
  const req = (method: string, path: string, body?: unknown, token?: string) =>
    api.request(method, `/network/v2.0/${path}`, { body, token });

  before(async () => {
    api = await startTestApi({ database });
    pub = (await req('GET', 'networks?name=public')).body.networks[0].id;
    net = (await req('POST', 'networks', { network: { name: 'inner' } })).body.network.id;
    subnet = (
      await req('POST', 'subnets', {
        subnet: { network_id: net, ip_version: 4, cidr: '10.30.0.0/24' },
      })
    ).body.subnet.id;
    port = (await req('POST', 'ports', { port: { network_id: net, name: 'vm-port' } })).body.port;
  });
  after(() => api.close());

  it('creates a router, adds the subnet (gateway IP) and sets the gateway on public', async () => {
    const r = await req('POST', 'routers', { router: { name: 'r1' } });
    assert.equal(r.status, 201);
    assert.equal(r.body.router.external_gateway_info, null);
    assert.equal(r.body.router.status, 'ACTIVE');
    router = r.body.router.id;
    const add = await req('PUT', `routers/${router}/add_router_interface`, { subnet_id: subnet });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(Object.keys(add.body).sort(), [
      'id',
      'network_id',
      'port_id',
      'subnet_id',
      'subnet_ids',
      'tenant_id',
    ]);
    const iface = (await req('GET', `ports/${add.body.port_id}`)).body.port;
    assert.equal(iface.device_owner, 'network:router_interface');
    assert.equal(iface.fixed_ips[0].ip_address, '10.30.0.1');
    assert.equal(iface.port_security_enabled, false);
    const again = await req('PUT', `routers/${router}/add_router_interface`, { subnet_id: subnet });
    assert.equal(again.status, 400);
    // Another network's subnet overlapping one the router has: it could not route between them.
    const twin = (await req('POST', 'networks', { network: { name: 'twin' } })).body.network.id;
    const twinSubnet = (
      await req('POST', 'subnets', {
        subnet: { network_id: twin, ip_version: 4, cidr: '10.30.0.0/25' },
      })
    ).body.subnet.id;
    const overlap = await req('PUT', `routers/${router}/add_router_interface`, {
      subnet_id: twinSubnet,
    });
    assert.equal(overlap.status, 400);
    assert.match(overlap.body.NeutronError.message, /overlaps with cidr 10\.30\.0\.0\/24/);
    assert.equal((await req('DELETE', `networks/${twin}`)).status, 204);
    const cleared = await req('PUT', `routers/${router}`, { router: { routes: null } });
    assert.deepEqual([cleared.status, cleared.body.router?.routes], [200, []]);
    const set = await req('PUT', `routers/${router}`, {
      router: { external_gateway_info: { network_id: pub } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const gw = set.body.router.external_gateway_info;
    assert.equal(gw.network_id, pub);
    assert.equal(gw.enable_snat, true);
    assert.match(gw.external_fixed_ips[0].ip_address, /^172\.24\.4\.\d+$/);
    const noSnat = await req('PUT', `routers/${router}`, {
      router: { external_gateway_info: { network_id: pub, enable_snat: false } },
    });
    assert.equal(noSnat.status, 403);
    const notExternal = await req('PUT', `routers/${router}`, {
      router: { external_gateway_info: { network_id: net } },
    });
    assert.equal(notExternal.status, 400);
  });

  it('associates a floating IP through the router and refuses a port with no route to public (404)', async () => {
    const fip = await req('POST', 'floatingips', { floatingip: { floating_network_id: pub } });
    assert.equal(fip.status, 201, JSON.stringify(fip.body));
    assert.equal(fip.body.floatingip.status, 'DOWN');
    assert.equal(fip.body.floatingip.port_details, null);
    const id = fip.body.floatingip.id;
    const set = await req('PUT', `floatingips/${id}`, { floatingip: { port_id: port.id } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.floatingip.router_id, router);
    assert.equal(set.body.floatingip.fixed_ip_address, port.fixed_ips[0].ip_address);
    assert.equal(set.body.floatingip.status, 'ACTIVE');
    assert.equal(set.body.floatingip.port_details.name, 'vm-port');
    const listed = await req('GET', `floatingips?port_id=${port.id}`);
    assert.equal(listed.body.floatingips.length, 1);
    // Moved to another port without naming an address: that port's own address.
    const other = (await req('POST', 'ports', { port: { network_id: net } })).body.port;
    const moved = await req('PUT', `floatingips/${id}`, { floatingip: { port_id: other.id } });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.floatingip.fixed_ip_address, other.fixed_ips[0].ip_address);
    assert.equal(
      (await req('PUT', `floatingips/${id}`, { floatingip: { port_id: port.id } })).status,
      200,
    );
    assert.equal((await req('DELETE', `ports/${other.id}`)).status, 204);
    const lonely = (await req('POST', 'networks', { network: { name: 'lonely' } })).body.network.id;
    const ls = (
      await req('POST', 'subnets', {
        subnet: { network_id: lonely, ip_version: 4, cidr: '10.31.0.0/24' },
      })
    ).body.subnet.id;
    const lp = (await req('POST', 'ports', { port: { network_id: lonely } })).body.port.id;
    const nope = await req('POST', 'floatingips', {
      floatingip: { floating_network_id: pub, port_id: lp },
    });
    assert.equal(nope.status, 404);
    assert.deepEqual(nope.body.NeutronError, {
      type: 'ExternalGatewayForFloatingIPNotFound',
      message: `External network ${pub} is not reachable from subnet ${ls}.  Therefore, cannot associate Port ${lp} with a Floating IP.`,
      detail: '',
    });
    const busyIface = await req('PUT', `routers/${router}/remove_router_interface`, {
      subnet_id: subnet,
    });
    assert.equal(busyIface.status, 409);
    const busyGw = await req('PUT', `routers/${router}`, { router: { external_gateway_info: {} } });
    assert.equal(busyGw.status, 409);
    const unset = await req('PUT', `floatingips/${id}`, { floatingip: { port_id: null } });
    assert.equal(unset.body.floatingip.port_id, null);
    assert.equal(unset.body.floatingip.router_id, null);
    assert.equal(unset.body.floatingip.status, 'DOWN');
    assert.equal((await req('DELETE', `floatingips/${id}`)).status, 204);
    assert.equal((await req('GET', `floatingips/${id}`, undefined, OTHER)).status, 404);
  });

  it('creates, lists, shows, updates and deletes port forwardings, refusing duplicates with 400', async () => {
    const fip = (
      await req('POST', 'floatingips', {
        floatingip: { floating_network_id: pub, description: 'for port forwarding' },
      })
    ).body.floatingip;
    const body = {
      port_forwarding: {
        internal_port: 22,
        internal_port_id: port.id,
        protocol: 'tcp',
        external_port: 2222,
        internal_ip_address: port.fixed_ips[0].ip_address,
        description: 'ssh',
      },
    };
    const pf = await req('POST', `floatingips/${fip.id}/port_forwardings`, body);
    assert.equal(pf.status, 201, JSON.stringify(pf.body));
    assert.deepEqual(Object.keys(pf.body.port_forwarding).sort(), [
      'description',
      'external_port',
      'external_port_range',
      'id',
      'internal_ip_address',
      'internal_port',
      'internal_port_id',
      'internal_port_range',
      'protocol',
    ]);
    assert.equal(pf.body.port_forwarding.external_port_range, '2222:2222');
    const dup = await req('POST', `floatingips/${fip.id}/port_forwardings`, body);
    assert.equal(dup.status, 400);
    const pfId = pf.body.port_forwarding.id;
    const shown = await req(
      'GET',
      `floatingips/${fip.id}/port_forwardings/${pfId}?floatingip_id=${fip.id}`,
    );
    assert.equal(shown.status, 200);
    assert.equal((await req('GET', `floatingips/${fip.id}`)).body.floatingip.router_id, router);
    const list = await req('GET', `floatingips/${fip.id}/port_forwardings`);
    assert.equal(list.body.port_forwardings.length, 1);
    const up = await req('PUT', `floatingips/${fip.id}/port_forwardings/${pfId}`, {
      port_forwarding: { external_port: 2223 },
    });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.port_forwarding.external_port, 2223);
    const assoc = await req('PUT', `floatingips/${fip.id}`, { floatingip: { port_id: port.id } });
    assert.equal(assoc.status, 409);
    assert.equal(
      (await req('DELETE', `floatingips/${fip.id}/port_forwardings/${pfId}`)).status,
      204,
    );
    assert.equal((await req('GET', `floatingips/${fip.id}/port_forwardings/${pfId}`)).status, 404);
    assert.equal((await req('DELETE', `floatingips/${fip.id}`)).status, 204);
  });

  it('refuses to delete a router with interfaces (409), then removes the interface and deletes it', async () => {
    const inUse = await req('DELETE', `routers/${router}`);
    assert.equal(inUse.status, 409);
    assert.deepEqual(inUse.body.NeutronError, {
      type: 'RouterInUse',
      message: `Router ${router} still has ports`,
      detail: '',
    });
    const direct = (
      await req('GET', `ports?device_id=${router}&device_owner=network:router_interface`)
    ).body.ports[0];
    assert.equal((await req('DELETE', `ports/${direct.id}`)).status, 409);
    const rm = await req('PUT', `routers/${router}/remove_router_interface`, { subnet_id: subnet });
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    const again = await req('PUT', `routers/${router}/remove_router_interface`, {
      subnet_id: subnet,
    });
    assert.equal(again.status, 404);
    assert.equal(again.body.NeutronError.type, 'RouterInterfaceNotFoundForSubnet');
    assert.equal((await req('DELETE', `routers/${router}`)).status, 204);
    const gwPorts = await api.request('GET', `/network/v2.0/ports?device_id=${router}`, {
      token: 'admin:admin',
    });
    assert.deepEqual(gwPorts.body.ports, []);
  });
});
