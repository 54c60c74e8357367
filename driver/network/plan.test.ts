import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LinkInfo } from '../../native';
import {
  defaultGroup,
  fixtureNetwork,
  fixturePort,
  fixtureVif,
  hostState,
} from '../../testing/driver/network-fixtures';
import { deviceKind, deviceName } from './names';
import { uplinkPair } from './ipv4';
import { UplinkAllocations } from './network-state';
import type { Operation } from './operations';
import type { PlanContext } from './plan-context';
import { dnsConfig, dnsmasqArgs } from './plan-dns';
import { type LocalPort, neededUplinks, type Observed, planHostSync } from './plan-host';
import { planPortsPlug } from './plan-port';
import { instanceNetworkFiles } from './instance-files';

const ctx: PlanContext = {
  prefix: 'b',
  hostNs: '/run/netns/host',
  localIp: '192.0.2.1',
  vxlanPort: 4789,
  stateDir: '/state/network',
};
const net1 = {
  id: 'aaaaaaaa-1111-4111-8111-111111111111',
  vni: 101,
  cidr: '10.0.0.0/24',
  gateway: '10.0.0.1',
  dhcpIp: '10.0.0.2',
};
const net2 = {
  id: 'bbbbbbbb-2222-4222-8222-222222222222',
  vni: 102,
  cidr: '10.1.0.0/24',
  gateway: null,
};
const p1 = {
  id: 'p1111111-0000-4000-8000-000000000001',
  mac: 'fa:16:3e:00:00:01',
  ip: '10.0.0.5',
  network: net1,
  dnsName: 'one',
  host: 'h1',
  tunnelIp: '192.0.2.1',
};
const p2 = {
  id: 'p2222222-0000-4000-8000-000000000002',
  mac: 'fa:16:3e:00:00:02',
  ip: '10.1.0.5',
  network: net2,
  host: 'h1',
  tunnelIp: '192.0.2.1',
};
const remote = {
  id: 'p3333333-0000-4000-8000-000000000003',
  mac: 'fa:16:3e:00:00:03',
  ip: '10.0.0.6',
  network: net1,
  dnsName: 'three',
  host: 'h2',
  tunnelIp: '192.0.2.2',
};
const router = {
  id: 'rrrrrrrr-0000-4000-8000-000000000000',
  externalGateway: { networkId: 'public', ip: '172.24.4.10', enableSnat: true },
  interfaces: [
    {
      portId: 'q1111111-0000-4000-8000-000000000000',
      networkId: net1.id,
      subnetId: `${net1.id}-subnet`,
      ip: '10.0.0.1',
      prefixLen: 24,
      mac: 'fa:16:3e:00:00:aa',
    },
  ],
  routes: [],
};

const link = (name: string, extra: Partial<LinkInfo> = {}): LinkInfo => ({
  name,
  index: 1,
  mac: '',
  mtu: 1450,
  up: true,
  ...extra,
});
const names = (ops: Operation[], kind: Operation['op']) =>
  ops.filter((o) => o.op === kind).map((o) => o.args[1]);
const empty = (): Observed => ({
  hostLinks: [],
  hostRoutes: [],
  fdb: new Map(),
  pins: [],
  portChains: [],
  hostTables: [],
});

test('device names are ours by prefix and kind, and fit IFNAMSIZ', () => {
  const name = deviceName('bx1', 'n', net1.id);
  assert.equal(name.length, 15);
  assert.equal(deviceKind('bx1', name), 'n');
  assert.equal(deviceKind('bx1', 'eth0'), undefined);
  assert.equal(deviceKind('b', 'bond0'), undefined);
});

