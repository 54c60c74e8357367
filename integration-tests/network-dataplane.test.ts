/**
 * The data plane on the real kernel: LinuxNetwork builds a simulated
 * host (a namespace of the test's own, as `[network] host_netns`) wired
 * to an underlay namespace that plays the outside world; instances are
 * their pinned namespaces, probed from inside with nsenter. Runs once the
 * addon has the network primitives (branch net-native).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createLogger, transports } from 'winston';
import { berthSchema } from '../config/schema';
import { LinuxNetwork } from '../driver/network/linux-network';
import { native } from '../native';
import type { HostNetworkState } from '../nova/network-model';
import { networkConformance } from '../testing/driver/network-conformance';
import {
  defaultGroup,
  fixtureNetwork,
  fixturePort,
  fixtureVif,
  hostState,
  rule,
  type FixturePort,
} from '../testing/driver/network-fixtures';
import { needsRoot, tempStateDir, waitFor } from './harness';
import {
  busybox,
  cleanNetworkState,
  fakeUpstream,
  inNs,
  ip,
  makeNs,
  mountsUnder,
  pings,
  processesUnder,
  resolves,
  tcpAsk,
  tcpServer,
  Teardown,
} from './network-sim';

function addonSkip(): string | undefined {
  try {
    return typeof native().linkAddVeth === 'function'
      ? undefined
      : 'the native addon has no network primitives yet (branch net-native not merged)';
  } catch (err) {
    return (err as Error).message;
  }
}
const skip = needsRoot() ?? addonSkip() ?? (fs.existsSync(busybox) ? undefined : `no ${busybox}`);

const log = createLogger({
  transports: [new transports.Console({ silent: !process.env.BERTH_TEST_LOG, level: 'debug' })],
});
const defaults = berthSchema.validate({}).value!.network;
const OUTSIDE = '198.51.100.2';

/** The underlay: a bridge in a namespace of its own, which is also "the outside". */
function underlay(t: Teardown): string {
  const ns = makeNs(t, 'underlay');
  ip(ns, 'link', 'add', 'br0', 'type', 'bridge');
  ip(ns, 'addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0');
  ip(ns, 'link', 'set', 'br0', 'up');
  return ns;
}

interface SimHost {
  ns: string;
  ip: string;
  stateDir: string;
  open(): LinuxNetwork;
}

/** A host namespace on the underlay (wan0 = `addr`), and how to start a LinuxNetwork on it. */
function simHost(t: Teardown, under: string, addr: string, label: string): SimHost {
  const ns = makeNs(t, 'nethost');
  const outer = `u${label}`;
  ip(
    under,
    'link',
    'add',
    outer,
    'type',
    'veth',
    'peer',
    'name',
    'wan0',
    'netns',
    path.basename(ns),
  );
  ip(under, 'link', 'set', outer, 'master', 'br0', 'up');
  ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'wan0');
  ip(ns, 'link', 'set', 'wan0', 'up');
  ip(ns, 'route', 'add', 'default', 'via', OUTSIDE);
  const stateDir = path.join(tempStateDir('net'), 'network');
  t.push(() => cleanNetworkState(stateDir));
  const open = () => {
    const network = new LinuxNetwork({
      addon: native(),
      stateDir,
      config: { ...defaults, host_netns: ns, dns_servers: [OUTSIDE], dns_domain: 'berth.test' },
      localIp: addr,
      log,
    });
    network.open();
    return network;
  };
  return { ns, ip: addr, stateDir, open };
}

const net1 = {
  id: randomUUID(),
  vni: 1001,
  cidr: '10.0.0.0/24',
  gateway: '10.0.0.1',
  dhcpIp: '10.0.0.2',
  subnetId: randomUUID(),
};
const net2 = {
  id: randomUUID(),
  vni: 1002,
  cidr: '10.1.0.0/24',
  gateway: '10.1.0.1',
  dhcpIp: '10.1.0.2',
  subnetId: randomUUID(),
};
const port = (
  n: number,
  ip4: string,
  network: typeof net1,
  dnsName: string,
  host = 'h1',
  tunnelIp = '198.51.100.1',
): FixturePort => ({
  id: randomUUID(),
  mac: `fa:16:3e:00:01:${n.toString(16).padStart(2, '0')}`,
  ip: ip4,
  network,
  dnsName,
  host,
  tunnelIp,
});

