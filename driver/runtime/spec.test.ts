import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../common/errors';
import { planCgroups, type CgroupLayout, type CgroupPlan } from './cgroups';
import { compileSeccomp } from './seccomp';
import { NETWORKED_CAPABILITIES } from './security';
import {
  containerPaths,
  encodeExecSpec,
  encodeSpawnSpec,
  validateConfig,
  type ContainerConfig,
} from './spec';

const STATE_DIR = '/var/lib/berth';

function config(overrides: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    id: 'c1',
    layers: ['/var/lib/berth/layers/top', '/var/lib/berth/layers/base'],
    command: ['/bin/sh', '-c', 'echo hi'],
    limits: { memoryBytes: 64 << 20, cpus: 0.5, cpuShares: 1024, pids: 64 },
    network: { mode: 'none' },
    consoleLog: { maxBytes: 1 << 20, backups: 2 },
    ...overrides,
  };
}

/** A v2 host that delegates memory and pids, with cpu on v1: writes land in both. */
const LAYOUT: CgroupLayout = {
  v1: new Map([
    ['cpu', '/sys/fs/cgroup/cpu,cpuacct'],
    ['cpuacct', '/sys/fs/cgroup/cpu,cpuacct'],
  ]),
  v2: { mount: '/sys/fs/cgroup/unified', controllers: new Set(['memory', 'pids']) },
  memsw: false,
};

const plan = (c: ContainerConfig): CgroupPlan => planCgroups(LAYOUT, 'berth', c.id, c.limits);

/** Parses the helper's wire format back: key NUL value NUL, repeated. */
function parse(buf: Buffer): [string, string][] {
  const text = buf.toString('utf8');
  assert.ok(text.endsWith('\0'), 'the last value is NUL-terminated');
  const fields = text.slice(0, -1).split('\0');
  assert.equal(fields.length % 2, 0, 'an even number of fields');
  const pairs: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i], fields[i + 1]]);
  return pairs;
}

const values = (pairs: [string, string][], key: string) =>
  pairs.filter(([k]) => k === key).map(([, v]) => v);

const single = (pairs: [string, string][], key: string) => {
  const found = values(pairs, key);
  assert.equal(found.length, 1, `exactly one ${key}: ${JSON.stringify(found)}`);
  return found[0];
};

const spawnSpec = (c: ContainerConfig) =>
  parse(encodeSpawnSpec(c, plan(c), containerPaths(STATE_DIR, c.id)));

test('validateConfig accepts a good config, with and without optional fields', () => {
  validateConfig(config());
  validateConfig(
    config({
      id: 'A-b_c.1',
      env: ['HOME=/root', 'LANG=C.UTF-8'],
      cwd: '/srv',
      hostname: 'web-1.example',
      network: { mode: 'netns', path: '/run/netns/n1' },
      userNamespace: { base: 100000, size: 65536 },
      limits: {},
    }),
  );
  validateConfig(config({ id: 'x'.repeat(64), limits: { memoryBytes: 4 << 20, cpus: 0.01 } }));
});

