import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectCgroupLayout, planCgroups, sharesToWeight, type CgroupLayout } from './cgroups';

interface FakeMount {
  /** directory under the fake host's root */
  dir: string;
  fstype: string;
  superOptions: string;
  /** files to create inside the mount point */
  files?: Record<string, string>;
}

/**
 * Writes a mountinfo file whose mount points lie in a temp dir, plus the
 * files detectCgroupLayout reads from those mount points. Unrelated mounts
 * come first so that the parser has to skip them.
 */
function fakeHost(t: TestContext, mounts: FakeMount[]): { root: string; mountinfo: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cgroups-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const lines = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
    '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    `24 22 0:22 / ${root}/tmpfs rw,nosuid,nodev shared:2 - tmpfs tmpfs rw,size=1024k,mode=755`,
  ];
  mounts.forEach((m, i) => {
    const mountPoint = path.join(root, m.dir);
    fs.mkdirSync(mountPoint, { recursive: true });
    for (const [name, content] of Object.entries(m.files ?? {})) {
      fs.writeFileSync(path.join(mountPoint, name), content);
    }
    lines.push(
      `${30 + i} 24 0:${30 + i} / ${mountPoint} rw,nosuid,nodev,noexec,relatime shared:${9 + i} ` +
        `- ${m.fstype} ${m.fstype} ${m.superOptions}`,
    );
  });
  const mountinfo = path.join(root, 'mountinfo');
  fs.writeFileSync(mountinfo, lines.join('\n') + '\n');
  return { root, mountinfo };
}

function hybridHost(t: TestContext) {
  return fakeHost(t, [
    { dir: 'systemd', fstype: 'cgroup', superOptions: 'rw,xattr,name=systemd' },
    {
      dir: 'unified',
      fstype: 'cgroup2',
      superOptions: 'rw,nsdelegate',
      files: { 'cgroup.controllers': 'hugetlb\n' },
    },
    { dir: 'cpu', fstype: 'cgroup', superOptions: 'rw,cpu' },
    { dir: 'cpuacct', fstype: 'cgroup', superOptions: 'rw,cpuacct' },
    {
      dir: 'memory',
      fstype: 'cgroup',
      superOptions: 'rw,memory',
      files: { 'memory.memsw.limit_in_bytes': '9223372036854771712\n' },
    },
    { dir: 'pids', fstype: 'cgroup', superOptions: 'rw,pids' },
    { dir: 'freezer', fstype: 'cgroup', superOptions: 'rw,freezer' },
    { dir: 'cpuset', fstype: 'cgroup', superOptions: 'rw,cpuset' },
  ]);
}

function v1Host(t: TestContext, memsw = false) {
  return fakeHost(t, [
    { dir: 'cpu,cpuacct', fstype: 'cgroup', superOptions: 'rw,cpu,cpuacct' },
    {
      dir: 'memory',
      fstype: 'cgroup',
      superOptions: 'rw,memory',
      files: memsw ? { 'memory.memsw.limit_in_bytes': '9223372036854771712\n' } : {},
    },
    { dir: 'pids', fstype: 'cgroup', superOptions: 'rw,pids' },
    { dir: 'freezer', fstype: 'cgroup', superOptions: 'rw,freezer' },
  ]);
}