class Doc {
  revision = 0;
  state: HostNetworkState;
  constructor(host: string, ports: FixturePort[], extra: Partial<HostNetworkState> = {}) {
    this.state = hostState(host, {
      networks: [
        fixtureNetwork(net1, 'fa:16:3e:00:00:d1'),
        fixtureNetwork(net2, 'fa:16:3e:00:00:d2'),
      ],
      ports: ports.map(fixturePort),
      securityGroups: [
        defaultGroup(
          'sg-default',
          ports.map((p) => p.ip),
        ),
      ],
      ...extra,
    });
  }
  next(change: (s: HostNetworkState) => void = () => {}): HostNetworkState {
    change(this.state);
    this.state = { ...structuredClone(this.state), revision: ++this.revision };
    return this.state;
  }
}

const router = {
  id: randomUUID(),
  externalGateway: { networkId: 'public', ip: '172.24.4.10', enableSnat: true },
  interfaces: [
    {
      portId: randomUUID(),
      networkId: net1.id,
      subnetId: net1.subnetId,
      ip: '10.0.0.1',
      prefixLen: 24,
      mac: 'fa:16:3e:00:00:a1',
    },
  ],
  routes: [],
};

test(
  'one host: addressing, isolation, DNS, SNAT, floating IPs, port forwarding, anti-spoofing, attach, restore, cleanup',
  { skip, timeout: 300000 },
  async (t) => {
    const td = new Teardown(t);
    const under = underlay(td);
    ip(under, 'route', 'add', '172.24.4.0/24', 'via', '198.51.100.1');
    const host = simHost(td, under, '198.51.100.1', 'h1');
    let network = host.open();
    td.push(() => network.close());
    await fakeUpstream(td, under, OUTSIDE, 'upstream.test', '198.51.100.77');
    const a = port(1, '10.0.0.11', net1, 'alpha');
    const b = port(2, '10.0.0.12', net1, 'beta');
    const c = port(3, '10.1.0.13', net2, 'gamma');
    const doc = new Doc('h1', [a, b, c], { routers: [router] });
    const instances = [a, b, c].map((p) => ({
      uuid: randomUUID(),
      hostname: p.dnsName!,
      vifs: [fixtureVif(p)],
    }));
    const [ia, ib, ic] = instances;
    await network.sync(doc.next());
    const ns: Record<string, string> = {};
    for (const [i, p] of [
      [ia, a],
      [ib, b],
      [ic, c],
    ] as const)
      ns[p.dnsName!] = (await network.plug(i)).netnsPath;
    await network.sync(doc.next());

    await t.test(
      'a port has its MAC, address, MTU and default route; lo is up; ping needs no NET_RAW',
      () => {
        const [eth0] = JSON.parse(ip(ns.alpha, '-j', 'addr', 'show', 'eth0')) as {
          address: string;
          mtu: number;
          addr_info: { family: string; local: string; prefixlen: number }[];
        }[];
        assert.equal(eth0.address, a.mac);
        assert.equal(eth0.mtu, 1450);
        assert.deepEqual(
          eth0.addr_info.filter((i) => i.family === 'inet').map((i) => `${i.local}/${i.prefixlen}`),
          ['10.0.0.11/24'],
        );
        assert.match(ip(ns.alpha, 'route', 'show', 'default'), /default via 10\.0\.0\.1 dev eth0/);
        assert.match(ip(ns.alpha, 'link', 'show', 'lo'), /UP/);
        assert.equal(
          inNs(ns.alpha, ['cat', '/proc/sys/net/ipv4/ping_group_range'])
            .stdout.trim()
            .replace(/\s+/g, ' '),
          '0 2147483647',
        );
      },
    );

    await t.test('one network: ICMP and TCP both ways; another network: nothing', async (st) => {
      assert.ok(pings(ns.alpha, b.ip));
      assert.ok(pings(ns.beta, a.ip));
      await tcpServer(new Teardown(st), ns.beta, '0.0.0.0', 7000);
      assert.equal(tcpAsk(ns.alpha, b.ip, 7000), a.ip);
      assert.ok(!pings(ns.alpha, c.ip));
      assert.ok(!pings(ns.gamma, a.ip));
      assert.ok(!pings(host.ns, a.ip), 'the host has no way into tenant networks');
    });

    await t.test(
      "names: the network's own resolve, other networks' do not, the rest goes upstream",
      async () => {
        await waitFor(
          'dnsmasq answers',
          () => resolves(ns.alpha, 'beta', net1.dhcpIp).includes(b.ip),
          20000,
        );
        assert.deepEqual(resolves(ns.alpha, 'beta.berth.test', net1.dhcpIp), [b.ip]);
        assert.deepEqual(resolves(ns.alpha, 'gamma', net1.dhcpIp), []);
        assert.deepEqual(resolves(ns.alpha, 'gamma.berth.test', net1.dhcpIp), []);
        assert.deepEqual(resolves(ns.alpha, 'upstream.test', net1.dhcpIp), ['198.51.100.77']);
        await waitFor(
          'net2 dnsmasq answers',
          () => resolves(ns.gamma, 'gamma', net2.dhcpIp).includes(c.ip),
          20000,
        );
      },
    );

    await t.test(
      "a router's network reaches the outside, translated; a network without one does not",
      async () => {
        await tcpServer(td, under, OUTSIDE, 7100);
        assert.equal(tcpAsk(ns.alpha, OUTSIDE, 7100), '172.24.4.10');
        assert.equal(tcpAsk(ns.gamma, OUTSIDE, 7100), '');
        assert.ok(!pings(host.ns, '172.24.4.99'), 'nothing for public leaks to the default route');
      },
    );

    await t.test(
      'a floating IP: reachable once a rule allows it, not before, not after the rule or the IP goes',
      async (st) => {
        const sd = new Teardown(st);
        await tcpServer(sd, ns.alpha, '0.0.0.0', 7200);
        await tcpServer(sd, under, OUTSIDE, 7101);
        const fip = {
          id: 'f1',
          ip: '172.24.4.20',
          portId: a.id,
          fixedIp: a.ip,
          routerId: router.id,
        };
        await network.sync(doc.next((s) => s.floatingIps.push(fip)));
        assert.equal(
          tcpAsk(under, fip.ip, 7200),
          '',
          'the default group lets nothing in from outside',
        );
        const allow = rule('allow-7200', 'ingress', {
          protocol: 'tcp',
          portRangeMin: 7200,
          portRangeMax: 7200,
          remoteIpPrefix: '0.0.0.0/0',
        });
        await network.sync(doc.next((s) => s.securityGroups[0].rules.push(allow)));
        assert.equal(tcpAsk(under, fip.ip, 7200), OUTSIDE);
        assert.notEqual(
          tcpAsk(host.ns, fip.ip, 7200),
          '',
          'the host itself reaches the floating IP',
        );
        assert.equal(
          tcpAsk(ns.alpha, OUTSIDE, 7101),
          fip.ip,
          'the instance leaves as its floating IP',
        );
        await network.sync(
          doc.next(
            (s) =>
              (s.securityGroups[0].rules = s.securityGroups[0].rules.filter(
                (r) => r.id !== allow.id,
              )),
          ),
        );
        assert.equal(tcpAsk(under, fip.ip, 7200), '');
        await network.sync(doc.next((s) => s.securityGroups[0].rules.push(allow)));
        await network.sync(doc.next((s) => (s.floatingIps = [])));
        assert.equal(tcpAsk(under, fip.ip, 7200), '');
        assert.equal(tcpAsk(ns.alpha, OUTSIDE, 7101), '172.24.4.10');
      },
    );

    await t.test('a port forwarding reaches one port of one instance', async (st) => {
      const sd = new Teardown(st);
      await tcpServer(sd, ns.beta, '0.0.0.0', 7300);
      const allow = rule('allow-7300', 'ingress', {
        protocol: 'tcp',
        portRangeMin: 7300,
        portRangeMax: 7300,
        remoteIpPrefix: '0.0.0.0/0',
      });
      const pf = {
        id: 'pf1',
        floatingIpId: 'f2',
        externalIp: '172.24.4.21',
        externalPort: 2222,
        internalIp: b.ip,
        internalPort: 7300,
        internalPortId: b.id,
        protocol: 'tcp' as const,
        routerId: router.id,
      };
      await network.sync(
        doc.next((s) => {
          s.securityGroups[0].rules.push(allow);
          s.portForwardings.push(pf);
        }),
      );
      assert.equal(tcpAsk(under, pf.externalIp, 2222), OUTSIDE);
      assert.equal(tcpAsk(under, pf.externalIp, 7300), '');
      await network.sync(doc.next((s) => (s.portForwardings = [])));
      assert.equal(tcpAsk(under, pf.externalIp, 2222), '');
    });

    await t.test(
      'a port cannot send from an address that is not its own, unless an address pair allows it',
      async () => {
        const spoofed = '10.0.0.99';
        await network.sync(doc.next((s) => s.securityGroups[0].memberIps.push(spoofed)));
        ip(ns.alpha, 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0');
        assert.ok(pings(ns.alpha, b.ip), 'its own address still works');
        assert.ok(!pings(ns.alpha, b.ip, spoofed), 'the spoofed source is dropped');
        await network.sync(
          doc.next(
            (s) =>
              (s.ports.find((p) => p.id === a.id)!.allowedAddressPairs = [
                { ipAddress: spoofed, macAddress: a.mac },
              ]),
          ),
        );
        assert.ok(pings(ns.alpha, b.ip, spoofed), 'an allowed address pair may be used');
        await network.sync(
          doc.next((s) => (s.ports.find((p) => p.id === a.id)!.allowedAddressPairs = [])),
        );
        ip(ns.alpha, 'addr', 'del', `${spoofed}/32`, 'dev', 'eth0');
        ip(ns.alpha, 'link', 'set', 'eth0', 'address', 'fa:16:3e:00:01:99');
        assert.ok(!pings(ns.alpha, b.ip), 'a foreign MAC is dropped');
        ip(ns.alpha, 'link', 'set', 'eth0', 'address', a.mac);
        await waitFor('alpha back with its own MAC', () => pings(ns.alpha, b.ip), 10000);
      },
    );

    await t.test(
      'an attached port works at once in the running instance and is gone after detach',
      async () => {
        const d = port(4, '10.1.0.14', net2, 'alpha');
        await network.attach(ia.uuid, fixtureVif(d));
        await network.sync(
          doc.next((s) => {
            s.ports.push(fixturePort(d));
            s.securityGroups[0].memberIps.push(d.ip);
          }),
        );
        assert.match(ip(ns.alpha, 'addr', 'show', 'eth1'), /10\.1\.0\.14\/24/);
        assert.ok(pings(ns.alpha, c.ip));
        await network.detach(ia.uuid, d.id);
        assert.ok(!inNs(ns.alpha, ['ip', 'link', 'show', 'eth1']).stdout);
        assert.ok(!pings(ns.alpha, c.ip));
        assert.ok(!ip(host.ns, 'link').includes(`bt${d.id.replace(/-/g, '').slice(0, 13)}`));
        await network.sync(doc.next((s) => (s.ports = s.ports.filter((p) => p.id !== d.id))));
      },
    );

    await t.test(
      'a compute that starts on a host whose bridges and rules are gone rebuilds them',
      async () => {
        await network.close();
        for (const line of ip(host.ns, '-o', 'link', 'show').split('\n')) {
          const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
          if (name && /^b[nx]/.test(name)) ip(host.ns, 'link', 'del', name);
        }
        assert.equal(inNs(host.ns, ['nft', 'flush', 'ruleset']).status, 0);
        assert.ok(!pings(ns.alpha, b.ip));
        network = host.open();
        await network.restore(instances);
        assert.ok(pings(ns.alpha, b.ip), 'restore alone brings the bridge back');
        await network.sync(doc.next());
        assert.equal(tcpAsk(ns.alpha, OUTSIDE, 7100), '172.24.4.10');
        assert.ok(resolves(ns.alpha, 'beta', net1.dhcpIp).includes(b.ip));
      },
    );

    await t.test('unplugging every instance leaves nothing of them on the host', async () => {
      for (const i of instances) await network.unplug(i.uuid);
      await network.sync(
        doc.next((s) => {
          s.networks = [];
          s.ports = [];
          s.routers = [];
        }),
      );
      // Taps go with their instances' namespaces, which the kernel destroys in the background.
      const ours = () =>
        ip(host.ns, '-o', 'link', 'show')
          .split('\n')
          .filter((l) => /^\d+: b[a-z]/.test(l));
      await waitFor('the taps gone with their namespaces', () => ours().length === 0, 10_000);
      assert.deepEqual(ours(), []);
      assert.doesNotMatch(ip(host.ns, 'route', 'show'), /172\.24\.4|169\.254/);
      assert.deepEqual(
        JSON.parse(inNs(host.ns, ['nft', '-j', 'list', 'tables']).stdout).nftables.filter(
          (e: { table?: unknown }) => e.table,
        ),
        [],
      );
      assert.deepEqual(mountsUnder(host.stateDir), []);
      assert.deepEqual(fs.readdirSync(path.join(host.stateDir, 'netns')), []);
      await waitFor('dnsmasq gone', () => processesUnder(host.stateDir).length === 0, 5000);
    });
  },
);

test(
  'two hosts carry one network over VXLAN: by IP and by name',
  { skip, timeout: 120000 },
  async (t) => {
    const td = new Teardown(t);
    const under = underlay(td);
    const h1 = simHost(td, under, '198.51.100.1', 'h1');
    const h2 = simHost(td, under, '198.51.100.3', 'h2');
    const a = port(1, '10.0.0.11', net1, 'alpha', 'h1', h1.ip);
    const b = port(2, '10.0.0.12', net1, 'beta', 'h2', h2.ip);
    const plugged: string[] = [];
    for (const [h, p, hostName] of [
      [h1, a, 'h1'],
      [h2, b, 'h2'],
    ] as const) {
      const network = h.open();
      td.push(async () => {
        for (const uuid of await network.pluggedInstances()) await network.unplug(uuid);
        await network.close();
      });
      const doc = new Doc(hostName, [a, b]);
      doc.state.networks = [doc.state.networks[0]];
      const { netnsPath } = await network.plug({
        uuid: randomUUID(),
        hostname: p.dnsName!,
        vifs: [fixtureVif(p)],
      });
      await network.sync(doc.next());
      plugged.push(netnsPath);
    }
    const [alpha, beta] = plugged;
    await waitFor('alpha reaches beta over VXLAN', () => pings(alpha, b.ip), 10000);
    assert.ok(pings(beta, a.ip));
    await waitFor(
      'alpha resolves beta',
      () => resolves(alpha, 'beta', net1.dhcpIp).includes(b.ip),
      20000,
    );
    assert.ok(resolves(beta, 'alpha.berth.test', net1.dhcpIp).includes(a.ip));
    const fdb = inNs(h1.ns, [
      'bridge',
      'fdb',
      'show',
      'dev',
      `bx${net1.id.replace(/-/g, '').slice(0, 13)}`,
    ]).stdout;
    assert.match(fdb, /00:00:00:00:00:00 dst 198\.51\.100\.3/);
    assert.match(fdb, new RegExp(`${b.mac} dst 198\\.51\\.100\\.3`));
  },
);

networkConformance(
  'LinuxNetwork',
  async (t) => {
    const td = new Teardown(t);
    const under = underlay(td);
    const host = simHost(td, under, '198.51.100.1', 'c');
    const network = host.open();
    td.push(async () => {
      for (const uuid of await network.pluggedInstances()) await network.unplug(uuid);
      await network.close();
    });
    return {
      network,
      net: { id: randomUUID(), vni: 2001, cidr: '10.5.0.0/24', gateway: '10.5.0.1' },
      interfaces: async (uuid, vifs) => {
        const pin = path.join(host.stateDir, 'netns', `instance-${uuid}`);
        return native()
          .linkList(pin)
          .filter((l) => l.name.startsWith('eth'))
          .sort((x, y) => x.name.localeCompare(y.name))
          .map((l) => `${l.name} ${vifs.find((v) => v.address === l.mac)?.id ?? l.mac}`);
      },
    };
  },
  skip,
);