test('validateConfig rejects bad values with InvalidArgumentError', () => {
  const cases: [string, Partial<ContainerConfig>][] = [
    ['empty id', { id: '' }],
    ['id with ..', { id: '../x' }],
    ['id with a slash', { id: 'a/b' }],
    ['id of 65 characters', { id: 'a'.repeat(65) }],
    ['id starting with a dot', { id: '.hidden' }],
    ['empty command', { command: [] }],
    ['empty program name', { command: [''] }],
    ['no layers', { layers: [] }],
    ['relative layer', { layers: ['layers/base'] }],
    ['layer with a colon', { layers: ['/var/lib/berth/a:b'] }],
    ['layer with a comma', { layers: ['/var/lib/berth/a,upperdir=/etc'] }],
    ['NUL in an arg', { command: ['/bin/echo', 'a\0b'] }],
    ['NUL in env', { env: ['A=1\0B=2'] }],
    ['relative cwd', { cwd: 'srv' }],
    ['memory below 4 MiB', { limits: { memoryBytes: (4 << 20) - 1 } }],
    ['non-integer memory', { limits: { memoryBytes: (64 << 20) + 0.5 } }],
    ['zero cpus', { limits: { cpus: 0 } }],
    ['negative cpus', { limits: { cpus: -1 } }],
    ['NaN cpus', { limits: { cpus: NaN } }],
    ['cpu shares below 2', { limits: { cpuShares: 1 } }],
    ['zero pids', { limits: { pids: 0 } }],
    ['hostname with a space', { hostname: 'my host' }],
    ['hostname with a slash', { hostname: 'a/b' }],
    ['hostname starting with a dash', { hostname: '-web' }],
    ['empty hostname', { hostname: '' }],
    ['relative netns path', { network: { mode: 'netns', path: 'netns/n1' } }],
    ['negative uid', { user: { uid: -1, gid: 0, groups: [] } }],
    ['fractional gid', { user: { uid: 0, gid: 1.5, groups: [] } }],
    ['uid of (uid_t)-1', { user: { uid: 2 ** 32 - 1, gid: 0, groups: [] } }],
    [
      'uid outside the user namespace',
      { user: { uid: 70000, gid: 0, groups: [] }, userNamespace: { base: 100000, size: 65536 } },
    ],
    [
      'supplementary group outside the user namespace',
      { user: { uid: 1, gid: 1, groups: [65536] }, userNamespace: { base: 100000, size: 65536 } },
    ],
    ['65 supplementary groups', { user: { uid: 1, gid: 1, groups: [...Array(65).keys()] } }],
  ];
  for (const [name, overrides] of cases) {
    assert.throws(() => validateConfig(config(overrides)), InvalidArgumentError, name);
  }
});

test('encodeSpawnSpec: namespaces, loopback and no netns with network mode none', () => {
  const pairs = spawnSpec(config());
  const ns = values(pairs, 'ns');
  for (const n of ['mnt', 'pid', 'uts', 'ipc', 'cgroup', 'net']) assert.ok(ns.includes(n), n);
  assert.ok(!ns.includes('user'), 'no user namespace unless asked for');
  assert.equal(single(pairs, 'loopback'), '1');
  assert.deepEqual(values(pairs, 'netns'), []);
  assert.deepEqual(values(pairs, 'uidmap'), []);
});

test('encodeSpawnSpec: joins the given network namespace in netns mode', () => {
  const pairs = spawnSpec(config({ network: { mode: 'netns', path: '/run/netns/n1' } }));
  const ns = values(pairs, 'ns');
  assert.ok(!ns.includes('net'), 'no new network namespace');
  assert.ok(ns.includes('mnt') && ns.includes('pid'));
  assert.equal(single(pairs, 'netns'), '/run/netns/n1');
  assert.deepEqual(values(pairs, 'loopback'), []);
});

test('encodeSpawnSpec: user namespace with uid and gid maps', () => {
  const pairs = spawnSpec(config({ userNamespace: { base: 100000, size: 65536 } }));
  assert.ok(values(pairs, 'ns').includes('user'));
  assert.equal(single(pairs, 'uidmap'), '0 100000 65536');
  assert.equal(single(pairs, 'gidmap'), '0 100000 65536');
});

test('encodeSpawnSpec: paths, layers in order, hostname', () => {
  const c = config({ id: 'web', layers: ['/l/3', '/l/2', '/l/1'] });
  const pairs = spawnSpec(c);
  const paths = containerPaths(STATE_DIR, 'web');
  assert.equal(single(pairs, 'id'), 'web');
  assert.equal(single(pairs, 'rootfs'), '/var/lib/berth/containers/web/rootfs');
  assert.equal(single(pairs, 'upper'), paths.upper);
  assert.equal(single(pairs, 'work'), paths.work);
  assert.deepEqual(values(pairs, 'lower'), ['/l/3', '/l/2', '/l/1']);
  assert.equal(single(pairs, 'hostname'), 'web', 'the id by default');
  assert.equal(single(spawnSpec(config({ hostname: 'h1' })), 'hostname'), 'h1');
  assert.equal(single(pairs, 'log'), paths.consoleLog);
  assert.equal(single(pairs, 'logmax'), String(1 << 20));
  assert.equal(single(pairs, 'logkeep'), '2');
  assert.equal(single(pairs, 'exitfile'), paths.exitFile);
  assert.equal(single(pairs, 'pidfile'), paths.pidFile);
});

