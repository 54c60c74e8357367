/**
 * The networking bar, end to end: Debian's python3-openstackclient,
 * unmodified, against `berth all-in-one` whose data plane lives in a
 * simulated host (fixtures/sim-hosts.ts), with no Neutron. Each check of
 * connectivity is made from outside, through the instances' own namespaces
 * (fixtures/instance-ns.ts), with the image's busybox and probe: every
 * instance runs `probe serve 7`, which answers TCP with its hostname and the
 * source address it saw and logs UDP datagrams to its console.
 *
 * The tests build on each other in order: networks, then servers on them,
 * then routers, floating IPs, port forwardings, an attached interface.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { needsRoot, waitFor } from './harness';
import {
  defaultGateway,
  inInstance,
  instancePid,
  instanceRunner,
  ipv4Addresses,
  netnsRunner,
  ok,
  pings,
  tcpAsk,
  type InstanceRef,
  type Runner,
} from './fixtures/instance-ns';
import {
  ADMIN,
  DNS_DOMAIN,
  OPENSTACK,
  PROBE_PORT,
  startNetworkCloud,
  type NetworkCloud,
} from './fixtures/network-cloud';
import { ingressRuleArgs } from './fixtures/osc';
import {
  hostBusybox,
  nslookupA,
  OUTSIDE_NAME,
  OUTSIDE_SERVER_IP,
  PUBLIC_CIDR,
} from './fixtures/sim-hosts';

/** busybox inside an instance: the image's */
const BB = '/bin/busybox';
const CAP_NET_RAW = 13;
const CAP_NET_ADMIN = 12;

