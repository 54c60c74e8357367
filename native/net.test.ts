// The addon's network primitives against what the kernel reports: through
// the addon's own list calls and through iproute2 / nft run inside the test's
// namespaces. Every call names a netns this file made; the host's network is
// never touched.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempStateDir } from '../integration-tests/harness';
import { native, isSyscallError, type LinkInfo, type SyscallError } from './index';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
const addon = () => native();

/** `count` fresh network namespaces pinned under a temp dir, removed after the test whatever its outcome. */
function netns(t: TestContext, count: number): string[] {
  const dir = tempStateDir('net');
  const paths: string[] = [];
  t.after(() => {
    for (const p of paths) {
      addon().umount(p, true);
      fs.rmSync(p);
    }
    fs.rmSync(dir, { recursive: true });
  });
  for (let i = 0; i < count; i++) {
    const p = path.join(dir, `ns${i}`);
    addon().netnsCreate(p);
    paths.push(p);
  }
  return paths;
}

/** A command run inside `ns` (iproute2, nft, cat), its stdout. */
function inside(ns: string, ...argv: string[]): string {
  return execFileSync('nsenter', [`--net=${ns}`, ...argv], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function ipJson<T = Record<string, unknown>>(ns: string, ...argv: string[]): T[] {
  return JSON.parse(inside(ns, 'ip', '-j', ...argv) || '[]') as T[];
}

function link(ns: string, name: string): LinkInfo | undefined {
  return addon()
    .linkList(ns)
    .find((l) => l.name === name);
}

function linkData(ns: string, name: string): Record<string, unknown> {
  const [info] = ipJson<{ linkinfo: { info_data: Record<string, unknown> } }>(
    ns,
    '-d',
    'link',
    'show',
    'dev',
    name,
  );
  return info.linkinfo.info_data;
}

/** Runs `fn`, which must throw a SyscallError; returns it. */
function syscallError(fn: () => void): SyscallError {
  try {
    fn();
  } catch (err) {
    assert.ok(isSyscallError(err), `not a SyscallError: ${String(err)}`);
    return err;
  }
  assert.fail('did not throw');
}

const ownNetns = () => fs.readlinkSync('/proc/thread-self/ns/net');

test('a veth peer is made directly in its netns with its name, MAC and MTU', { skip }, (t) => {
  const [host, inst] = netns(t, 2);
  addon().linkAddVeth(host, 'tap0', inst, 'eth0', {
    mtu: 1400,
    mac: '02:00:00:00:00:01',
    peerMac: '02:00:00:00:00:02',
  });

  assert.deepEqual(
    { ...link(host, 'tap0'), index: 0 },
    { name: 'tap0', index: 0, kind: 'veth', mac: '02:00:00:00:00:01', mtu: 1400, up: false },
  );
  assert.deepEqual(
    { ...link(inst, 'eth0'), index: 0 },
    { name: 'eth0', index: 0, kind: 'veth', mac: '02:00:00:00:00:02', mtu: 1400, up: false },
  );
  assert.equal(link(host, 'eth0'), undefined, 'the peer also appeared in the first netns');
  assert.equal(link(inst, 'tap0'), undefined);
  const [eth0] = ipJson<{ address: string; mtu: number; link_netnsid?: number }>(
    inst,
    'link',
    'show',
    'dev',
    'eth0',
  );
  assert.equal(eth0.address, '02:00:00:00:00:02');
  assert.equal(eth0.mtu, 1400);
  assert.notEqual(eth0.link_netnsid, undefined, 'the peer of eth0 is not in another netns');

  // Both ends in one netns when both are the same.
  addon().linkAddVeth(host, 'va', host, 'vb');
  assert.equal(link(host, 'vb')?.kind, 'veth');

  // A peer name taken in the peer netns fails whole: no host end is left.
  const err = syscallError(() => addon().linkAddVeth(host, 'tap1', inst, 'eth0'));
  assert.equal(err.code, 'EEXIST');
  assert.equal(err.syscall, 'RTM_NEWLINK');
  assert.equal(err.path, 'tap1');
  assert.match(err.message, /peer 'eth0'/);
  assert.equal(link(host, 'tap1'), undefined);
});

test(
  'two namespaces plugged into one bridge reach each other with their own MACs',
  { skip },
  (t) => {
    const [host, ...insts] = netns(t, 3);
    addon().linkAddBridge(host, 'br0', { mtu: 1450 });
    addon().linkSet(host, 'br0', { up: true });
    insts.forEach((inst, i) => {
      // What plugging an instance's port does, call by call.
      addon().linkAddVeth(host, `tap${i}`, inst, 'eth0', {
        mtu: 1450,
        peerMac: `fa:16:3e:00:00:0${i}`,
      });
      addon().linkSet(host, `tap${i}`, { master: 'br0', up: true });
      addon().linkSet(inst, 'lo', { up: true });
      addon().addrAdd(inst, 'eth0', `10.0.0.${i + 2}/24`);
      addon().linkSet(inst, 'eth0', { up: true });
      addon().routeReplace(inst, { dst: 'default', gateway: '10.0.0.1' });
    });

    inside(insts[0], 'busybox', 'ping', '-c', '1', '-W', '10', '10.0.0.3');
    const [peer] = ipJson<{ lladdr?: string }>(insts[0], 'neigh', 'show', '10.0.0.3');
    assert.equal(peer?.lladdr, 'fa:16:3e:00:00:01');
  },
);

test('a bridge without STP or forward delay enslaves and releases a port', { skip }, (t) => {
  const [host, inst] = netns(t, 2);
  addon().linkAddBridge(host, 'br0', { mtu: 1400, mac: '02:00:00:00:0b:01' });
  addon().linkAddVeth(host, 'tap0', inst, 'eth0', { mtu: 1400 });
  assert.deepEqual(
    { ...link(host, 'br0'), index: 0 },
    { name: 'br0', index: 0, kind: 'bridge', mac: '02:00:00:00:0b:01', mtu: 1400, up: false },
  );
  const data = linkData(host, 'br0');
  assert.equal(data.stp_state, 0);
  assert.equal(data.forward_delay, 0);

  addon().linkSet(host, 'tap0', { master: 'br0', up: true });
  addon().linkSet(host, 'br0', { up: true });
  assert.equal(link(host, 'tap0')?.master, 'br0');
  assert.equal(link(host, 'tap0')?.up, true);
  assert.equal(link(host, 'br0')?.up, true);
  const [port] = ipJson<{ master?: string }>(host, 'link', 'show', 'dev', 'tap0');
  assert.equal(port.master, 'br0');

  addon().linkSet(host, 'tap0', { master: null });
  assert.equal(link(host, 'tap0')?.master, undefined);
  assert.equal(link(host, 'tap0')?.up, true, 'releasing a port changed more than its master');

  addon().linkSet(host, 'tap0', { mtu: 1300, mac: '02:00:00:00:0b:02', up: false });
  assert.deepEqual(
    { ...link(host, 'tap0'), index: 0 },
    { name: 'tap0', index: 0, kind: 'veth', mac: '02:00:00:00:0b:02', mtu: 1300, up: false },
  );

  addon().linkDel(host, 'br0');
  assert.equal(link(host, 'br0'), undefined);
  // Deleting one end of a veth deletes its peer in the other netns.
  addon().linkDel(host, 'tap0');
  assert.equal(link(inst, 'eth0'), undefined);
});

test('a VXLAN device without learning takes FDB entries for remote VTEPs', { skip }, (t) => {
  const [host] = netns(t, 1);
  addon().linkAddVxlan(host, 'vx0', { vni: 4242, local: '192.0.2.1', port: 4789, mtu: 1400 });
  assert.equal(link(host, 'vx0')?.kind, 'vxlan');
  assert.equal(link(host, 'vx0')?.mtu, 1400);
  const data = linkData(host, 'vx0');
  assert.equal(data.id, 4242);
  assert.equal(data.local, '192.0.2.1');
  assert.equal(data.port, 4789);
  assert.equal(data.learning, false);

  const flood = '00:00:00:00:00:00';
  addon().fdbAppend(host, 'vx0', flood, '192.0.2.2');
  addon().fdbAppend(host, 'vx0', flood, '192.0.2.3');
  addon().fdbAppend(host, 'vx0', 'fa:16:3e:00:00:01', '192.0.2.3');
  addon().fdbAppend(host, 'vx0', flood, '192.0.2.2'); // EEXIST is not an error
  const byMacDst = (a: { mac: string; dst: string }, b: { mac: string; dst: string }) =>
    `${a.mac} ${a.dst}`.localeCompare(`${b.mac} ${b.dst}`);
  const expected = [
    { mac: flood, dst: '192.0.2.2' },
    { mac: flood, dst: '192.0.2.3' },
    { mac: 'fa:16:3e:00:00:01', dst: '192.0.2.3' },
  ];
  assert.deepEqual(addon().fdbList(host, 'vx0').sort(byMacDst), expected);
  const shown = JSON.parse(inside(host, 'bridge', '-j', 'fdb', 'show', 'dev', 'vx0')) as {
    mac: string;
    dst?: string;
    state?: string;
  }[];
  assert.deepEqual(
    shown
      .filter((e) => e.dst)
      .map((e) => ({ mac: e.mac, dst: e.dst as string }))
      .sort(byMacDst),
    expected,
  );
  assert.ok(shown.filter((e) => e.dst).every((e) => e.state === 'permanent'));

  addon().fdbDel(host, 'vx0', flood, '192.0.2.2');
  assert.deepEqual(addon().fdbList(host, 'vx0').sort(byMacDst), expected.slice(1));
  addon().fdbDel(host, 'vx0', flood, '192.0.2.2'); // absent is not an error
  addon().fdbDel(host, 'vx0', 'fa:16:3e:00:00:01', '192.0.2.3');
  addon().fdbDel(host, 'vx0', 'fa:16:3e:00:00:01', '192.0.2.3');
  assert.deepEqual(addon().fdbList(host, 'vx0'), [{ mac: flood, dst: '192.0.2.3' }]);
});

test('addresses are added once, listed and deleted', { skip }, (t) => {
  const [host] = netns(t, 1);
  addon().linkAddBridge(host, 'br0');
  addon().addrAdd(host, 'br0', '10.0.0.1/24');
  addon().addrAdd(host, 'br0', '10.0.0.1/24'); // EEXIST is not an error
  addon().addrAdd(host, 'br0', '10.0.1.1/32');
  assert.deepEqual(
    addon()
      .addrList(host)
      .filter((a) => a.dev === 'br0'),
    [
      { dev: 'br0', cidr: '10.0.0.1/24' },
      { dev: 'br0', cidr: '10.0.1.1/32' },
    ],
  );
  const [shown] = ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }>(
    host,
    'addr',
    'show',
    'dev',
    'br0',
  );
  assert.deepEqual(
    shown.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    ['10.0.0.1/24', '10.0.1.1/32'],
  );

  addon().addrDel(host, 'br0', '10.0.0.1/24');
  assert.deepEqual(
    addon()
      .addrList(host)
      .filter((a) => a.dev === 'br0'),
    [{ dev: 'br0', cidr: '10.0.1.1/32' }],
  );
  const err = syscallError(() => addon().addrDel(host, 'br0', '10.0.0.1/24'));
  assert.equal(err.code, 'EADDRNOTAVAIL');
  assert.equal(err.syscall, 'RTM_DELADDR');
  assert.equal(err.path, 'br0 10.0.0.1/24');
});

test('routes: replaced, unreachable, link-scope, deleted', { skip }, (t) => {
  const [host, inst] = netns(t, 2);
  addon().linkAddVeth(host, 'tap0', inst, 'eth0');
  addon().linkSet(inst, 'eth0', { up: true });
  addon().addrAdd(inst, 'eth0', '10.0.0.2/24');

  addon().routeReplace(inst, { dst: 'default', gateway: '10.0.0.1' });
  addon().routeReplace(inst, { dst: 'default', gateway: '10.0.0.254', dev: 'eth0' });
  addon().routeReplace(inst, { dst: '169.254.169.254/32', gateway: '10.0.0.3', metric: 10 });
  addon().routeReplace(inst, { dst: '10.9.0.0/16', dev: 'eth0' });
  addon().routeReplace(inst, { dst: '10.8.0.0/16', dev: 'eth0', src: '10.0.0.2', scope: 'link' });
  addon().routeReplace(inst, { dst: '198.51.100.0/24', type: 'unreachable' });
  addon().routeReplace(inst, { dst: '203.0.113.0/24', type: 'blackhole' });

  const routes = addon().routeList(inst);
  const byDst = (dst: string) => routes.filter((r) => r.dst === dst);
  assert.deepEqual(byDst('default'), [
    { dst: 'default', gateway: '10.0.0.254', dev: 'eth0', type: 'unicast', scope: 'universe' },
  ]);
  assert.deepEqual(byDst('169.254.169.254/32'), [
    {
      dst: '169.254.169.254/32',
      gateway: '10.0.0.3',
      dev: 'eth0',
      type: 'unicast',
      metric: 10,
      scope: 'universe',
    },
  ]);
  assert.deepEqual(byDst('10.9.0.0/16'), [
    { dst: '10.9.0.0/16', dev: 'eth0', type: 'unicast', scope: 'link' },
  ]);
  assert.deepEqual(byDst('10.8.0.0/16'), [
    { dst: '10.8.0.0/16', dev: 'eth0', type: 'unicast', src: '10.0.0.2', scope: 'link' },
  ]);
  assert.deepEqual(byDst('198.51.100.0/24'), [
    { dst: '198.51.100.0/24', type: 'unreachable', scope: 'universe' },
  ]);
  assert.deepEqual(byDst('203.0.113.0/24'), [
    { dst: '203.0.113.0/24', type: 'blackhole', scope: 'universe' },
  ]);
  // The address's own prefix route, made by the kernel, is listed too.
  assert.equal(byDst('10.0.0.0/24')[0]?.scope, 'link');

  const shown = ipJson<{
    dst: string;
    type?: string;
    gateway?: string;
    scope?: string;
    protocol: string;
  }>(inst, 'route', 'show');
  const ip = (dst: string) => shown.find((r) => r.dst === dst);
  assert.equal(ip('default')?.gateway, '10.0.0.254');
  assert.equal(ip('default')?.protocol, 'static');
  assert.equal(ip('198.51.100.0/24')?.type, 'unreachable');
  assert.equal(ip('203.0.113.0/24')?.type, 'blackhole');
  assert.equal(ip('10.9.0.0/16')?.scope, 'link');
  // The unreachable route refuses traffic rather than sending it by the default route.
  assert.throws(() => inside(inst, 'ip', 'route', 'get', '198.51.100.7'), /No route to host/);

  addon().routeDel(inst, { dst: 'default' });
  addon().routeDel(inst, { dst: '198.51.100.0/24', type: 'unreachable' });
  addon().routeDel(inst, { dst: '10.9.0.0/16', dev: 'eth0' });
  addon().routeDel(inst, { dst: '10.9.0.0/16', dev: 'eth0' }); // ESRCH is not an error
  const left = addon()
    .routeList(inst)
    .map((r) => r.dst);
  for (const dst of ['default', '198.51.100.0/24', '10.9.0.0/16'])
    assert.ok(!left.includes(dst), dst);
  assert.ok(left.includes('203.0.113.0/24'));

  const err = syscallError(() =>
    addon().routeReplace(inst, { dst: '10.7.0.0/16', gateway: '172.16.0.1' }),
  );
  assert.equal(err.code, 'ENETUNREACH');
  assert.equal(err.syscall, 'RTM_NEWROUTE');
  assert.equal(err.path, '10.7.0.0/16 via 172.16.0.1');
});

test('neighbour entries are permanent, replaced and deleted', { skip }, (t) => {
  const [host] = netns(t, 1);
  addon().linkAddBridge(host, 'br0');
  addon().addrAdd(host, 'br0', '10.0.0.1/24');
  const neigh = () =>
    ipJson<{ dst: string; lladdr?: string; state: string[] }>(host, 'neigh', 'show', 'dev', 'br0');

  addon().neighReplace(host, 'br0', '10.0.0.7', 'fa:16:3e:00:00:07');
  assert.deepEqual(
    neigh().map((n) => [n.dst, n.lladdr, n.state]),
    [['10.0.0.7', 'fa:16:3e:00:00:07', ['PERMANENT']]],
  );
  addon().neighReplace(host, 'br0', '10.0.0.7', 'fa:16:3e:00:00:08');
  assert.deepEqual(
    neigh().map((n) => n.lladdr),
    ['fa:16:3e:00:00:08'],
  );
  addon().neighDel(host, 'br0', '10.0.0.7');
  assert.deepEqual(neigh(), []);
});

test('sysctlSet changes the test netns only, never the host', { skip }, (t) => {
  const [host] = netns(t, 1);
  const key = 'net/ipv4/ip_forward';
  const hostValue = fs.readFileSync(`/proc/sys/${key}`, 'utf8').trim();
  const other = hostValue === '1' ? '0' : '1';

  addon().sysctlSet(host, key, other);
  assert.equal(addon().sysctlGet(host, key), other);
  assert.equal(inside(host, 'cat', `/proc/sys/${key}`).trim(), other);
  assert.equal(fs.readFileSync(`/proc/sys/${key}`, 'utf8').trim(), hostValue, 'the host changed');
  addon().sysctlSet(host, 'net/ipv4/ping_group_range', '0 2147483647');
  assert.equal(addon().sysctlGet(host, 'net/ipv4/ping_group_range'), '0\t2147483647');

  const err = syscallError(() => addon().sysctlGet(host, 'net/ipv4/no_such_key'));
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.syscall, 'open');
  assert.equal(err.path, '/proc/sys/net/ipv4/no_such_key');
  assert.throws(() => addon().sysctlSet(host, '../../etc/passwd', 'x'), TypeError);
});

