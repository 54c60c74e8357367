import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { tapName } from '../../nova/network-model';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';
import type { InstanceOwner, NetworkCaller } from './instance-network';

const caller: NetworkCaller = {
  projectId: 'demo',
  userId: 'demo',
  isAdmin: false,
  requestId: 'req-test',
};
const owner = (uuid: string, hostname = 'vm'): InstanceOwner => ({
  uuid,
  projectId: 'demo',
  userId: 'demo',
  hostname,
  availabilityZone: null,
});

describeEachDatabase('instance network API', (database) => {
  let api: TestApi;
  let net: string;
  let subnet: string;
  const rest = (method: string, path: string, body?: unknown) =>
    api.request(method, `/network/v2.0/${path}`, { body });
  const ports = async (deviceId: string) =>
    (await rest('GET', `ports?device_id=${deviceId}`)).body.ports;

  before(async () => {
    api = await startTestApi({ database });
    net = (await rest('POST', 'networks', { network: { name: 'inst' } })).body.network.id;
    subnet = (
      await rest('POST', 'subnets', {
        subnet: {
          network_id: net,
          ip_version: 4,
          cidr: '10.50.0.0/24',
          dns_nameservers: ['9.9.9.9'],
          host_routes: [{ destination: '10.60.0.0/16', nexthop: '10.50.0.254' }],
        },
      })
    ).body.subnet.id;
  });
  after(() => api.close());

  it('validates requested networks, ports, fixed IPs and groups without changing anything', async () => {
    const n = api.deps.instanceNetwork;
    await n.validateRequested(
      caller,
      [{ uuid: net }, { uuid: net, fixedIp: '10.50.0.77' }],
      ['default'],
    );
    const type = async (p: Promise<unknown>) =>
      (
        await p.then(
          () => ({ type: 'none' }),
          (e) => e,
        )
      ).type;
    assert.equal(
      await type(
        n.validateRequested(caller, [{ uuid: '00000000-0000-4000-8000-000000000000' }], []),
      ),
      'NetworkNotFound',
    );
    assert.equal(
      await type(n.validateRequested(caller, [{ uuid: net, fixedIp: '10.99.0.1' }], [])),
      'InvalidIpForNetwork',
    );
    assert.equal(
      await type(
        n.validateRequested(caller, [{ port: '00000000-0000-4000-8000-000000000000' }], []),
      ),
      'PortNotFound',
    );
    assert.equal(
      await type(n.validateRequested(caller, 'auto', ['nope'])),
      'SecurityGroupNotFound',
    );
  });

  it('allocates ports DOWN for the instance, binds them, and builds Nova’s network info', async () => {
    const n = api.deps.instanceNetwork;
    const vifs = await n.allocateForInstance(caller, owner('vm-1', 'web-1'), [{ uuid: net }], []);
    assert.equal(vifs.length, 1);
    const [vif] = vifs;
    assert.equal(vif.devname, tapName(vif.id));
    assert.equal(vif.active, false);
    assert.equal(vif.preserve_on_delete, false);
    assert.equal(vif.network.meta.mtu, 1450);
    assert.ok(vif.network.meta.vni > 0);
    const [s] = vif.network.subnets;
    assert.equal(s.cidr, '10.50.0.0/24');
    assert.equal(s.gateway.address, '10.50.0.1');
    assert.deepEqual(s.dns, [{ address: '9.9.9.9', type: 'dns', version: 4 }]);
    assert.deepEqual(s.routes, [
      { cidr: '10.60.0.0/16', gateway: { address: '10.50.0.254', type: 'gateway', version: 4 } },
    ]);
    const dhcp = (await rest('GET', `ports?network_id=${net}&device_owner=network:dhcp`)).body
      .ports[0];
    assert.equal(s.meta.dhcp_server, dhcp.fixed_ips[0].ip_address);
    const [port] = await ports('vm-1');
    assert.equal(port.status, 'DOWN');
    assert.equal(port.device_owner, 'compute:nova');
    assert.equal(port.dns_name, 'web-1');
    assert.equal(port.mac_address, vif.address);
    const bound = await n.bindForHost('vm-1', 'node-1');
    assert.equal(bound[0].id, vif.id);
    const admin = await api.request('GET', `/network/v2.0/ports/${vif.id}`, {
      token: 'admin:admin',
    });
    assert.equal(admin.body.port['binding:host_id'], 'node-1');
    assert.deepEqual((await n.networkInfoFor(['vm-1', 'vm-x'])).get('vm-x'), []);
  });

  it('is all or nothing: a failing second request leaves no port of the first', async () => {
    const taken = (await ports('vm-1'))[0].fixed_ips[0].ip_address;
    await assert.rejects(
      api.deps.instanceNetwork.allocateForInstance(
        caller,
        owner('vm-2'),
        [{ uuid: net }, { uuid: net, fixedIp: taken }],
        [],
      ),
      (e: { type?: string }) => e.type === 'IpAddressAlreadyAllocated',
    );
    assert.deepEqual(await ports('vm-2'), []);
  });

  it('keeps user-made ports on deallocate (unbound), deletes its own, and shows floating IPs', async () => {
    const n = api.deps.instanceNetwork;
    const mine = (await rest('POST', 'ports', { port: { network_id: net, name: 'kept' } })).body
      .port;
    const vifs = await n.allocateForInstance(
      caller,
      owner('vm-3'),
      [{ port: mine.id }, { uuid: net }],
      [],
    );
    assert.deepEqual(
      vifs.map((v) => v.preserve_on_delete),
      [true, false],
    );
    const router = (await rest('POST', 'routers', { router: { name: 'r' } })).body.router.id;
    const pub = (await rest('GET', 'networks?name=public')).body.networks[0].id;
    await rest('PUT', `routers/${router}`, {
      router: { external_gateway_info: { network_id: pub } },
    });
    await rest('PUT', `routers/${router}/add_router_interface`, { subnet_id: subnet });
    const fip = await rest('POST', 'floatingips', {
      floatingip: { floating_network_id: pub, port_id: mine.id },
    });
    assert.equal(fip.status, 201, JSON.stringify(fip.body));
    const info = await n.networkInfo('vm-3');
    assert.deepEqual(info[0].network.subnets[0].ips[0].floating_ips, [
      { address: fip.body.floatingip.floating_ip_address, type: 'floating', version: 4 },
    ]);
    const attached = await n.attachInterface(caller, owner('vm-3'), { uuid: net }, 'node-1');
    assert.equal((await n.networkInfo('vm-3')).at(-1)!.id, attached.id);
    await n.detachInterface('vm-3', attached.id);
    await assert.rejects(
      n.detachInterface('vm-3', attached.id),
      (e: { type?: string }) => e.type === 'PortNotFound',
    );
    await n.deallocateForInstance('vm-3');
    assert.deepEqual(await ports('vm-3'), []);
    const kept = (await rest('GET', `ports/${mine.id}`)).body.port;
    assert.equal(kept.device_id, '');
    assert.equal(kept.device_owner, '');
    const fipAfter = (await rest('GET', `floatingips/${fip.body.floatingip.id}`)).body.floatingip;
    assert.equal(fipAfter.port_id, mine.id, 'a kept port keeps its floating IP');
  });

  it('makes the project a network with a router to public for `auto`, once', async () => {
    const n = api.deps.instanceNetwork;
    const other: NetworkCaller = { ...caller, projectId: 'auto-project', userId: 'u' };
    const o = { ...owner('vm-auto'), projectId: 'auto-project' };
    const [vif] = await n.allocateForInstance(other, o, 'auto', []);
    assert.equal(vif.network.label, 'auto_allocated_network');
    assert.match(vif.network.subnets[0].cidr, /^10\.(1[2-9][0-9]|2[0-5][0-9])\.\d+\.0\/24$/);
    const [again] = await n.allocateForInstance(other, { ...o, uuid: 'vm-auto-2' }, 'auto', []);
    assert.equal(again.network.id, vif.network.id);
    const routers = await api.request('GET', '/network/v2.0/routers?name=auto_allocated_router', {
      token: 'u:auto-project',
    });
    assert.equal(routers.body.routers.length, 1);
    assert.ok(routers.body.routers[0].external_gateway_info.external_fixed_ips.length);
    assert.deepEqual(await n.allocateForInstance(other, o, 'none', []), []);
  });
});