const skip =
  needsRoot() ??
  (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing: install python3-openstackclient`);

interface Vm {
  id: string;
  name: string;
  ref: InstanceRef;
  run: Runner;
  ip: string;
  mac: string;
  portId: string;
}

describe('the networking bar: openstack CLI against berth all-in-one', { skip }, () => {
  let cloud: NetworkCloud;
  const net: Record<string, { id: string; subnetId: string; cidr: string; gateway: string }> = {};
  const vm: Record<string, Vm> = {};
  let defaultSg: string;
  let routerGatewayIp: string;
  let noneId: string;

  before(
    async () => {
      cloud = await startNetworkCloud({ computes: 1, allInOne: true });
    },
    { timeout: 120_000 },
  );
  after(async () => cloud?.close(), { timeout: 120_000 });

  const host = () => netnsRunner(cloud.topo.hosts[0].netns);
  const outside = () => netnsRunner(cloud.topo.outside.netns);

  /** `openstack ARGS` that must fail, with `pattern` in what it says */
  async function oscFails(t: TestContext, args: string[], pattern: RegExp): Promise<void> {
    const r = await cloud.osc(t, args);
    assert.equal(r.code, 1, `openstack ${args.join(' ')} succeeded: ${r.stdout}`);
    assert.match(r.stderr, pattern);
  }

  async function createNetwork(t: TestContext, name: string, cidr: string) {
    const n = await cloud.oscJson(t, ['network', 'create', name]);
    assert.equal(n.name, name);
    assert.equal(n.status, 'ACTIVE');
    assert.equal(n.mtu, 1450);
    const s = await cloud.oscJson(t, [
      'subnet',
      'create',
      '--network',
      name,
      '--subnet-range',
      cidr,
      `${name}-subnet`,
    ]);
    assert.equal(s.cidr, cidr);
    assert.equal(s.network_id, n.id);
    assert.equal(s.enable_dhcp, true);
    net[name] = { id: n.id, subnetId: s.id, cidr, gateway: s.gateway_ip };
    return net[name];
  }

  test('network create/list/show/delete, subnet create/list/show; public exists', async (t) => {
    const a = await createNetwork(t, 'bar-a', '10.10.1.0/24');
    await createNetwork(t, 'bar-b', '10.10.2.0/24');
    assert.equal(a.gateway, '10.10.1.1');

    const shown = await cloud.oscJson(t, ['network', 'show', 'bar-a']);
    assert.equal(shown.id, a.id);
    assert.deepEqual(shown.subnets, [a.subnetId]);
    const listed = await cloud.oscJson(t, ['network', 'list']);
    const names = listed.map((n: { Name: string }) => n.Name).sort();
    assert.deepEqual(names, ['bar-a', 'bar-b', 'public']);
    const external = await cloud.oscJson(t, ['network', 'list', '--external']);
    assert.deepEqual(
      external.map((n: { Name: string }) => n.Name),
      ['public'],
    );
    const publicSubnet = await cloud.oscJson(t, ['subnet', 'show', external[0].Subnets[0]]);
    assert.equal(publicSubnet.cidr, PUBLIC_CIDR);

    const subnets = await cloud.oscJson(t, ['subnet', 'list', '--network', 'bar-a']);
    assert.deepEqual(
      subnets.map((s: { ID: string; Subnet: string }) => [s.ID, s.Subnet]),
      [[a.subnetId, '10.10.1.0/24']],
    );
    const subnet = await cloud.oscJson(t, ['subnet', 'show', 'bar-a-subnet']);
    assert.deepEqual(subnet.allocation_pools, [{ start: '10.10.1.2', end: '10.10.1.254' }]);

    const tmp = await cloud.oscJson(t, ['network', 'create', 'bar-tmp']);
    await cloud.oscOk(t, ['network', 'delete', 'bar-tmp']);
    await oscFails(t, ['network', 'show', tmp.id], /No Network found for/);
  });

  test("bad input gets Neutron's errors and changes nothing", async (t) => {
    const neutron = (method: string, p: string, body?: unknown, token = ADMIN) =>
      cloud.api(method, `/network/v2.0${p}`, { token, body });
    const snapshot = async () => {
      const parts = await Promise.all(
        ['networks', 'subnets', 'ports', 'routers', 'floatingips'].map(async (c) => {
          const r = await neutron('GET', `/${c}`);
          return (r.body[c] as { id: string; revision_number: number }[])
            .map((x) => `${c}:${x.id}:${x.revision_number}`)
            .sort();
        }),
      );
      return parts.flat();
    };
    const expectError = async (
      r: { status: number; body: { NeutronError?: { type: string } } },
      status: number,
      type: string,
    ) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.NeutronError?.type, type, JSON.stringify(r.body));
    };

    // A small pool, to exhaust: two addresses, one of them the network's DHCP/DNS port's.
    const small = await neutron('POST', '/networks', { network: { name: 'bar-small' } });
    assert.equal(small.status, 201);
    const smallSubnet = await neutron('POST', '/subnets', {
      subnet: {
        network_id: small.body.network.id,
        ip_version: 4,
        cidr: '10.10.9.0/29',
        allocation_pools: [{ start: '10.10.9.2', end: '10.10.9.3' }],
      },
    });
    assert.equal(smallSubnet.status, 201, JSON.stringify(smallSubnet.body));
    const only = await neutron('POST', '/ports', { port: { network_id: small.body.network.id } });
    assert.equal(only.status, 201, JSON.stringify(only.body));
    const taken = await neutron('POST', '/ports', { port: { network_id: net['bar-a'].id } });
    assert.equal(taken.status, 201, JSON.stringify(taken.body));

    const before = await snapshot();
    const missing = '0b6f3c52-5c0c-4c3e-9d7e-2f61b1c1e0aa';
    await expectError(await neutron('GET', `/networks/${missing}`), 404, 'NetworkNotFound');
    await expectError(await neutron('GET', `/subnets/${missing}`), 404, 'SubnetNotFound');
    await expectError(await neutron('GET', `/ports/${missing}`), 404, 'PortNotFound');
    await expectError(await neutron('DELETE', `/routers/${missing}`), 404, 'RouterNotFound');
    await expectError(
      await neutron('POST', '/subnets', {
        subnet: { network_id: net['bar-a'].id, ip_version: 4, cidr: '10.10.1.128/25' },
      }),
      400,
      'InvalidInput',
    );
    await expectError(
      await neutron('POST', '/ports', {
        port: { network_id: net['bar-a'].id, fixed_ips: [{ ip_address: '10.99.0.5' }] },
      }),
      400,
      'InvalidIpForNetwork',
    );
    await expectError(
      await neutron('POST', '/ports', {
        port: {
          network_id: net['bar-a'].id,
          fixed_ips: [{ ip_address: taken.body.port.fixed_ips[0].ip_address }],
        },
      }),
      409,
      'IpAddressAlreadyAllocated',
    );
    await expectError(
      await neutron('POST', '/ports', { port: { network_id: small.body.network.id } }),
      409,
      'IpAddressGenerationFailure',
    );
    await expectError(
      await neutron('DELETE', `/networks/${small.body.network.id}`),
      409,
      'NetworkInUse',
    );
    await expectError(
      await neutron('DELETE', `/subnets/${smallSubnet.body.subnet.id}`),
      409,
      'SubnetInUse',
    );
    // Another project's network is not there for it, even by id.
    const foreign = await neutron('GET', `/networks/${net['bar-a'].id}`, undefined, 'demo:demo');
    await expectError(foreign, 404, 'NetworkNotFound');
    await expectError(
      await neutron('DELETE', `/networks/${net['bar-a'].id}`, undefined, 'demo:demo'),
      404,
      'NetworkNotFound',
    );
    await expectError(
      await neutron('POST', '/networks', { network: { bogus: 1 } }),
      400,
      'HTTPBadRequest',
    );
    // The same through the CLI: its name lookups end in Neutron's 404s.
    await oscFails(
      t,
      ['network', 'show', 'bar-nonexistent'],
      /No Network found for bar-nonexistent/,
    );
    await oscFails(
      t,
      ['subnet', 'create', '--network', 'bar-a', '--subnet-range', '10.10.1.0/28', 'bar-overlap'],
      /overlap/i,
    );
    await oscFails(t, ['network', 'delete', 'bar-small'], /in use|InUse/i);
    assert.deepEqual(await snapshot(), before);

    for (const p of [only, taken]) await neutron('DELETE', `/ports/${p.body.port.id}`);
    assert.equal((await neutron('DELETE', `/networks/${small.body.network.id}`)).status, 204);
  });

  async function bootServer(
    t: TestContext,
    name: string,
    nic: string,
    o: { version?: string; cloud?: string } = {},
  ) {
    const created = await cloud.oscJson(
      t,
      [
        'server',
        'create',
        '--flavor',
        cloud.flavorId,
        '--image',
        cloud.imageId,
        '--nic',
        nic,
        name,
      ],
      o,
    );
    return created.id as string;
  }

  /** The server's one port, its instance and what the test reaches it with. */
  async function describeVm(t: TestContext, id: string, name: string): Promise<Vm> {
    const ports = await cloud.oscJson(t, ['port', 'list', '--server', id]);
    assert.equal(ports.length, 1, JSON.stringify(ports));
    const ref = await cloud.instance(id);
    return {
      id,
      name,
      ref,
      run: instanceRunner(ref),
      ip: ports[0]['Fixed IP Addresses'][0].ip_address,
      mac: ports[0]['MAC Address'],
      portId: ports[0].ID,
    };
  }

  test('server create --nic net-id=… / --nic auto / --nic none; server show lists every address; port list --server', async (t) => {
    const ids = {
      'bar-a1': await bootServer(t, 'bar-a1', `net-id=${net['bar-a'].id}`),
      'bar-a2': await bootServer(t, 'bar-a2', `net-id=${net['bar-a'].id}`),
      'bar-b1': await bootServer(t, 'bar-b1', `net-id=${net['bar-b'].id}`),
      // `auto` and `none` exist from 2.37. `auto` is for a project with no
      // network yet (with one, Nova takes it; with more, it refuses): demo's.
      'bar-auto': await bootServer(t, 'bar-auto', 'auto', { version: '2.latest', cloud: 'demo' }),
      'bar-none': await bootServer(t, 'bar-none', 'none', { version: '2.latest' }),
    };
    for (const id of Object.values(ids)) await cloud.settled(id);
    noneId = ids['bar-none'];
    for (const [name, id] of Object.entries(ids))
      if (name !== 'bar-none') vm[name] = await describeVm(t, id, name);

    for (const [name, netName] of [
      ['bar-a1', 'bar-a'],
      ['bar-a2', 'bar-a'],
      ['bar-b1', 'bar-b'],
    ]) {
      const shown = await cloud.oscJson(t, ['server', 'show', name]);
      assert.deepEqual(shown.addresses, { [netName]: [vm[name].ip] }, name);
      const port = await cloud.oscJson(t, ['port', 'show', vm[name].portId]);
      assert.equal(port.device_id, vm[name].id);
      assert.equal(port.network_id, net[netName].id);
      assert.equal(port['binding_host_id'] ?? port['binding:host_id'], cloud.nodes[0].host);
    }
    // get-me-a-network: the project's own network, with a router to public.
    // demo's server: by id, as the admin's name lookup sees only its own project.
    const auto = await cloud.oscJson(t, ['server', 'show', ids['bar-auto']]);
    const autoNets = Object.keys(auto.addresses);
    assert.equal(autoNets.length, 1, JSON.stringify(auto.addresses));
    assert.deepEqual(auto.addresses[autoNets[0]], [vm['bar-auto'].ip]);
    const none = await cloud.oscJson(t, ['server', 'show', 'bar-none']);
    assert.deepEqual(none.addresses, {});
    assert.deepEqual(await cloud.oscJson(t, ['port', 'list', '--server', ids['bar-none']]), []);

    // Plugged ports are reported up.
    await waitFor('ports ACTIVE', async () => {
      const ports = await cloud.oscJson(t, ['port', 'list', '--server', 'bar-a1']);
      return ports[0]?.Status === 'ACTIVE';
    });
  });

  test('in each instance: the address and default route server show gives, lo, hostname, resolver', async () => {
    for (const [name, netName] of [
      ['bar-a1', 'bar-a'],
      ['bar-a2', 'bar-a'],
      ['bar-b1', 'bar-b'],
    ]) {
      const v = vm[name];
      const prefix = net[netName].cidr.split('/')[1];
      assert.deepEqual(await ipv4Addresses(v.run, BB), [
        { dev: 'eth0', cidr: `${v.ip}/${prefix}` },
      ]);
      assert.equal(await defaultGateway(v.run, BB), net[netName].gateway, name);
      assert.equal((await ok(v.run, [BB, 'hostname'])).trim(), name);
      const link = await ok(v.run, [BB, 'ip', '-o', 'link', 'show', 'eth0']);
      assert.match(link, new RegExp(`mtu 1450 .*link/ether ${v.mac}`));
      assert.ok(await pings(v.run, BB, '127.0.0.1'), `${name}: lo is not up`);
      const resolv = await ok(v.run, [BB, 'cat', '/etc/resolv.conf']);
      assert.match(resolv, new RegExp(`^search ${DNS_DOMAIN.replace('.', '\\.')}$`, 'm'));
      assert.match(resolv, /^nameserver 10\.10\.\d\.\d+$/m);
    }
    const autoVm = vm['bar-auto'];
    assert.equal((await ipv4Addresses(autoVm.run, BB)).length, 1);
    assert.ok(await defaultGateway(autoVm.run, BB));
    const none = instanceRunner(await cloud.instance(noneId));
    assert.deepEqual(await ipv4Addresses(none, BB), []);
  });

  test('two instances on one network reach each other by IP and by hostname, over ICMP and TCP', async () => {
    const [a1, a2] = [vm['bar-a1'], vm['bar-a2']];
    assert.ok(await pings(a1.run, BB, a2.ip));
    assert.deepEqual(await tcpAsk(a1.run, BB, a2.ip, PROBE_PORT), {
      hostname: 'bar-a2',
      peer: a1.ip,
    });
    // DNS comes up from the compute's sync, not before the instance: poll for it.
    await waitFor('bar-a2 resolves in bar-a1', async () => {
      const r = await a1.run(nslookupA('bar-a2', undefined, BB));
      return r.code === 0 && r.stdout.includes(a2.ip);
    });
    assert.ok(await pings(a1.run, BB, 'bar-a2'));
    assert.ok(await pings(a2.run, BB, `bar-a1.${DNS_DOMAIN}`));
    assert.deepEqual(await tcpAsk(a2.run, BB, 'bar-a1', PROBE_PORT), {
      hostname: 'bar-a1',
      peer: a2.ip,
    });
  });

  async function isolated(from: Vm, to: Vm): Promise<void> {
    assert.equal(await pings(from.run, BB, to.ip), false, `${from.name} pings ${to.name}`);
    assert.equal(await tcpAsk(from.run, BB, to.ip, PROBE_PORT), undefined);
    // Names of other networks do not resolve either.
    const r = await from.run(nslookupA(to.name, undefined, BB));
    assert.ok(r.code !== 0 || !r.stdout.includes(to.ip), `${to.name} resolves in ${from.name}`);
  }

  test('instances on different networks cannot reach each other', async () => {
    await isolated(vm['bar-a1'], vm['bar-b1']);
    await isolated(vm['bar-b1'], vm['bar-a1']);
    await isolated(vm['bar-a1'], vm['bar-auto']);
  });

  test('without a router no outside; router create / add subnet / set --external-gateway public: SNAT to the gateway IP', async (t) => {
    const a1 = vm['bar-a1'];
    assert.equal(await tcpAsk(a1.run, BB, OUTSIDE_SERVER_IP, cloud.topo.outside.port), undefined);

    const router = await cloud.oscJson(t, ['router', 'create', 'bar-router']);
    assert.equal(router.external_gateway_info, null);
    await cloud.oscOk(t, ['router', 'add', 'subnet', 'bar-router', 'bar-a-subnet']);
    await cloud.oscOk(t, ['router', 'set', '--external-gateway', 'public', 'bar-router']);
    const shown = await cloud.oscJson(t, ['router', 'show', 'bar-router']);
    routerGatewayIp = shown.external_gateway_info.external_fixed_ips[0].ip_address;
    assert.equal(shown.external_gateway_info.enable_snat, true);
    assert.ok(inCidr(routerGatewayIp, PUBLIC_CIDR), routerGatewayIp);

    const seen = await waitFor('bar-a1 reaches the outside', () =>
      tcpAsk(a1.run, BB, OUTSIDE_SERVER_IP, cloud.topo.outside.port),
    );
    assert.equal(seen.peer, routerGatewayIp, 'the outside saw an untranslated source');
    // Upstream names through the network's DNS server, forwarded to the outside's.
    const upstream = await a1.run(nslookupA(OUTSIDE_NAME, undefined, BB));
    assert.equal(upstream.code, 0, upstream.stdout + upstream.stderr);
    assert.match(
      upstream.stdout,
      new RegExp(`Address:\\s+${OUTSIDE_SERVER_IP.replace(/\./g, '\\.')}`),
    );

    // The network without a router stays inside; the router does not join bar-a to bar-b.
    assert.equal(
      await tcpAsk(vm['bar-b1'].run, BB, OUTSIDE_SERVER_IP, cloud.topo.outside.port),
      undefined,
    );
    await isolated(a1, vm['bar-b1']);
    // get-me-a-network's router reaches out too, with a gateway IP of its own.
    const auto = await waitFor('bar-auto reaches the outside', () =>
      tcpAsk(vm['bar-auto'].run, BB, OUTSIDE_SERVER_IP, cloud.topo.outside.port),
    );
    assert.ok(inCidr(auto.peer, PUBLIC_CIDR) && auto.peer !== routerGatewayIp, auto.peer);
  });

  test('security group list; a floating IP reaches the instance from the host and the outside only while a rule allows it', async (t) => {
    const groups = await cloud.oscJson(t, ['security', 'group', 'list']);
    const mine = groups.filter((g: { Name: string }) => g.Name === 'default');
    assert.ok(mine.length >= 1, JSON.stringify(groups));
    const port = await cloud.oscJson(t, ['port', 'show', vm['bar-a1'].portId]);
    defaultSg = port.security_group_ids[0];
    assert.ok(mine.some((g: { ID: string }) => g.ID === defaultSg));

    const fip = await cloud.oscJson(t, ['floating', 'ip', 'create', 'public']);
    const address = fip.floating_ip_address as string;
    assert.ok(inCidr(address, PUBLIC_CIDR));
    await cloud.oscOk(t, ['server', 'add', 'floating', 'ip', 'bar-a1', address]);
    const shown = await cloud.oscJson(t, ['server', 'show', 'bar-a1']);
    assert.deepEqual(shown.addresses, { 'bar-a': [vm['bar-a1'].ip, address] });

    const viaHost = () => tcpAsk(host(), hostBusybox, address, PROBE_PORT);
    const viaOutside = () => tcpAsk(outside(), hostBusybox, address, PROBE_PORT);
    // The default group lets in only its own members: not the host, not the outside.
    assert.equal(await viaOutside(), undefined);
    assert.equal(await viaHost(), undefined);

    const rule = await cloud.oscJson(t, ingressRuleArgs('tcp', PROBE_PORT, defaultSg));
    const fromOutside = await waitFor('the floating IP from the outside', viaOutside);
    // 1:1 NAT: the instance sees the outside's own address.
    assert.deepEqual(fromOutside, { hostname: 'bar-a1', peer: '192.0.2.254' });
    assert.equal((await waitFor('the floating IP from the host', viaHost)).hostname, 'bar-a1');

    await cloud.oscOk(t, ['security', 'group', 'rule', 'delete', rule.id]);
    await waitFor('the floating IP closed again', async () => (await viaOutside()) === undefined);
    assert.equal(await viaHost(), undefined);

    // With the rule back, removing the address closes it too.
    const again = await cloud.oscJson(t, ingressRuleArgs('tcp', PROBE_PORT, defaultSg));
    await waitFor('the floating IP open again', viaOutside);
    await cloud.oscOk(t, ['server', 'remove', 'floating', 'ip', 'bar-a1', address]);
    await waitFor('the removed floating IP gone', async () => (await viaOutside()) === undefined);
    assert.equal(await viaHost(), undefined);
    assert.deepEqual((await cloud.oscJson(t, ['server', 'show', 'bar-a1'])).addresses, {
      'bar-a': [vm['bar-a1'].ip],
    });
    await cloud.oscOk(t, ['floating', 'ip', 'delete', address]);
    // The rule stays for the port forwarding below.
    assert.ok(again.id);
  });

  test('floating ip port forwarding create: one port of the floating IP reaches the instance', async (t) => {
    const a2 = vm['bar-a2'];
    const fip = await cloud.oscJson(t, ['floating', 'ip', 'create', 'public']);
    const address = fip.floating_ip_address as string;
    const pf = await cloud.oscJson(t, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'create',
      '--internal-ip-address',
      a2.ip,
      '--port',
      a2.portId,
      '--internal-protocol-port',
      String(PROBE_PORT),
      '--external-protocol-port',
      '2222',
      '--protocol',
      'tcp',
      address,
    ]);
    assert.equal(pf.internal_port, PROBE_PORT);
    assert.equal(pf.external_port, 2222);
    const forwarded = await waitFor('the forwarded port from the outside', () =>
      tcpAsk(outside(), hostBusybox, address, 2222),
    );
    assert.deepEqual(forwarded, { hostname: 'bar-a2', peer: '192.0.2.254' });
    assert.equal(
      (
        await waitFor('the forwarded port from the host', () =>
          tcpAsk(host(), hostBusybox, address, 2222),
        )
      ).hostname,
      'bar-a2',
    );
    // Only that port: the floating IP is not a's address.
    assert.equal(await tcpAsk(outside(), hostBusybox, address, PROBE_PORT), undefined);
  });

  test('server add network works at once in the running instance; server remove network takes it away', async (t) => {
    const [a1, b1] = [vm['bar-a1'], vm['bar-b1']];
    const pid = instancePid(a1.ref);
    await cloud.oscOk(t, ['server', 'add', 'network', 'bar-a1', 'bar-b']);
    const ports = await cloud.oscJson(t, ['port', 'list', '--server', 'bar-a1']);
    assert.equal(ports.length, 2);
    const added = ports.find((p: { ID: string }) => p.ID !== a1.portId);
    const ip = added['Fixed IP Addresses'][0].ip_address as string;
    assert.ok(inCidr(ip, net['bar-b'].cidr), ip);
    assert.deepEqual(await ipv4Addresses(a1.run, BB), [
      { dev: 'eth0', cidr: `${a1.ip}/24` },
      { dev: 'eth1', cidr: `${ip}/24` },
    ]);
    assert.ok(await pings(a1.run, BB, b1.ip));
    assert.deepEqual(await tcpAsk(b1.run, BB, ip, PROBE_PORT), { hostname: 'bar-a1', peer: b1.ip });
    const shown = await cloud.oscJson(t, ['server', 'show', 'bar-a1']);
    assert.deepEqual(shown.addresses, { 'bar-a': [a1.ip], 'bar-b': [ip] });
    // The same process all along: attached live, not by a reboot.
    assert.equal(instancePid(a1.ref), pid);

    await cloud.oscOk(t, ['server', 'remove', 'network', 'bar-a1', 'bar-b']);
    await waitFor('the port detached', async () => {
      const left = await cloud.oscJson(t, ['port', 'list', '--server', 'bar-a1']);
      return left.length === 1 && left[0].ID === a1.portId;
    });
    assert.deepEqual(await ipv4Addresses(a1.run, BB), [{ dev: 'eth0', cidr: `${a1.ip}/24` }]);
    assert.equal(await tcpAsk(b1.run, BB, ip, PROBE_PORT), undefined);
    assert.equal(await pings(a1.run, BB, b1.ip), false);
    assert.deepEqual((await cloud.oscJson(t, ['server', 'show', 'bar-a1'])).addresses, {
      'bar-a': [a1.ip],
    });
  });

  test('an instance cannot spoof another source address or MAC', async (t) => {
    const [a1, a2] = [vm['bar-a1'], vm['bar-a2']];
    // The workload itself cannot even try: no raw sockets, no interface changes.
    const status = fs.readFileSync(`/proc/${instancePid(a1.ref)}/status`, 'utf8');
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
    assert.equal((capEff >> BigInt(CAP_NET_RAW)) & 1n, 0n, 'the workload has CAP_NET_RAW');
    assert.equal((capEff >> BigInt(CAP_NET_ADMIN)) & 1n, 0n, 'the workload has CAP_NET_ADMIN');

    // Root in its namespaces (what a workload that broke out of its
    // capabilities would be) hand-makes frames; only the host side can stop
    // them. UDP to the probe is let in from anywhere, so that the security
    // group is not what drops the forged ones.
    await cloud.oscOk(t, ingressRuleArgs('udp', PROBE_PORT, defaultSg));
    const probe = '/usr/bin/probe';
    const send = (srcMac: string, srcIp: string, msg: string) =>
      ok(a1.run, [probe, 'spoof', 'eth0', srcMac, a2.mac, srcIp, a2.ip, String(PROBE_PORT), msg]);
    const consoleOf = async () => {
      const r = await cloud.api('POST', `/v2.1/servers/${a2.id}/action`, {
        token: ADMIN,
        body: { 'os-getConsoleOutput': { length: -1 } },
      });
      return r.body.output as string;
    };
    await waitFor('a genuine hand-made datagram arrives', async () => {
      await send(a1.mac, a1.ip, 'genuine-0');
      return (await consoleOf()).includes(`udp ${a1.ip} genuine-0`);
    });
    await send(a1.mac, '10.10.1.250', 'forged-ip');
    await send(a1.mac, vm['bar-b1'].ip, 'forged-foreign-ip');
    await send('fa:16:3e:00:00:99', a1.ip, 'forged-mac');
    // Sent after the forged ones on the same path: once it is there, they would be.
    await send(a1.mac, a1.ip, 'genuine-1');
    await waitFor('the last genuine datagram', async () =>
      (await consoleOf()).includes(`udp ${a1.ip} genuine-1`),
    );
    assert.doesNotMatch(await consoleOf(), /forged/);
    // Nor does an address the workload gives itself work: ARP and IP both checked.
    await ok(a1.run, [BB, 'ip', 'addr', 'add', '10.10.1.251/24', 'dev', 'eth0']);
    const fromFake = await inInstance(a1.ref, [
      BB,
      'ping',
      '-c',
      '1',
      '-W',
      '2',
      '-I',
      '10.10.1.251',
      a2.ip,
    ]);
    assert.notEqual(fromFake.code, 0, fromFake.stdout);
    await ok(a1.run, [BB, 'ip', 'addr', 'del', '10.10.1.251/24', 'dev', 'eth0']);
  });
});

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}