test("plugging two ports on two networks makes each network's devices once, the default route on the first", () => {
  const ops = planPortsPlug(
    ctx,
    '/ns/i',
    [
      { vif: fixtureVif(p1), ifname: 'eth0', defaultRoute: true },
      {
        vif: fixtureVif({ ...p1, id: 'p1b', mac: 'fa:16:3e:00:00:0b', ip: '10.0.0.9' }),
        ifname: 'eth1',
        defaultRoute: false,
      },
      { vif: fixtureVif(p2), ifname: 'eth2', defaultRoute: false },
    ],
    [],
  );
  assert.deepEqual(names(ops, 'linkAddBridge'), [
    deviceName('b', 'n', net1.id),
    deviceName('b', 'n', net2.id),
  ]);
  assert.equal(names(ops, 'linkAddVxlan').length, 2);
  const veth = ops.find((o) => o.op === 'linkAddVeth')!;
  assert.deepEqual(veth.args, [
    ctx.hostNs,
    deviceName('b', 't', p1.id),
    '/ns/i',
    'eth0',
    { mtu: 1450, peerMac: p1.mac },
  ]);
  assert.deepEqual(
    ops.filter((o) => o.op === 'routeReplace').map((o) => o.args[1]),
    [{ dst: 'default', gateway: '10.0.0.1', dev: 'eth0' }],
  );
  assert.deepEqual(
    ops.filter((o) => o.op === 'addrAdd').map((o) => o.args.slice(1)),
    [
      ['eth0', '10.0.0.5/24'],
      ['eth1', '10.0.0.9/24'],
      ['eth2', '10.1.0.5/24'],
    ],
  );
  assert.equal(ops.filter((o) => o.op === 'nftRun').length, 3);
});

test('a network whose bridge exists gets no new devices; a stale tap is replaced', () => {
  const bridge = deviceName('b', 'n', net1.id);
  const vxlan = deviceName('b', 'x', net1.id);
  const tap = deviceName('b', 't', p1.id);
  const ops = planPortsPlug(
    ctx,
    '/ns/i',
    [{ vif: fixtureVif(p1), ifname: 'eth0', defaultRoute: true }],
    [link(bridge), link(vxlan, { master: bridge }), link(tap)],
  );
  assert.deepEqual(names(ops, 'linkAddBridge'), []);
  assert.deepEqual(names(ops, 'linkAddVxlan'), []);
  assert.deepEqual(ops[0], { op: 'linkDel', args: [ctx.hostNs, tap] });
});

function syncInputs(
  state = fullState(),
  observed = empty(),
  local: LocalPort[] = [
    {
      instanceUuid: 'i1',
      netns: '/state/network/netns/instance-i1',
      ifname: 'eth0',
      vif: fixtureVif(p1),
    },
  ],
) {
  const uplinks = new Map(neededUplinks(state, local).map((o, i) => [o, i]));
  return {
    ctx,
    state,
    local,
    observed,
    uplinkCidr: '169.254.64.0/18',
    uplinks,
    dnsServers: ['192.0.2.53'],
  };
}

function fullState() {
  return hostState('h1', {
    networks: [fixtureNetwork(net1, 'fa:16:3e:00:00:dd')],
    ports: [fixturePort(p1), fixturePort(remote)],
    securityGroups: [defaultGroup('sg-default', ['10.0.0.5', '10.0.0.6'])],
    routers: [router],
    floatingIps: [
      { id: 'f1', ip: '172.24.4.20', portId: p1.id, fixedIp: p1.ip, routerId: router.id },
    ],
  });
}

test('sync fills the FDB from the document: a flooding entry per remote VTEP and one per remote MAC', () => {
  const vxlan = deviceName('b', 'x', net1.id);
  const observed = {
    ...empty(),
    fdb: new Map([[vxlan, [{ mac: 'fa:16:3e:00:00:77', dst: '192.0.2.9' }]]]),
  };
  const plan = planHostSync(syncInputs(fullState(), observed));
  const fdb = plan.ops.filter((o) => o.op.startsWith('fdb')).map((o) => [o.op, ...o.args.slice(2)]);
  assert.deepEqual(fdb, [
    ['fdbAppend', '00:00:00:00:00:00', '192.0.2.2'],
    ['fdbAppend', remote.mac, '192.0.2.2'],
    ['fdbDel', 'fa:16:3e:00:00:77', '192.0.2.9'],
  ]);
});

