/**
 * The data plane outlives berth, and berth rebuilds it: `kill -9` of the
 * compute and of the api keeps instances talking to each other and a
 * floating IP answering; after a restart everything works and the control
 * plane still drives the host; when the simulated host's bridges, VXLAN
 * devices and nft tables are deleted by hand, a compute restart restores
 * them. Deleting every server, router, floating IP and network then leaves
 * nothing of them in the host's namespace or the state directory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { needsRoot, waitFor } from './harness';
import { instanceRunner, netnsRunner, ok, tcpAsk, type Runner } from './fixtures/instance-ns';
import {
  ADMIN,
  deleteEverything,
  OPENSTACK,
  PROBE_PORT,
  startNetworkCloud,
  type NetworkCloud,
} from './fixtures/network-cloud';
import { ingressRuleArgs } from './fixtures/osc';
import { hostBusybox, run } from './fixtures/sim-hosts';

const BB = '/bin/busybox';
const skip =
  needsRoot() ??
  (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing: install python3-openstackclient`);

interface Vm {
  id: string;
  name: string;
  ip: string;
  run: Runner;
}

describe('the data plane survives berth and is rebuilt by it', { skip }, () => {
  let cloud: NetworkCloud;
  const vms: Vm[] = [];
  let floatingIp: string;

  before(
    async () => {
      cloud = await startNetworkCloud({ computes: 1 });
    },
    { timeout: 120_000 },
  );
  after(async () => cloud?.close(), { timeout: 120_000 });

  const hostNs = () => cloud.topo.hosts[0].netns;
  const host = () => netnsRunner(hostNs());
  const outside = () => netnsRunner(cloud.topo.outside.netns);
  const prefix = () => cloud.topo.devicePrefix;

  async function boot(t: TestContext, name: string): Promise<Vm> {
    const created = await cloud.oscJson(t, [
      'server',
      'create',
      '--flavor',
      cloud.flavorId,
      '--image',
      cloud.imageId,
      '--nic',
      'net-id=sv',
      name,
    ]);
    await cloud.settled(created.id);
    const ports = await cloud.oscJson(t, ['port', 'list', '--server', created.id]);
    return {
      id: created.id,
      name,
      ip: ports[0]['Fixed IP Addresses'][0].ip_address,
      run: instanceRunner(await cloud.instance(created.id)),
    };
  }

  /** Instance to instance by IP and name, and the floating IP from the outside. */
  async function connected(): Promise<boolean> {
    const [a, b] = vms;
    const byIp = await tcpAsk(a.run, BB, b.ip, PROBE_PORT);
    const byName = await tcpAsk(b.run, BB, a.name, PROBE_PORT);
    const floating = await tcpAsk(outside(), hostBusybox, floatingIp, PROBE_PORT);
    return (
      byIp?.hostname === b.name && byName?.hostname === a.name && floating?.hostname === a.name
    );
  }

  test('set-up: two servers on a routed network, a floating IP open on the probe port', async (t) => {
    await cloud.oscJson(t, ['network', 'create', 'sv']);
    await cloud.oscJson(t, [
      'subnet',
      'create',
      '--network',
      'sv',
      '--subnet-range',
      '10.30.0.0/24',
      'sv-subnet',
    ]);
    await cloud.oscJson(t, ['router', 'create', 'sv-router']);
    await cloud.oscOk(t, ['router', 'add', 'subnet', 'sv-router', 'sv-subnet']);
    await cloud.oscOk(t, ['router', 'set', '--external-gateway', 'public', 'sv-router']);
    vms.push(await boot(t, 'sv-1'), await boot(t, 'sv-2'));
    const [{ ID: portId }] = await cloud.oscJson(t, ['port', 'list', '--server', vms[0].id]);
    const sg = (await cloud.oscJson(t, ['port', 'show', portId])).security_group_ids[0];
    await cloud.oscJson(t, ingressRuleArgs('tcp', PROBE_PORT, sg));
    floatingIp = (await cloud.oscJson(t, ['floating', 'ip', 'create', 'public']))
      .floating_ip_address;
    await cloud.oscOk(t, ['server', 'add', 'floating', 'ip', 'sv-1', floatingIp]);
    await waitFor('connectivity', connected, 60_000, 200);
  });

  test('kill -9 of the compute, then of the api: instances and the floating IP keep working', async () => {
    await cloud.stopNode(0, 'SIGKILL');
    assert.ok(await connected(), 'lost with the compute');
    await cloud.stopApi('SIGKILL');
    assert.ok(await connected(), 'lost with the api');
    // The per-network dnsmasq is detached: names still resolve (connected() asked by name).
  });

  test('after a restart everything works, and the control plane still drives the host', async (t) => {
    await cloud.startApi();
    await cloud.startNode(0);
    assert.ok(await connected());
    const third = await boot(t, 'sv-3');
    await waitFor(
      'the new server reaches the old',
      async () => (await tcpAsk(third.run, BB, vms[0].ip, PROBE_PORT))?.hostname === 'sv-1',
    );
    await cloud.oscOk(t, ['server', 'delete', '--wait', 'sv-3']);
  });

  test('bridges, VXLAN devices and nft tables deleted by hand come back with a compute restart', async () => {
    await cloud.stopNode(0, 'SIGKILL');
    const links = await ourLinks();
    const bridges = links.filter((l) => l.kind === 'n' || l.kind === 'x').map((l) => l.name);
    assert.ok(bridges.length >= 2, `no bridge or VXLAN device of ours: ${JSON.stringify(links)}`);
    for (const name of bridges) await ok(host(), ['ip', 'link', 'del', name]);
    const tables = await ourTables();
    assert.ok(tables.length > 0, 'no nft table of ours on the host');
    for (const table of tables) await ok(host(), ['nft', 'delete', 'table', ...table.split(' ')]);
    // The damage is real: the instances' host ends hang loose.
    assert.equal(await tcpAsk(vms[0].run, BB, vms[1].ip, PROBE_PORT), undefined);

    await cloud.startNode(0);
    await waitFor('connectivity restored', connected, 60_000, 200);
    const restored = (await ourLinks()).map((l) => l.name);
    for (const name of bridges) assert.ok(restored.includes(name), `${name} not restored`);
    assert.deepEqual((await ourTables()).sort(), tables.sort());
  });

  test('deleting every server, router, floating IP and network leaves nothing of them behind', async () => {
    const node = cloud.nodes[0];
    await deleteEverything(cloud.api);
    const netnsDir = path.join(node.stateDir, 'network', 'netns');
    await waitFor(
      'the host cleaned up',
      async () =>
        (await ourLinks()).length === 0 && (await ourTables()).every((t) => t.endsWith('_host')),
      60_000,
      200,
    );
    // What the topology itself made, and nothing more.
    const addresses = await ok(host(), ['ip', '-o', 'addr', 'show']);
    const inet = [...addresses.matchAll(/^\d+:\s+(\S+)\s+inet6?\s+(\S+)/gm)]
      .map((m) => `${m[1]} ${m[2]}`)
      .filter((a) => !a.startsWith('lo ') && !/ fe80:/.test(a));
    assert.deepEqual(inet, [`eth0 ${cloud.topo.hosts[0].ip}/24`]);
    const routes = (await ok(host(), ['ip', '-4', 'route', 'show'])).trim().split('\n');
    assert.deepEqual(
      routes
        .filter((r) => !r.startsWith('unreachable '))
        .map((r) => r.split(' ').slice(0, 3).join(' ')),
      ['default via 192.0.2.254', '192.0.2.0/24 dev eth0'],
    );
    // The host table is berth's host setting (uplinks forward, masquerade), not a resource's: no rule of a port or router.
    const ruleset = await ok(host(), ['nft', 'list', 'ruleset']);
    for (const v of vms) assert.ok(!ruleset.includes(v.ip), `a rule still names ${v.ip}`);
    assert.ok(!ruleset.includes(floatingIp), `a rule still names ${floatingIp}`);
    assert.deepEqual(fs.existsSync(netnsDir) ? fs.readdirSync(netnsDir) : [], []);
    const mounts = fs.readFileSync('/proc/mounts', 'utf8');
    assert.ok(
      !mounts.includes(`${node.stateDir}/`),
      'a namespace is still pinned in the state directory',
    );
    const dnsmasqs = (await run('pgrep', ['-f', `dnsmasq.*${node.stateDir}/`])).stdout.trim();
    assert.equal(dnsmasqs, '', 'a dnsmasq is still running');
    const servers = await cloud.api('GET', '/v2.1/servers?all_tenants=1', { token: ADMIN });
    assert.deepEqual(servers.body.servers, []);
  });

  /** Devices in the host's namespace with our prefix, with their kind letter (driver/network/names.ts). */
  async function ourLinks(): Promise<{ name: string; kind: string }[]> {
    const out = await ok(host(), ['ip', '-o', 'link', 'show']);
    return [...out.matchAll(/^\d+:\s+([^:@\s]+)/gm)]
      .map((m) => m[1])
      .filter((n) => n.startsWith(prefix()))
      .map((name) => ({ name, kind: name[prefix().length] }));
  }

  /** "family name" of every nft table with our prefix in the host's namespace. */
  async function ourTables(): Promise<string[]> {
    const out = await ok(host(), ['nft', 'list', 'tables']);
    return [...out.matchAll(/^table (\S+) (\S+)$/gm)]
      .filter((m) => m[2].startsWith(prefix()))
      .map((m) => `${m[1]} ${m[2]}`);
  }
});
