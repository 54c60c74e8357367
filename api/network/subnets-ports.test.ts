import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';
const ADMIN = 'admin:admin';

describeEachDatabase('network API: subnets, ports and IPAM', (database) => {
  let api: TestApi;
  let net: string;
  let subnet: string;
  const post = (path: string, body: unknown, token?: string) =>
    api.request('POST', `/network/v2.0/${path}`, { body, token });
  const count = async (path: string) => (await api.request('GET', `/network/v2.0/${path}`)).body;

  before(async () => {
    api = await startTestApi({ database });
    net = (await post('networks', { network: { name: 'n' } })).body.network.id;
  });
  after(() => api.close());

  it('creates a subnet with Neutron defaults and the network’s DHCP port', async () => {
    const r = await post('subnets', {
      subnet: {
        name: 's',
        network_id: net,
        ip_version: 4,
        cidr: '10.10.0.0/24',
        dns_nameservers: ['8.8.8.8'],
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const s = r.body.subnet;
    subnet = s.id;
    assert.equal(s.gateway_ip, '10.10.0.1');
    assert.deepEqual(s.allocation_pools, [{ start: '10.10.0.2', end: '10.10.0.254' }]);
    assert.equal(s.enable_dhcp, true);
    assert.equal(s.revision_number, 0);
    assert.deepEqual(s.host_routes, []);
    const n = (await api.request('GET', `/network/v2.0/networks/${net}`)).body.network;
    assert.deepEqual(n.subnets, [s.id]);
    assert.equal(n.revision_number, 2);
    const ports = (await count(`ports?network_id=${net}&device_owner=network:dhcp`)).ports;
    assert.equal(ports.length, 1);
    assert.equal(ports[0].status, 'ACTIVE');
    assert.match(ports[0].device_id, new RegExp(`^dhcp[0-9a-f-]{36}-${net}$`));
    assert.equal(ports[0].fixed_ips[0].subnet_id, s.id);
    assert.deepEqual(ports[0].security_groups, []);
  });

  it('refuses an overlapping subnet, pools outside the CIDR and a bad CIDR with 400', async () => {
    const overlap = await post('subnets', {
      subnet: { network_id: net, ip_version: 4, cidr: '10.10.0.128/25' },
    });
    assert.equal(overlap.status, 400);
    assert.equal(overlap.body.NeutronError.type, 'InvalidInput');
    assert.match(overlap.body.NeutronError.message, /overlaps with another subnet/);
    const pools = await post('subnets', {
      subnet: {
        network_id: net,
        ip_version: 4,
        cidr: '10.11.0.0/24',
        allocation_pools: [{ start: '10.9.0.2', end: '10.9.0.5' }],
      },
    });
    assert.equal(pools.status, 400);
    assert.equal(pools.body.NeutronError.type, 'OutOfBoundsAllocationPool');
    for (const cidr of ['10.12.0.0/33', 'nonsense', '10.12.0.5/24', 7])
      assert.equal(
        (await post('subnets', { subnet: { network_id: net, ip_version: 4, cidr } })).status,
        400,
        String(cidr),
      );
    const missing = await post('subnets', {
      subnet: {
        network_id: '00000000-0000-0000-0000-000000000000',
        ip_version: 4,
        cidr: '10.1.0.0/24',
      },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.NeutronError.type, 'NetworkNotFound');
    const other = await post(
      'subnets',
      { subnet: { network_id: net, ip_version: 4, cidr: '10.13.0.0/24' } },
      OTHER,
    );
    assert.equal(other.status, 404);
  });

  it('gives a port an address from the pool, a fa:16:3e MAC, the default group, status DOWN', async () => {
    const r = await post('ports', { port: { network_id: net, name: 'p' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = r.body.port;
    assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
    assert.equal(p.status, 'DOWN');
    assert.equal(p.fixed_ips.length, 1);
    assert.equal(p.fixed_ips[0].subnet_id, subnet);
    assert.match(p.fixed_ips[0].ip_address, /^10\.10\.0\.\d+$/);
    const groups = (await count('security-groups?name=default')).security_groups;
    assert.deepEqual(p.security_groups, [groups[0].id]);
    assert.equal(p.revision_number, 1);
    assert.deepEqual(p.dns_assignment[0].ip_address, p.fixed_ips[0].ip_address);
    const admin = (await api.request('GET', `/network/v2.0/ports/${p.id}`, { token: ADMIN })).body
      .port;
    assert.equal(admin['binding:vif_type'], 'unbound');
    assert.equal(admin['binding:host_id'], '');
    const bound = await api.request('PUT', `/network/v2.0/ports/${p.id}`, {
      token: ADMIN,
      body: {
        port: { 'binding:host_id': 'node-1', device_id: 'vm-1', device_owner: 'compute:nova' },
      },
    });
    assert.equal(bound.body.port['binding:vif_type'], 'bridge');
    assert.equal(bound.body.port.revision_number, 2);
    const member = await api.request('PUT', `/network/v2.0/ports/${p.id}`, {
      body: { port: { 'binding:host_id': 'node-2' } },
    });
    assert.equal(member.status, 403);
  });

  it('checks requested fixed IPs: outside the subnet 400, taken 409, and changes nothing then', async () => {
    // Earlier ports took random addresses: ask only for two nobody holds.
    const held = new Set(
      (await count(`ports?network_id=${net}`)).ports.flatMap(
        (p: { fixed_ips: { ip_address: string }[] }) => p.fixed_ips.map((f) => f.ip_address),
      ),
    );
    const [first, second] = Array.from({ length: 253 }, (_, i) => `10.10.0.${i + 2}`).filter(
      (a) => !held.has(a),
    );
    const ok = await post('ports', {
      port: { network_id: net, fixed_ips: [{ subnet_id: subnet, ip_address: first }] },
    });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.port.fixed_ips, [{ subnet_id: subnet, ip_address: first }]);
    const before = (await count(`ports?network_id=${net}`)).ports.length;
    const outside = await post('ports', {
      port: { network_id: net, fixed_ips: [{ subnet_id: subnet, ip_address: '10.99.0.5' }] },
    });
    assert.equal(outside.status, 400);
    assert.equal(outside.body.NeutronError.type, 'InvalidIpForSubnet');
    const nowhere = await post('ports', {
      port: { network_id: net, fixed_ips: [{ ip_address: '10.99.0.5' }] },
    });
    assert.equal(nowhere.status, 400);
    assert.equal(nowhere.body.NeutronError.type, 'InvalidIpForNetwork');
    const taken = await post('ports', {
      port: { network_id: net, fixed_ips: [{ ip_address: first }] },
    });
    assert.equal(taken.status, 409);
    assert.deepEqual(taken.body.NeutronError, {
      type: 'IpAddressAlreadyAllocated',
      message: `IP address ${first} already allocated in subnet ${subnet}`,
      detail: '',
    });
    // A port whose second address fails leaves its first one free.
    const half = await post('ports', {
      port: {
        network_id: net,
        fixed_ips: [{ ip_address: second }, { ip_address: first }],
      },
    });
    assert.equal(half.status, 409);
    assert.equal((await count(`ports?network_id=${net}`)).ports.length, before);
    assert.equal(
      (
        await post('ports', {
          port: { network_id: net, fixed_ips: [{ ip_address: second }] },
        })
      ).status,
      201,
    );
    const mac = ok.body.port.mac_address;
    const dup = await post('ports', { port: { network_id: net, mac_address: mac } });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.NeutronError.type, 'MacAddressInUse');
  });

  it('answers an exhausted pool with 409 IpAddressGenerationFailure', async () => {
    const small = (await post('networks', { network: { name: 'small' } })).body.network.id;
    const s = await post('subnets', {
      subnet: {
        network_id: small,
        ip_version: 4,
        cidr: '10.20.0.0/29',
        allocation_pools: [{ start: '10.20.0.2', end: '10.20.0.4' }],
      },
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    // The DHCP port holds one of the three addresses.
    for (let i = 0; i < 2; i++)
      assert.equal((await post('ports', { port: { network_id: small } })).status, 201);
    const full = await post('ports', { port: { network_id: small } });
    assert.equal(full.status, 409);
    assert.deepEqual(full.body.NeutronError, {
      type: 'IpAddressGenerationFailure',
      message: `No more IP addresses available on network ${small}.`,
      detail: '',
    });
  });

  it('deletes an external network with its unassociated floating IPs', async () => {
    const as = { token: ADMIN };
    const ext = (
      await api.request('POST', '/network/v2.0/networks', {
        ...as,
        body: { network: { name: 'ext', 'router:external': true } },
      })
    ).body.network.id;
    await api.request('POST', '/network/v2.0/subnets', {
      ...as,
      body: {
        subnet: { network_id: ext, ip_version: 4, cidr: '10.77.0.0/24', enable_dhcp: false },
      },
    });
    const fip = await api.request('POST', '/network/v2.0/floatingips', {
      ...as,
      body: { floatingip: { floating_network_id: ext } },
    });
    assert.equal(fip.status, 201, JSON.stringify(fip.body));
    assert.equal((await api.request('DELETE', `/network/v2.0/networks/${ext}`, as)).status, 204);
    const left = await api.request(
      'GET',
      `/network/v2.0/floatingips/${fip.body.floatingip.id}`,
      as,
    );
    assert.equal(left.status, 404);
  });

  it('refuses to delete a network or subnet in use (409) and deletes them once free', async () => {
    const inUse = await api.request('DELETE', `/network/v2.0/networks/${net}`);
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.NeutronError.type, 'NetworkInUse');
    const subnetInUse = await api.request('DELETE', `/network/v2.0/subnets/${subnet}`);
    assert.equal(subnetInUse.status, 409);
    assert.equal(subnetInUse.body.NeutronError.type, 'SubnetInUse');
    for (const p of (await count(`ports?network_id=${net}`)).ports)
      if (p.device_owner !== 'network:dhcp')
        assert.equal((await api.request('DELETE', `/network/v2.0/ports/${p.id}`)).status, 204);
    assert.equal((await api.request('DELETE', `/network/v2.0/subnets/${subnet}`)).status, 204);
    assert.deepEqual(
      (await count(`ports?network_id=${net}`)).ports,
      [],
      'the DHCP port goes with the last subnet',
    );
    assert.equal((await api.request('DELETE', `/network/v2.0/networks/${net}`)).status, 204);
    assert.equal((await api.request('GET', `/network/v2.0/networks/${net}`)).status, 404);
  });

  it('answers unknown ids with the resource’s 404', async () => {
    const id = '11111111-2222-3333-4444-555555555555';
    for (const [path, type] of [
      ['subnets', 'SubnetNotFound'],
      ['ports', 'PortNotFound'],
      ['security-groups', 'SecurityGroupNotFound'],
      ['security-group-rules', 'SecurityGroupRuleNotFound'],
      ['routers', 'RouterNotFound'],
      ['floatingips', 'FloatingIPNotFound'],
    ]) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await api.request(method, `/network/v2.0/${path}/${id}`, {
          body: method === 'PUT' ? {} : undefined,
        });
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.equal(r.body.NeutronError.type, type);
      }
    }
  });
});