test('nftRun applies a table that nftJson reads back', { skip }, (t) => {
  const [host] = netns(t, 1);
  addon().nftRun(
    host,
    `table inet berth_test {
      set members { type ipv4_addr; elements = { 10.0.0.5, 10.0.0.6 } }
      chain ingress {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        ip saddr @members tcp dport 22 accept
      }
    }`,
  );
  const { nftables } = JSON.parse(addon().nftJson(host, 'list table inet berth_test')) as {
    nftables: Record<string, { name?: string; policy?: string; elem?: string[] }>[];
  };
  assert.deepEqual(
    nftables.filter((o) => o.table).map((o) => o.table.name),
    ['berth_test'],
  );
  assert.equal(nftables.find((o) => o.chain)?.chain.policy, 'drop');
  assert.deepEqual(nftables.find((o) => o.set)?.set.elem, ['10.0.0.5', '10.0.0.6']);
  assert.equal(nftables.filter((o) => o.rule).length, 2);
  // The kernel has it, as nft itself sees it in that netns.
  assert.match(
    inside(host, 'nft', 'list', 'table', 'inet', 'berth_test'),
    /ip saddr @members tcp dport 22 accept/,
  );
});

test("a failing nft script applies nothing and carries nft's message", { skip }, (t) => {
  const [host] = netns(t, 1);
  const tables = () =>
    (
      JSON.parse(addon().nftJson(host, 'list tables')) as {
        nftables: { table?: { name: string } }[];
      }
    ).nftables
      .filter((o) => o.table)
      .map((o) => o.table?.name);

  const syntax = syscallError(() =>
    addon().nftRun(host, 'add table inet good\nadd chain inet good c { bogus }'),
  );
  assert.equal(syntax.code, 'EINVAL');
  assert.equal(syntax.syscall, 'nft');
  assert.equal(syntax.path, host);
  assert.match(syntax.message, /syntax error/);
  assert.deepEqual(tables(), []);

  // Refused by the kernel half way (a jump to a chain that does not exist):
  // the transaction is whole or nothing.
  const refused = syscallError(() =>
    addon().nftRun(
      host,
      'add table inet good\nadd chain inet good c\nadd rule inet good c jump nowhere',
    ),
  );
  assert.equal(refused.code, 'ENOENT');
  assert.match(refused.message, /Could not process rule/);
  assert.deepEqual(tables(), []);
});