test('sync builds the router namespace: legs, uplink /31, NAT, host routes for its public addresses', () => {
  const plan = planHostSync(syncInputs());
  const ns = '/state/network/netns/router-' + router.id;
  assert.ok(plan.ops.some((o) => o.op === 'netnsCreate' && o.args[0] === ns));
  const pair = uplinkPair('169.254.64.0/18', 0);
  const up = deviceName('b', 'u', router.id);
  assert.ok(
    plan.ops.some(
      (o) =>
        o.op === 'linkAddVeth' &&
        o.args[1] === deviceName('b', 'r', router.interfaces[0].portId) &&
        o.args[2] === ns,
    ),
  );
  assert.ok(
    plan.ops.some((o) => o.op === 'addrAdd' && o.args[0] === ns && o.args[2] === '10.0.0.1/24'),
  );
  assert.ok(
    plan.ops.some(
      (o) => o.op === 'sysctlSet' && o.args[0] === ns && o.args[1] === 'net/ipv4/ip_forward',
    ),
  );
  const hostRoutes = plan.ops
    .filter((o) => o.op === 'routeReplace' && o.args[0] === ctx.hostNs)
    .map((o) => o.args[1]);
  assert.deepEqual(hostRoutes, [
    { dst: '172.24.4.10/32', gateway: uplinkPair('169.254.64.0/18', 0).peer, dev: up },
    { dst: '172.24.4.20/32', gateway: pair.peer, dev: up },
    { dst: '172.24.4.0/24', type: 'unreachable' },
  ]);
  assert.match(
    plan.tables.find((t) => t.key === `router:${router.id}`)!.script,
    /dnat to 10\.0\.0\.5/,
  );
  assert.match(plan.tables.find((t) => t.key === 'host')!.script, /masquerade/);
  assert.equal(plan.dns.length, 1);
});

test("sync removes what no local port needs: other networks' devices, taps, tables, namespaces, routes", () => {
  const staleNet = 'cccccccc-3333-4333-8333-333333333333';
  const observed: Observed = {
    hostLinks: [
      link(deviceName('b', 'n', staleNet)),
      link(deviceName('b', 't', 'p9')),
      link('eth0'),
      link('bond0'),
    ],
    hostRoutes: [
      { dst: '172.24.4.99/32', gateway: '169.254.64.1', dev: deviceName('b', 'u', router.id) },
    ],
    fdb: new Map(),
    pins: ['instance-gone', `router-${staleNet}`, 'dhcp-old', 'unrelated'],
    hostTables: [
      { family: 'bridge', name: 'b_ports' },
      { family: 'bridge', name: `b_net_${staleNet}` },
      { family: 'bridge', name: 'other' },
      { family: 'inet', name: 'b_host' },
    ],
    portChains: ['forward', 'port_p9', `port_${fullState().ports[0].id}`],
  };
  const plan = planHostSync(syncInputs(fullState(), observed));
  assert.deepEqual(
    plan.removals.filter((o) => o.op === 'linkDel').map((o) => o.args[1]),
    [deviceName('b', 'n', staleNet), deviceName('b', 't', 'p9')],
  );
  assert.deepEqual(
    plan.removals
      .filter((o) => o.op === 'netnsRemove')
      .map((o) => path.basename(o.args[0] as string)),
    ['instance-gone', `router-${staleNet}`, 'dhcp-old'],
  );
  assert.equal(plan.removals.filter((o) => o.op === 'routeDel').length, 1);
  const deleted = plan.removals
    .filter((o) => o.op === 'nftRun')
    .flatMap((o) => String(o.args[1]).split('\n'))
    .filter((line) => line.startsWith('delete '));
  assert.deepEqual(deleted, [
    `delete element bridge b_ports taps { "${deviceName('b', 't', 'p9')}" }`,
    'delete chain bridge b_ports port_p9',
    `delete table bridge b_net_${staleNet}`,
  ]);
});

test('without local ports the host keeps nothing of ours, and no router or DNS is planned', () => {
  const observed = {
    ...empty(),
    hostRoutes: [{ dst: '172.24.4.0/24', type: 'unreachable' as const }],
    hostTables: [{ family: 'inet', name: 'b_host' }],
  };
  const plan = planHostSync(syncInputs(fullState(), observed, []));
  assert.equal(plan.ops.length, 0);
  assert.equal(plan.dns.length, 0);
  assert.deepEqual(
    plan.removals.map((o) => o.op),
    ['routeDel', 'nftRun'],
  );
});

