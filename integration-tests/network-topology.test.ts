/**
 * The network tests' own world (fixtures/sim-hosts.ts), checked before
 * berth is put in it: simulated hosts reach each other and the outside
 * over the underlay, the outside's server reports the source it saw, its
 * DNS server knows its one name and nothing else, the probe's hand-made
 * frames arrive with the source they claim (so a test that sees them
 * dropped has proved something), and teardown leaves no namespace behind.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { needsRoot, waitFor } from './harness';
import { netnsRunner, ok, pings, tcpAsk } from './fixtures/instance-ns';
import {
  createTopology,
  hostBusybox,
  nslookupA,
  OUTSIDE_NAME,
  OUTSIDE_SERVER_IP,
  probeBinary,
  type Topology,
} from './fixtures/sim-hosts';

const skip = needsRoot() ?? (fs.existsSync(hostBusybox) ? undefined : `${hostBusybox} missing`);

describe('the simulated hosts, underlay and outside', { skip }, () => {
  let topo: Topology;
  before(async () => {
    topo = await createTopology({ hosts: 2 });
  });
  after(async () => {
    await topo?.close();
  });

  test('hosts reach each other and the outside; the outside sees their underlay address', async () => {
    const [a, b] = topo.hosts.map((h) => netnsRunner(h.netns));
    assert.ok(await pings(a, hostBusybox, topo.hosts[1].ip));
    assert.ok(await pings(b, hostBusybox, topo.hosts[0].ip));
    assert.deepEqual(await tcpAsk(a, hostBusybox, OUTSIDE_SERVER_IP, topo.outside.port), {
      hostname: (await ok(a, [hostBusybox, 'hostname'])).trim(),
      peer: topo.hosts[0].ip,
    });
    assert.equal(
      (await tcpAsk(b, hostBusybox, OUTSIDE_SERVER_IP, topo.outside.port))?.peer,
      topo.hosts[1].ip,
    );
  });

  test('the outside DNS server answers its own name and no other', async () => {
    const a = netnsRunner(topo.hosts[0].netns);
    const known = await a(nslookupA(OUTSIDE_NAME, topo.outside.dnsIp));
    assert.equal(known.code, 0, known.stderr);
    assert.match(known.stdout, new RegExp(`Address: ${OUTSIDE_SERVER_IP.replace(/\./g, '\\.')}`));
    // No upstream: a real name must not resolve (nor leave the namespace to try).
    const real = await a(nslookupA('debian.org', topo.outside.dnsIp));
    assert.notEqual(real.code, 0, real.stdout);
  });

  test('a frame made by `probe spoof` arrives with the source it claims', async () => {
    const [a, b] = topo.hosts;
    const server: ChildProcess = spawn(
      'nsenter',
      [`--net=${b.netns}`, '--', probeBinary, 'serve', '9000'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const lines: string[] = [];
      readline.createInterface({ input: server.stdout! }).on('line', (l) => lines.push(l));
      await waitFor('probe serve', () => lines.some((l) => l.startsWith('serve: listening')));
      await ok(netnsRunner(a.netns), [
        probeBinary,
        'spoof',
        'eth0',
        '02:00:00:00:00:77',
        await eth0Mac(b.netns),
        '192.0.2.77',
        b.ip,
        '9000',
        'forged',
      ]);
      await waitFor('the forged datagram', () => lines.includes('udp 192.0.2.77 forged'), 5000);
    } finally {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  });

  test('teardown removes every namespace', async () => {
    assert.equal(topo.namespaces.length, 4);
    await topo.close();
    const left = fs.readdirSync('/run/netns').filter((n) => topo.namespaces.includes(n));
    assert.deepEqual(left, []);
  });
});

/** From netlink: /sys/class/net shows the namespace sysfs was mounted in, not the one entered. */
async function eth0Mac(netns: string): Promise<string> {
  const out = await ok(netnsRunner(netns), ['ip', '-o', 'link', 'show', 'dev', 'eth0']);
  return /link\/ether (\S+)/.exec(out)![1];
}