test('encodeSpawnSpec: cgroup dirs, every planned write in order, rmdirs and the OOM file', () => {
  const c = config();
  const p = plan(c);
  assert.ok(p.writes.length >= 5, 'the plan has writes to check');
  const pairs = spawnSpec(c);
  assert.deepEqual(values(pairs, 'cgroup'), p.v1Dirs);
  assert.equal(single(pairs, 'cgroup2'), p.v2Dir);
  const writes = pairs.filter(([k]) => k.startsWith('write:'));
  assert.deepEqual(
    writes,
    p.writes.map(([file, value]) => [`write:${file}`, value]),
  );
  assert.deepEqual(values(pairs, 'rmdir'), p.rmdirs);
  assert.equal(single(pairs, 'oomfile'), p.oomFile);
});

test('encodeSpawnSpec: args in order, kept byte for byte; default PATH; cwd', () => {
  const command = ['/bin/sh', '-c', 'echo "a b"\nexit 3', '', 'tab\there', 'ünï'];
  const pairs = spawnSpec(config({ command }));
  assert.deepEqual(values(pairs, 'arg'), command);
  const env = values(pairs, 'env');
  assert.equal(env.length, 1);
  assert.match(env[0], /^PATH=.*\/usr\/bin.*\/bin/);
  assert.equal(single(pairs, 'cwd'), '/');

  const custom = spawnSpec(config({ env: ['FOO=bar baz', 'PATH=/opt/bin'], cwd: '/srv' }));
  assert.deepEqual(values(custom, 'env'), ['FOO=bar baz', 'PATH=/opt/bin']);
  assert.equal(single(custom, 'cwd'), '/srv');
});

test('encodeSpawnSpec: the default capability set, without MKNOD or SYS_ADMIN', () => {
  // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
  // SYS_CHROOT AUDIT_WRITE SETFCAP, from linux/capability.h
  const bits = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31];
  const expected = bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);
  const caps = single(spawnSpec(config()), 'caps');
  assert.match(caps, /^[0-9a-f]+$/);
  const mask = BigInt(`0x${caps}`);
  assert.equal(mask, expected);
  assert.equal(mask & (1n << 27n), 0n, 'no CAP_MKNOD');
  assert.equal(mask & (1n << 21n), 0n, 'no CAP_SYS_ADMIN');
});

test('encodeSpawnSpec: a config with its own capability set gets exactly it', () => {
  const caps = single(spawnSpec({ ...config(), capabilities: NETWORKED_CAPABILITIES }), 'caps');
  assert.equal(BigInt(`0x${caps}`) & (1n << 13n), 0n, 'no CAP_NET_RAW');
  assert.notEqual(BigInt(`0x${caps}`) & (1n << 10n), 0n, 'CAP_NET_BIND_SERVICE');
});

test('encodeSpawnSpec: the seccomp program as hex of whole sock_filter structs', () => {
  const hex = single(spawnSpec(config()), 'seccomp');
  assert.match(hex, /^[0-9a-f]+$/);
  assert.equal(hex.length % 16, 0);
  assert.ok(hex.length >= 16 * 4);
  assert.equal(hex, compileSeccomp().toString('hex'));
});