test('planning again on what the first plan made creates nothing', () => {
  const first = planHostSync(syncInputs());
  const made = first.ops.flatMap((o) =>
    o.op.startsWith('linkAdd') ? [link(o.args[1] as string, { master: undefined })] : [],
  );
  const bridge = deviceName('b', 'n', net1.id);
  const hostLinks = made.map((l) =>
    l.name === bridge ? l : { ...l, master: l.name.startsWith('bu') ? undefined : bridge },
  );
  hostLinks.push(link(deviceName('b', 't', p1.id), { master: bridge }));
  const pins = first.ops
    .filter((o) => o.op === 'netnsCreate')
    .map((o) => path.basename(o.args[0] as string));
  const vxlan = deviceName('b', 'x', net1.id);
  const fdb = new Map([
    [
      vxlan,
      first.ops
        .filter((o) => o.op === 'fdbAppend')
        .map((o) => ({ mac: o.args[2] as string, dst: o.args[3] as string })),
    ],
  ]);
  const again = planHostSync(
    syncInputs(fullState(), {
      hostLinks,
      hostRoutes: [],
      fdb,
      pins,
      hostTables: [],
      portChains: [],
    }),
  );
  assert.deepEqual(
    again.ops.filter((o) =>
      [
        'linkAddVeth',
        'linkAddBridge',
        'linkAddVxlan',
        'netnsCreate',
        'fdbAppend',
        'linkDel',
      ].includes(o.op),
    ),
    [],
  );
  assert.deepEqual(again.removals, []);
});

test("a network's DNS serves its own ports only, forwards elsewhere to the subnet's or the configured upstreams", () => {
  const state = hostState('h1', {
    networks: [fixtureNetwork(net1, 'fa:16:3e:00:00:dd')],
    ports: [fixturePort(p1), fixturePort(remote), fixturePort({ ...p2, dnsName: 'elsewhere' })],
  });
  const cfg = dnsConfig(state, state.networks[0], '/ns/d', 'ns-x', ['192.0.2.53']);
  assert.deepEqual(cfg.hosts, ['10.0.0.5 one one.berth.test', '10.0.0.6 three three.berth.test']);
  assert.deepEqual(cfg.dhcpHosts, [
    'fa:16:3e:00:00:01,10.0.0.5,one',
    'fa:16:3e:00:00:03,10.0.0.6,three',
  ]);
  assert.deepEqual(cfg.servers, ['192.0.2.53']);
  const args = dnsmasqArgs(cfg, {
    pid: '/d/pid',
    hosts: '/d/hosts',
    dhcpHosts: '/d/dh',
    leases: '/d/l',
  });
  for (const a of [
    '--no-resolv',
    '--domain-needed',
    '--local=/berth.test/',
    '--server=192.0.2.53',
    '--interface=ns-x',
    '--dhcp-range=set:subnet-' + net1.id + '-subnet,10.0.0.0,static,255.255.255.0,infinite',
  ])
    assert.ok(args.includes(a), a);
  state.networks[0].subnets[0].dnsNameservers = ['198.51.100.1'];
  assert.deepEqual(dnsConfig(state, state.networks[0], '/ns/d', 'ns-x', ['192.0.2.53']).servers, [
    '198.51.100.1',
  ]);
});

test('instance files: hostname, its own address in /etc/hosts, the DHCP port as resolver', () => {
  const files = instanceNetworkFiles('one', [fixtureVif(p1)], 'berth.test');
  assert.equal(files.hostname, 'one\n');
  assert.match(files.hosts, /^10\.0\.0\.5\tone\.berth\.test one$/m);
  assert.equal(files.resolvConf, 'search berth.test\nnameserver 10.0.0.2\n');
});

test('uplink /31s stay with their owner across restarts; freed ones are reused', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-uplinks-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = new UplinkAllocations(dir, '169.254.64.0/30');
  a.load();
  a.assign(['router:a', 'dhcp:b']);
  const b = new UplinkAllocations(dir, '169.254.64.0/30');
  b.load();
  assert.deepEqual(
    [...b.map],
    [
      ['router:a', 0],
      ['dhcp:b', 1],
    ],
  );
  b.assign(['dhcp:b', 'router:c']);
  assert.deepEqual(
    [...b.map],
    [
      ['dhcp:b', 1],
      ['router:c', 0],
    ],
  );
  assert.throws(() => b.assign(['dhcp:b', 'router:c', 'router:d']), {
    name: 'ResourceExhaustedError',
  });
});
