/**
 * One network over two hosts: `berth api` and two `berth compute`
 * processes, each with a simulated host of its own as `[network]
 * host_netns` on the test's underlay. The network is carried over VXLAN
 * between their my_ip addresses, with forwarding entries pushed from the
 * control plane (no multicast, no learning): instances on the two hosts
 * reach each other by IP and by hostname, and a deleted instance's entry
 * leaves the other host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { needsRoot, waitFor } from './harness';
import {
  instanceRunner,
  netnsRunner,
  ok,
  pings,
  tcpAsk,
  type Runner,
} from './fixtures/instance-ns';
import {
  ADMIN,
  DNS_DOMAIN,
  PROBE_PORT,
  startNetworkCloud,
  type NetworkCloud,
} from './fixtures/network-cloud';
import { nslookupA } from './fixtures/sim-hosts';

const BB = '/bin/busybox';

interface Placed {
  id: string;
  name: string;
  host: string;
  ip: string;
  mac: string;
  run: Runner;
}

describe('one network over VXLAN between two berth computes', { skip: needsRoot() }, () => {
  let cloud: NetworkCloud;
  const placed: Placed[] = [];
  let networkId: string;

  before(
    async () => {
      cloud = await startNetworkCloud({ computes: 2 });
    },
    { timeout: 120_000 },
  );
  after(async () => cloud?.close(), { timeout: 120_000 });

  const neutron = (method: string, p: string, body?: unknown) =>
    cloud.api(method, `/network/v2.0${p}`, { token: ADMIN, body });

  /**
   * What the host's VXLAN devices send to which VTEP (`bridge fdb` entries
   * with a `dst`): the control plane's. The bridge's own learned entries
   * (`master`, no `dst`) age out by themselves and are left out.
   */
  async function fdb(hostIndex: number): Promise<string> {
    const out = await ok(netnsRunner(cloud.topo.hosts[hostIndex].netns), ['bridge', 'fdb', 'show']);
    return out
      .split('\n')
      .filter((l) => / dst /.test(l))
      .join('\n');
  }

  test('two servers of one network land on the two hosts and come up', async () => {
    const network = await neutron('POST', '/networks', { network: { name: 'mh' } });
    assert.equal(network.status, 201, JSON.stringify(network.body));
    networkId = network.body.network.id;
    const subnet = await neutron('POST', '/subnets', {
      subnet: { network_id: networkId, ip_version: 4, cidr: '10.20.0.0/24' },
    });
    assert.equal(subnet.status, 201, JSON.stringify(subnet.body));
    const group = await cloud.api('POST', '/v2.1/os-server-groups', {
      token: ADMIN,
      version: '2.64',
      body: { server_group: { name: 'mh-apart', policy: 'anti-affinity' } },
    });
    assert.equal(group.status, 200, JSON.stringify(group.body));
    for (const name of ['mh-1', 'mh-2']) {
      const r = await cloud.api('POST', '/v2.1/servers', {
        token: ADMIN,
        version: '2.64',
        body: {
          server: {
            name,
            imageRef: cloud.imageId,
            flavorRef: cloud.flavorId,
            networks: [{ uuid: networkId }],
          },
          'os:scheduler_hints': { group: group.body.server_group.id },
        },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      await cloud.settled(r.body.server.id);
      const s = (await cloud.api('GET', `/v2.1/servers/${r.body.server.id}`, { token: ADMIN })).body
        .server;
      const [address] = s.addresses.mh as { addr: string; 'OS-EXT-IPS-MAC:mac_addr': string }[];
      placed.push({
        id: s.id,
        name,
        host: s['OS-EXT-SRV-ATTR:host'],
        ip: address.addr,
        mac: address['OS-EXT-IPS-MAC:mac_addr'],
        run: instanceRunner(await cloud.instance(s.id)),
      });
    }
    assert.deepEqual(placed.map((p) => p.host).sort(), cloud.nodes.map((n) => n.host).sort());
  });

  test('each host carries the network on a VXLAN device over its my_ip, flooding only to the other', async () => {
    for (const [i, h] of cloud.topo.hosts.entries()) {
      const other = cloud.topo.hosts[1 - i];
      const links = await ok(netnsRunner(h.netns), [
        'ip',
        '-d',
        '-o',
        'link',
        'show',
        'type',
        'vxlan',
      ]);
      assert.match(links, new RegExp(`vxlan id \\d+ .*local ${h.ip.replace(/\./g, '\\.')} `));
      assert.match(links, /nolearning/);
      // l2population: the flooding entry and the remote port's MAC point at the other host.
      const remote = placed.find((p) => p.host === cloud.nodes[1 - i].host)!;
      const entries = await waitFor(`${remote.mac} in the fdb of ${h.name}`, async () => {
        const out = await fdb(i);
        return out.includes(`${remote.mac} `) ? out : undefined;
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}; it has:\n${await fdb(i)}`);
      });
      const esc = other.ip.replace(/\./g, '\\.');
      assert.match(entries, new RegExp(`^00:00:00:00:00:00 dev \\S+ dst ${esc} `, 'm'));
      assert.match(entries, new RegExp(`^${remote.mac} dev \\S+ dst ${esc} `, 'm'));
    }
  });

  test('instances on the two hosts reach each other by IP and by hostname', async () => {
    const [a, b] = placed;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ]) {
      assert.ok(await pings(from.run, BB, to.ip), `${from.name} -> ${to.ip}`);
      assert.deepEqual(await tcpAsk(from.run, BB, to.ip, PROBE_PORT), {
        hostname: to.name,
        peer: from.ip,
      });
      // Each host's DNS server knows the ports of the other's.
      await waitFor(`${to.name} resolves in ${from.name}`, async () => {
        const r = await from.run(nslookupA(to.name, undefined, BB));
        return r.code === 0 && r.stdout.includes(to.ip);
      });
      assert.ok(await pings(from.run, BB, `${to.name}.${DNS_DOMAIN}`));
      assert.deepEqual(await tcpAsk(from.run, BB, to.name, PROBE_PORT), {
        hostname: to.name,
        peer: from.ip,
      });
    }
  });

  test("a deleted instance's forwarding entry leaves the other host", async () => {
    const [, b] = placed;
    const other = cloud.nodes.findIndex((n) => n.host !== b.host);
    assert.ok((await fdb(other)).includes(b.mac));
    const r = await cloud.api('DELETE', `/v2.1/servers/${b.id}`, { token: ADMIN });
    assert.equal(r.status, 204);
    await waitFor(
      `${b.mac} gone from the fdb of ${cloud.nodes[other].host}`,
      async () => !(await fdb(other)).includes(b.mac),
    ).catch(async (err: Error) => {
      const ports = await neutron('GET', `/ports?device_id=${b.id}`);
      throw new Error(`${err.message}; the server's ports: ${JSON.stringify(ports.body.ports)}`);
    });
  });
});