test('encodeSpawnSpec: masked and read-only paths, device nodes', () => {
  const pairs = spawnSpec(config());
  const mask = values(pairs, 'mask');
  assert.ok(mask.includes('/proc/kcore'));
  assert.ok(mask.includes('/proc/keys'));
  const readonly = values(pairs, 'readonly');
  assert.ok(readonly.includes('/proc/sys'));
  assert.ok(readonly.includes('/proc/sysrq-trigger'));
  const devices = values(pairs, 'device');
  assert.ok(devices.includes('null') && devices.includes('urandom'));
  for (const d of devices) assert.doesNotMatch(d, /\//, 'device names, not paths');
});

test('encodeExecSpec: target pid, userns flag, cgroups and the process', () => {
  const c = config({ env: ['A=1'], cwd: '/srv' });
  const p = plan(c);
  const pairs = parse(encodeExecSpec(c, p, 4242, ['/bin/ls', '-l', 'a dir']));
  assert.equal(single(pairs, 'id'), 'c1');
  assert.equal(single(pairs, 'pid'), '4242');
  assert.equal(single(pairs, 'userns'), '0');
  assert.deepEqual(values(pairs, 'cgroup'), p.v1Dirs);
  assert.equal(single(pairs, 'cgroup2'), p.v2Dir);
  assert.deepEqual(values(pairs, 'arg'), ['/bin/ls', '-l', 'a dir']);
  assert.deepEqual(values(pairs, 'env'), ['A=1'], "the container's env by default");
  assert.equal(single(pairs, 'cwd'), '/srv');
  assert.ok(single(pairs, 'caps').length > 0);
  assert.equal(single(pairs, 'seccomp'), compileSeccomp().toString('hex'));
  // Exec joins what exists: nothing to create, write or mount.
  for (const [k] of pairs) assert.ok(!/^(write:|ns$|lower$|rmdir$|mask$)/.test(k), k);

  const withUserns = config({ userNamespace: { base: 100000, size: 65536 } });
  const opts = { env: ['B=2'], cwd: '/tmp' };
  const other = parse(encodeExecSpec(withUserns, plan(withUserns), 7, ['true'], opts));
  assert.equal(single(other, 'userns'), '1');
  assert.deepEqual(values(other, 'env'), ['B=2']);
  assert.equal(single(other, 'cwd'), '/tmp');
});

test('a user: uid, gid and each supplementary group, for spawn and exec alike', () => {
  const c = config({
    user: { uid: 65534, gid: 65534, groups: [10, 20] },
    userNamespace: { base: 100000, size: 65536 },
  });
  validateConfig(c);
  for (const pairs of [spawnSpec(c), parse(encodeExecSpec(c, plan(c), 7, ['id']))]) {
    assert.equal(single(pairs, 'uid'), '65534');
    assert.equal(single(pairs, 'gid'), '65534');
    assert.deepEqual(values(pairs, 'sgid'), ['10', '20']);
  }
  const root = spawnSpec(config());
  assert.deepEqual(values(root, 'uid'), [], 'no user: the container root, as before');
  const noGroups = spawnSpec(config({ user: { uid: 0, gid: 0, groups: [] } }));
  assert.equal(single(noGroups, 'uid'), '0');
  assert.deepEqual(values(noGroups, 'sgid'), []);
});

test('specs refuse a NUL in any value rather than shift the key/value pairs', () => {
  const c = config();
  const p = plan(c);
  // Unchecked, this arg would end the list early and add a 'caps' key of its own.
  const injected = ['/bin/sh', 'x\0caps\0ffffffffff'];
  assert.throws(() => encodeExecSpec(c, p, 1, injected), InvalidArgumentError);
  assert.throws(() => encodeExecSpec(c, p, 1, ['true'], { env: ['A=\0'] }), InvalidArgumentError);
  assert.throws(() => encodeExecSpec(c, p, 1, ['true'], { cwd: '/\0' }), InvalidArgumentError);
  const netns = config({ network: { mode: 'netns', path: '/run/netns/a\0seccomp\0' } });
  assert.throws(
    () => encodeSpawnSpec(netns, p, containerPaths(STATE_DIR, 'c1')),
    InvalidArgumentError,
  );
});