function v2Host(t: TestContext) {
  return fakeHost(t, [
    {
      dir: 'cgroup',
      fstype: 'cgroup2',
      superOptions: 'rw,nsdelegate,memory_recursiveprot',
      files: { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n' },
    },
  ]);
}

const LIMITS = { memoryBytes: 256 << 20, cpus: 0.5, cpuShares: 1024, pids: 100 };

/** The writes as "file=value" lines relative to root, easier to compare and read in a diff. */
const relWrites = (root: string, writes: [string, string][]) =>
  writes.map(([file, value]) => `${path.relative(root, file)}=${value}`);

const indexOf = (writes: string[], prefix: string) => {
  const i = writes.findIndex((w) => w.startsWith(prefix));
  assert.ok(i >= 0, `a write to ${prefix} in ${JSON.stringify(writes)}`);
  return i;
};

test('detectCgroupLayout: hybrid host with v1 controllers and a controller-less cgroup2', (t) => {
  const { root, mountinfo } = hybridHost(t);
  const layout = detectCgroupLayout(mountinfo);
  assert.deepEqual(
    Object.fromEntries(layout.v1),
    Object.fromEntries(
      ['cpu', 'cpuacct', 'memory', 'pids', 'freezer'].map((c) => [c, path.join(root, c)]),
    ),
  );
  assert.equal(layout.v2?.mount, path.join(root, 'unified'));
  assert.deepEqual([...layout.v2!.controllers], ['hugetlb']);
  assert.equal(layout.memsw, true);
});

test('detectCgroupLayout: pure v1 with a combined cpu,cpuacct hierarchy', (t) => {
  const { root, mountinfo } = v1Host(t);
  const layout = detectCgroupLayout(mountinfo);
  assert.equal(layout.v2, undefined);
  assert.equal(layout.v1.get('cpu'), path.join(root, 'cpu,cpuacct'));
  assert.equal(layout.v1.get('cpuacct'), path.join(root, 'cpu,cpuacct'));
  assert.equal(layout.v1.get('memory'), path.join(root, 'memory'));
  assert.equal(layout.v1.get('pids'), path.join(root, 'pids'));
  assert.equal(layout.v1.get('freezer'), path.join(root, 'freezer'));
  assert.equal(layout.v1.size, 5);
  assert.equal(layout.memsw, false, 'no memory.memsw.limit_in_bytes file');
  assert.equal(detectCgroupLayout(v1Host(t, true).mountinfo).memsw, true);
});

test('detectCgroupLayout: pure v2', (t) => {
  const { root, mountinfo } = v2Host(t);
  const layout = detectCgroupLayout(mountinfo);
  assert.equal(layout.v1.size, 0);
  assert.equal(layout.v2?.mount, path.join(root, 'cgroup'));
  assert.deepEqual(
    [...layout.v2!.controllers].sort(),
    ['cpu', 'cpuset', 'hugetlb', 'io', 'memory', 'pids'].sort(),
  );
  assert.equal(layout.memsw, false);
});

test('planCgroups on a hybrid host: v1 limits, v2 group for the freezer', (t) => {
  const { root, mountinfo } = hybridHost(t);
  const plan = planCgroups(detectCgroupLayout(mountinfo), 'berth', 'c1', LIMITS);
  const leaf = (c: string) => path.join(root, c, 'berth', 'c1');

  // No v1 freezer group: the v2 group does the freezing.
  assert.deepEqual(plan.v1Dirs, ['memory', 'cpu', 'cpuacct', 'pids'].map(leaf));
  assert.equal(plan.v2Dir, leaf('unified'));
  assert.deepEqual(plan.dirs.memory, { version: 1, dir: leaf('memory') });
  assert.deepEqual(plan.dirs.cpu, { version: 1, dir: leaf('cpu') });
  assert.deepEqual(plan.dirs.pids, { version: 1, dir: leaf('pids') });
  // cgroup.freeze is core in v2, so the v2 group wins over the v1 freezer hierarchy.
  assert.deepEqual(plan.freezer, { version: 2, dir: leaf('unified') });
  assert.equal(plan.oomFile, path.join(leaf('memory'), 'memory.oom_control'));

  const writes = relWrites(root, plan.writes);
  assert.deepEqual(writes, [
    'memory/berth/c1/memory.limit_in_bytes=268435456',
    'memory/berth/c1/memory.memsw.limit_in_bytes=268435456',
    'cpu/berth/c1/cpu.shares=1024',
    'cpu/berth/c1/cpu.cfs_period_us=100000',
    'cpu/berth/c1/cpu.cfs_quota_us=50000',
    'pids/berth/c1/pids.max=100',
  ]);
  assert.ok(!writes.some((w) => w.includes('subtree_control')), 'nothing to delegate in v2');

  assert.deepEqual(plan.rmdirs, [...plan.v1Dirs, leaf('unified')]);
  assert.equal(new Set(plan.rmdirs).size, plan.rmdirs.length);
});

test('planCgroups on pure v1: combined cpu,cpuacct once, v1 freezer, memsw only if present', (t) => {
  const { root, mountinfo } = v1Host(t);
  const plan = planCgroups(detectCgroupLayout(mountinfo), 'berth', 'c1', LIMITS);
  const leaf = (c: string) => path.join(root, c, 'berth', 'c1');

  assert.equal(plan.v2Dir, undefined);
  assert.deepEqual(plan.v1Dirs, ['memory', 'cpu,cpuacct', 'pids', 'freezer'].map(leaf));
  assert.deepEqual(plan.dirs.cpu, { version: 1, dir: leaf('cpu,cpuacct') });
  assert.deepEqual(plan.dirs.cpuacct, { version: 1, dir: leaf('cpu,cpuacct') });
  assert.deepEqual(plan.freezer, { version: 1, dir: leaf('freezer') });
  assert.equal(plan.oomFile, path.join(leaf('memory'), 'memory.oom_control'));
  assert.deepEqual(plan.rmdirs, plan.v1Dirs);
  assert.equal(plan.rmdirs.filter((d) => d === leaf('cpu,cpuacct')).length, 1);

  const writes = relWrites(root, plan.writes);
  assert.ok(writes.includes('memory/berth/c1/memory.limit_in_bytes=268435456'));
  assert.ok(!writes.some((w) => w.includes('memsw')), 'no memsw file on this host');
  assert.ok(writes.includes('cpu,cpuacct/berth/c1/cpu.cfs_quota_us=50000'));
  assert.ok(writes.includes('cpu,cpuacct/berth/c1/cpu.cfs_period_us=100000'));
  assert.ok(writes.includes('cpu,cpuacct/berth/c1/cpu.shares=1024'));

  // With swap accounting, memsw comes after the limit it must not be below.
  const memswHost = v1Host(t, true);
  const withMemsw = relWrites(
    memswHost.root,
    planCgroups(detectCgroupLayout(memswHost.mountinfo), 'berth', 'c1', LIMITS).writes,
  );
  assert.ok(
    indexOf(withMemsw, 'memory/berth/c1/memory.limit_in_bytes=') <
      indexOf(withMemsw, 'memory/berth/c1/memory.memsw.limit_in_bytes=268435456'),
  );
});

test('planCgroups on pure v2: delegation first, then the v2 limit files', (t) => {
  const { root, mountinfo } = v2Host(t);
  const plan = planCgroups(detectCgroupLayout(mountinfo), 'berth', 'c1', LIMITS);
  const leaf = path.join(root, 'cgroup', 'berth', 'c1');

  assert.deepEqual(plan.v1Dirs, []);
  assert.equal(plan.v2Dir, leaf);
  for (const c of ['memory', 'cpu', 'pids', 'freezer'] as const) {
    assert.deepEqual(plan.dirs[c], { version: 2, dir: leaf }, c);
  }
  assert.equal(plan.dirs.cpuacct, undefined, 'no cpuacct controller in v2');
  assert.deepEqual(plan.freezer, { version: 2, dir: leaf });
  assert.equal(plan.oomFile, path.join(leaf, 'memory.events'));
  assert.deepEqual(plan.rmdirs, [leaf]);

  const writes = relWrites(root, plan.writes);
  assert.deepEqual(writes, [
    'cgroup/cgroup.subtree_control=+memory +cpu +pids',
    'cgroup/berth/cgroup.subtree_control=+memory +cpu +pids',
    'cgroup/berth/c1/memory.max=268435456',
    'cgroup/berth/c1/memory.swap.max=0',
    'cgroup/berth/c1/cpu.weight=39',
    'cgroup/berth/c1/cpu.max=50000 100000',
    'cgroup/berth/c1/pids.max=100',
  ]);
  assert.ok(!writes.some((w) => /limit_in_bytes|cpu\.shares|cfs_/.test(w)), 'no v1 files');
});

test('planCgroups delegates to v2 only the controllers the cgroup2 mount offers', () => {
  const layout: CgroupLayout = {
    v1: new Map([['cpu', '/v1/cpu']]),
    v2: { mount: '/v2', controllers: new Set(['memory', 'pids', 'io']) },
    memsw: false,
  };
  const plan = planCgroups(layout, 'berth', 'c2', { cpus: 2 });
  assert.deepEqual(plan.writes, [
    ['/v2/cgroup.subtree_control', '+memory +pids'],
    ['/v2/berth/cgroup.subtree_control', '+memory +pids'],
    ['/v1/cpu/berth/c2/cpu.cfs_period_us', '100000'],
    ['/v1/cpu/berth/c2/cpu.cfs_quota_us', '200000'],
  ]);
  assert.deepEqual(plan.v1Dirs, ['/v1/cpu/berth/c2']);
  assert.deepEqual(plan.rmdirs, ['/v1/cpu/berth/c2', '/v2/berth/c2']);
});

test('planCgroups without limits writes no limit files', (t) => {
  for (const host of [hybridHost(t), v1Host(t, true), v2Host(t)]) {
    const plan = planCgroups(detectCgroupLayout(host.mountinfo), 'berth', 'c1', {});
    const limitFiles = plan.writes.filter(([file]) => !file.endsWith('cgroup.subtree_control'));
    assert.deepEqual(limitFiles, [], host.root);
    // The directories, the OOM file and the freezer are still planned.
    assert.ok(plan.rmdirs.length > 0);
    assert.ok(plan.oomFile);
    assert.ok(plan.freezer);
  }
});

test('sharesToWeight maps the v1 shares range onto the v2 weight range like runc', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(sharesToWeight(1024), 39);
  // runc's integer division: 1 + (512 - 2) * 9999 / 262142 = 20.45... -> 20
  assert.equal(sharesToWeight(512), 20);
  for (let s = 2; s < 262144; s += 997) {
    assert.ok(sharesToWeight(s) <= sharesToWeight(s + 997), `monotonic at ${s}`);
    assert.ok(Number.isInteger(sharesToWeight(s)));
  }
});
