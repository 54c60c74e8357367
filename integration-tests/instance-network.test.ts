/**
 * Real instances with ports: the ContainerDriver plugs them through a
 * LinuxNetwork whose host side is a simulated host (a namespace of the
 * test's own). Checked from inside the instances: their identity files,
 * address, capabilities, reachability across reboot, stop/start and
 * pause, an attached port, and nothing left after destroy or a failed
 * spawn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createLogger, transports } from 'winston';
import { berthSchema } from '../config/schema';
import { LocalImageStore } from '../driver/image/local-image-store';
import { LinuxNetwork } from '../driver/network/linux-network';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { ContainerDriver } from '../driver/virt/container-driver';
import { native } from '../native';
import type { InstanceSpec } from '../nova/instance-object';
import {
  defaultGroup,
  fixtureNetwork,
  fixturePort,
  fixtureVif,
  hostState,
  type FixturePort,
} from '../testing/driver/network-fixtures';
import { imageTar, needsRoot, runName, tempStateDir, waitFor } from './harness';
import { cleanNetworkState, ip, makeNs, mountsUnder, Teardown } from './network-sim';

function addonSkip(): string | undefined {
  try {
    return typeof native().linkAddVeth === 'function'
      ? undefined
      : 'the native addon has no network primitives';
  } catch (err) {
    return (err as Error).message;
  }
}
const skip = needsRoot() ?? addonSkip();
const log = createLogger({
  transports: [new transports.Console({ silent: !process.env.BERTH_TEST_LOG })],
});
const WORKLOAD = [
  'sh',
  '-c',
  'trap "exit 0" TERM; echo booted; while :; do sleep 1 & wait $!; done',
];

test('instances with ports on a simulated host', { skip, timeout: 240000 }, async (t) => {
  const td = new Teardown(t);
  const hostNs = makeNs(td, 'insthost');
  const stateDir = tempStateDir('instnet');
  const cgroupParent = runName('instnet');
  td.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  const image = await images.import('busybox', imageTar, { command: WORKLOAD });
  const config = berthSchema.validate({
    compute: { stop_timeout: 5, cgroup_parent: cgroupParent },
  }).value!;
  let runtime: ContainerRuntime | undefined;
  const start = async () => {
    const network = new LinuxNetwork({
      addon: native(),
      stateDir: path.join(stateDir, 'network'),
      config: { ...config.network, host_netns: hostNs, dns_domain: 'berth.test' },
      localIp: '198.51.100.1',
      log,
    });
    network.open();
    const driver = new ContainerDriver({
      images,
      statePath: stateDir,
      compute: config.compute,
      logger: log,
      network,
      openRuntime: async () => (runtime = await ContainerRuntime.open({ stateDir, cgroupParent })),
    });
    await driver.initHost('it-host');
    return { driver, network };
  };
  let { driver, network } = await start();
  // Each its own step: one that fails after a failed test must not keep the others from running.
  td.push(() => cleanNetworkState(path.join(stateDir, 'network')));
  td.push(async () => (await ContainerRuntime.open({ stateDir, cgroupParent })).shutdown());
  td.push(async () => {
    for (const uuid of await driver.listInstanceUuids()) await driver.destroy(spec([], uuid));
    await driver.cleanupHost();
    await network.close();
  });
  const net = {
    id: randomUUID(),
    vni: 3001,
    cidr: '10.7.0.0/24',
    gateway: '10.7.0.1',
    dhcpIp: '10.7.0.2',
  };
  const port = (n: number, name: string): FixturePort => ({
    id: randomUUID(),
    mac: `fa:16:3e:00:07:${n.toString(16).padStart(2, '0')}`,
    ip: `10.7.0.${n}`,
    network: net,
    dnsName: name,
    host: 'it-host',
    tunnelIp: '198.51.100.1',
  });
  const a = port(11, 'alpha');
  const b = port(12, 'beta');
  const state = hostState('it-host', {
    revision: 1,
    networks: [fixtureNetwork(net, 'fa:16:3e:00:07:02')],
    ports: [a, b].map(fixturePort),
    securityGroups: [defaultGroup('sg-default', [a.ip, b.ip])],
  });
  await network.sync(state);
  const spec = (ports: FixturePort[], uuid: string = randomUUID()): InstanceSpec => ({
    uuid,
    name: 'it',
    hostname: ports[0]?.dnsName,
    vcpus: 1,
    memoryMb: 64,
    rootGb: 0,
    imageRef: image.id,
    networkInfo: ports.map(fixtureVif),
  });
  const meta = { id: image.id, name: image.name, properties: {} };
  const inside = async (i: InstanceSpec, script: string) =>
    (await runtime!.exec(i.uuid, ['sh', '-c', script])).stdout;
  const reaches = async (i: InstanceSpec, dst: string) =>
    (await runtime!.exec(i.uuid, ['probe', 'ping4', dst])).code === 0;
  const booted = (i: InstanceSpec) =>
    waitFor('boot', async () => (await driver.getConsoleOutput(i)).includes('booted'));

  const alpha = spec([a]);
  const beta = spec([b]);
  for (const i of [alpha, beta]) {
    await driver.spawn(i, meta);
    await booted(i);
  }

  await t.test(
    'the instance sees its hostname, hosts, resolver, address and MAC; NET_RAW is gone',
    async () => {
      assert.equal(await inside(alpha, 'cat /etc/hostname'), 'alpha\n');
      assert.match(
        await inside(alpha, 'cat /etc/hosts'),
        /^10\.7\.0\.11\talpha\.berth\.test alpha$/m,
      );
      assert.equal(
        await inside(alpha, 'cat /etc/resolv.conf'),
        'search berth.test\nnameserver 10.7.0.2\n',
      );
      const addr = await inside(alpha, 'ip addr show eth0');
      assert.match(addr, /link\/ether fa:16:3e:00:07:0b/);
      assert.match(addr, /inet 10\.7\.0\.11\/24/);
      assert.match(await inside(alpha, 'ip route'), /default via 10\.7\.0\.1 dev eth0/);
      const capEff = /CapEff:\s*([0-9a-f]+)/.exec(await inside(alpha, 'cat /proc/self/status'))![1];
      assert.equal(BigInt(`0x${capEff}`) & (1n << 13n), 0n);
    },
  );

  await t.test(
    'instances reach each other by ICMP without NET_RAW, across reboot, stop/start and pause',
    async () => {
      const first = await runtime!.exec(alpha.uuid, ['probe', 'ping4', b.ip]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      await driver.reboot(alpha, 'HARD');
      await waitFor('alpha back', () => reaches(alpha, b.ip), 20000);
      await driver.powerOff(beta, 0);
      await driver.powerOn(beta);
      await waitFor('beta back', () => reaches(alpha, b.ip), 20000);
      await driver.pause(beta);
      await driver.unpause(beta);
      assert.ok(await reaches(beta, a.ip));
    },
  );

  await t.test('an attached port works at once; detached it is gone', async () => {
    const c = port(13, 'alpha');
    await network.sync({
      ...state,
      revision: 2,
      ports: [...state.ports, fixturePort(c)],
      securityGroups: [defaultGroup('sg-default', [a.ip, b.ip, c.ip])],
    });
    await driver.attachInterface(alpha, fixtureVif(c));
    assert.match(await inside(alpha, 'ip addr show eth1'), /inet 10\.7\.0\.13\/24/);
    const tap = `bt${c.id.replace(/-/g, '').slice(0, 13)}`;
    assert.match(
      ip(hostNs, 'link', 'show', tap),
      new RegExp(`master bn${net.id.replace(/-/g, '').slice(0, 13)} .*state UP`),
    );
    await driver.detachInterface(alpha, fixtureVif(c));
    assert.doesNotMatch(await inside(alpha, 'ip link'), /eth1/);
  });

  await t.test('a restarted compute restores the host side for its instances', async () => {
    await driver.cleanupHost();
    await network.close();
    for (const line of ip(hostNs, '-o', 'link', 'show').split('\n')) {
      const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
      if (name?.startsWith('bn')) ip(hostNs, 'link', 'del', name);
    }
    assert.ok(!(await reaches(alpha, b.ip)));
    ({ driver, network } = await start());
    assert.ok(await reaches(alpha, b.ip));
  });

  await t.test('destroy and a failed spawn leave no namespace or port behind', async () => {
    const failing = spec([port(14, 'broken')]);
    await assert.rejects(
      driver.spawn(failing, { ...meta, properties: { os_command_line: '/no/such/command' } }),
    );
    for (const i of [alpha, beta]) await driver.destroy(i);
    assert.deepEqual(await network.pluggedInstances(), []);
    // The network's DNS namespace goes with the sync the last unplug starts.
    await waitFor(
      'no pinned namespace left',
      () => mountsUnder(path.join(stateDir, 'network')).length === 0,
      10000,
    );
    await waitFor('taps gone', () => !/: bt/.test(ip(hostNs, '-o', 'link', 'show')), 10000);
  });
});