test('errors carry errno, syscall and path, and the thread stays home', { skip }, (t) => {
  const [host] = netns(t, 1);
  const home = ownNetns();
  const cases: [() => void, Partial<SyscallError>][] = [
    [() => addon().linkDel(host, 'nope'), { code: 'ENODEV', syscall: 'RTM_DELLINK', path: 'nope' }],
    [
      () => addon().linkSet(host, 'nope', { up: true }),
      { code: 'ENODEV', syscall: 'RTM_NEWLINK', path: 'nope' },
    ],
    [
      () => addon().addrAdd(host, 'nope', '10.0.0.1/24'),
      { code: 'ENODEV', syscall: 'SIOCGIFINDEX', path: 'nope' },
    ],
    [
      () => addon().linkAddBridge(host, 'lo'),
      { code: 'EEXIST', syscall: 'RTM_NEWLINK', path: 'lo' },
    ],
    [
      () => addon().linkSet(host, 'lo', { master: 'nope' }),
      { code: 'ENODEV', syscall: 'SIOCGIFINDEX', path: 'nope' },
    ],
    [
      () => addon().linkList(path.join(path.dirname(host), 'missing')),
      { code: 'ENOENT', syscall: 'open', path: path.join(path.dirname(host), 'missing') },
    ],
  ];
  for (const [fn, expected] of cases) {
    const err = syscallError(fn);
    assert.deepEqual({ code: err.code, syscall: err.syscall, path: err.path }, expected);
    assert.equal(typeof err.errno, 'number');
    assert.ok(err.errno < 0);
    assert.equal(ownNetns(), home, `left in another netns after ${err.message}`);
  }

  // A file that is not a netns fails at setns, naming it.
  const notNetns = path.join(path.dirname(host), 'plain');
  fs.writeFileSync(notNetns, '');
  const err = syscallError(() => addon().linkList(notNetns));
  assert.deepEqual([err.code, err.syscall, err.path], ['EINVAL', 'setns', notNetns]);

  // Bad arguments are TypeErrors before anything reaches the kernel.
  assert.throws(() => addon().linkAddBridge(host, 'br0', { mac: '02:00:00:00:00' }), TypeError);
  assert.throws(() => addon().addrAdd(host, 'lo', '10.0.0.1/33'), TypeError);
  assert.throws(
    () => addon().routeReplace(host, { dst: 'default', type: 'nat' as 'unicast' }),
    TypeError,
  );
  assert.throws(
    () => addon().linkAddVxlan(host, 'vx0', { vni: 1, local: '192.0.2.1' } as never),
    TypeError,
  );
  assert.equal(link(host, 'br0'), undefined);
  assert.equal(ownNetns(), home);
});
