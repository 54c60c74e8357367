import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BerthConfig } from '../../config/schema';
import { openDatabase, type Database } from '../db/connection';
import { FilterScheduler, NoValidHost, type ScheduleRequest } from './scheduler';
import {
  addComputeHost,
  addServerGroup,
  allocationCounts,
  recordingLog,
  scheduleRequest,
  schedulerConfig,
  silentLog,
  type HostSpec,
} from '../../testing/api/scheduler-fixtures';

async function withScheduler(
  hosts: HostSpec[],
  config: BerthConfig,
  fn: (s: FilterScheduler, db: Database) => Promise<void>,
  log = silentLog,
): Promise<void> {
  const db = await openDatabase('sqlite://');
  try {
    for (const host of hosts) await addComputeHost(db, host);
    await fn(new FilterScheduler(db, config, log), db);
  } finally {
    await db.destroy();
  }
}

async function place(
  s: FilterScheduler,
  db: Database,
  count: number,
  o: Partial<ScheduleRequest> = {},
): Promise<string[]> {
  const placed: string[] = [];
  for (let i = 0; i < count; i++) placed.push(await s.selectAndClaim(await scheduleRequest(db, o)));
  return placed;
}

async function noValidHost(promise: Promise<unknown>, reason?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NoValidHost, `expected NoValidHost, got ${String(err)}`);
    if (reason) assert.match(err.message, reason);
    return true;
  });
}

const equalHosts = [{ host: 'node-a' }, { host: 'node-b' }, { host: 'node-c' }];

const stacking = schedulerConfig({
  filter_scheduler: {
    ram_weight_multiplier: -1,
    cpu_weight_multiplier: 0,
    disk_weight_multiplier: 0,
  },
});
const groupWeighersOnly = schedulerConfig({
  filter_scheduler: {
    ram_weight_multiplier: 0,
    cpu_weight_multiplier: 0,
    disk_weight_multiplier: 0,
  },
});

test('equal hosts share 30 instances 10/10/10 with the default (spreading) weighers', async () => {
  await withScheduler(equalHosts, schedulerConfig(), async (s, db) => {
    await place(s, db, 30, { memoryMb: 512 });
    assert.deepEqual(await allocationCounts(db), { 'node-a': 10, 'node-b': 10, 'node-c': 10 });
  });
});

test('a negative RAM multiplier stacks instances on one host until it is full', async () => {
  await withScheduler(equalHosts, stacking, async (s, db) => {
    // 8192 MB hosts hold eight 1024 MB instances each.
    const placed = await place(s, db, 10);
    assert.deepEqual(new Set(placed.slice(0, 8)).size, 1);
    const counts = Object.values(await allocationCounts(db)).sort();
    assert.deepEqual(counts, [2, 8]);
  });
});

test('disabled, down and not-yet-reported hosts are not chosen', async () => {
  const hosts = [
    { host: 'disabled', disabled: true },
    { host: 'down', down: true },
    { host: 'no-node', noNode: true },
    { host: 'ok', memoryMb: 2048 },
  ];
  await withScheduler(hosts, schedulerConfig(), async (s, db) => {
    assert.deepEqual(await place(s, db, 2), ['ok', 'ok']);
    await noValidHost(s.selectAndClaim(await scheduleRequest(db)), /ComputeFilter/);
  });
});

test('with every host down, ComputeFilter is named in the reason', async () => {
  const hosts = [
    { host: 'a', down: true },
    { host: 'b', disabled: true },
  ];
  await withScheduler(hosts, schedulerConfig(), async (s, db) => {
    await noValidHost(s.selectAndClaim(await scheduleRequest(db)), /ComputeFilter removed/);
  });
});

test('no compute node at all is NoValidHost', async () => {
  await withScheduler([{ host: 'x', noNode: true }], schedulerConfig(), async (s, db) => {
    await noValidHost(s.selectAndClaim(await scheduleRequest(db)), /reported/);
  });
});

test('enabled_filters decides which named filters run', async () => {
  const config = schedulerConfig({
    filter_scheduler: { enabled_filters: 'AvailabilityZoneFilter' },
  });
  await withScheduler([{ host: 'disabled', disabled: true }], config, async (s, db) => {
    assert.equal(await s.selectAndClaim(await scheduleRequest(db)), 'disabled');
  });
});

test('RAM fits within memory × ram_allocation_ratio', async () => {
  const config = schedulerConfig({ DEFAULT: { ram_allocation_ratio: 1.5 } });
  await withScheduler([{ host: 'h', memoryMb: 4096 }], config, async (s, db) => {
    await place(s, db, 6);
    await noValidHost(s.selectAndClaim(await scheduleRequest(db)), /ResourcesFilter/);
  });
});

test('vCPUs fit within vcpus × cpu_allocation_ratio, and no instance is larger than the host', async () => {
  const config = schedulerConfig({ DEFAULT: { cpu_allocation_ratio: 4.0 } });
  await withScheduler([{ host: 'h', vcpus: 2, memoryMb: 65536 }], config, async (s, db) => {
    // Placement's max_unit: a 4 vCPU flavor never fits a 2 CPU host, whatever the ratio.
    await noValidHost(s.selectAndClaim(await scheduleRequest(db, { vcpus: 4, memoryMb: 1 })));
    await place(s, db, 8, { vcpus: 1, memoryMb: 1 });
    await noValidHost(s.selectAndClaim(await scheduleRequest(db, { vcpus: 1, memoryMb: 1 })));
  });
});

test('disk fits within local_gb × disk_allocation_ratio', async () => {
  const config = schedulerConfig({ DEFAULT: { disk_allocation_ratio: 2.0 } });
  await withScheduler([{ host: 'h', diskGb: 10, memoryMb: 65536 }], config, async (s, db) => {
    await place(s, db, 4, { diskGb: 5 });
    await noValidHost(s.selectAndClaim(await scheduleRequest(db, { diskGb: 1 })));
  });
});

test('release returns the room and is idempotent', async () => {
  await withScheduler([{ host: 'h', memoryMb: 1024 }], schedulerConfig(), async (s, db) => {
    const first = await scheduleRequest(db);
    await s.selectAndClaim(first);
    await noValidHost(s.selectAndClaim(await scheduleRequest(db)));
    await s.release(first.instanceUuid);
    await s.release(first.instanceUuid);
    assert.equal(await s.selectAndClaim(await scheduleRequest(db)), 'h');
  });
});

test('claiming again for an instance moves its allocation instead of adding one', async () => {
  const hosts = [
    { host: 'a', memoryMb: 1024 },
    { host: 'b', memoryMb: 1024 },
  ];
  await withScheduler(hosts, schedulerConfig(), async (s, db) => {
    const req = await scheduleRequest(db);
    const first = await s.selectAndClaim(req);
    const second = await s.selectAndClaim({ ...req, ignoreHosts: [first] });
    assert.notEqual(second, first);
    assert.deepEqual(await allocationCounts(db), { [second]: 1 });
  });
});

test('the requested availability zone is honoured', async () => {
  const hosts = [
    { host: 'a', zone: 'az1' },
    { host: 'b', zone: 'az2' },
    { host: 'c', zone: 'az1' },
  ];
  await withScheduler(hosts, schedulerConfig(), async (s, db) => {
    assert.deepEqual(await place(s, db, 3, { availabilityZone: 'az2' }), ['b', 'b', 'b']);
    assert.deepEqual(
      new Set(await place(s, db, 4, { availabilityZone: 'az1' })),
      new Set(['a', 'c']),
    );
    await noValidHost(
      s.selectAndClaim(await scheduleRequest(db, { availabilityZone: 'elsewhere' })),
      /AvailabilityZoneFilter/,
    );
  });
});

test('hosts already tried are ignored', async () => {
  await withScheduler(equalHosts, schedulerConfig(), async (s, db) => {
    const req = await scheduleRequest(db, { ignoreHosts: ['node-a', 'node-b'] });
    assert.equal(await s.selectAndClaim(req), 'node-c');
    await noValidHost(
      s.selectAndClaim(await scheduleRequest(db, { ignoreHosts: ['node-a', 'node-b', 'node-c'] })),
      /IgnoreHostsFilter/,
    );
  });
});

test('affinity puts every member on the first member’s host', async () => {
  await withScheduler(equalHosts, schedulerConfig(), async (s, db) => {
    const group = await addServerGroup(db, 'affinity');
    const placed = await place(s, db, 5, { group });
    assert.equal(new Set(placed).size, 1);
  });
});

test('affinity with the first member’s host full is NoValidHost', async () => {
  const hosts = [{ host: 'a', memoryMb: 2048 }, { host: 'b' }];
  await withScheduler(hosts, schedulerConfig(), async (s, db) => {
    const group = await addServerGroup(db, 'affinity');
    // Stacking sends the first member to the smaller host, so it fills.
    const stacker = new FilterScheduler(db, stacking, silentLog);
    assert.deepEqual(await place(stacker, db, 2, { group }), ['a', 'a']);
    await noValidHost(
      s.selectAndClaim(await scheduleRequest(db, { group })),
      /ServerGroupAffinityFilter/,
    );
  });
});

test('anti-affinity over 3 hosts: three members on three hosts, the fourth is NoValidHost', async () => {
  // Stacking weighers would put them together: the filter must win.
  await withScheduler(equalHosts, stacking, async (s, db) => {
    const group = await addServerGroup(db, 'anti-affinity');
    const placed = await place(s, db, 3, { group });
    assert.equal(new Set(placed).size, 3);
    await noValidHost(
      s.selectAndClaim(await scheduleRequest(db, { group })),
      /ServerGroupAntiAffinityFilter/,
    );
  });
});

test('anti-affinity honours the max_server_per_host rule', async () => {
  await withScheduler(equalHosts.slice(0, 2), schedulerConfig(), async (s, db) => {
    const group = await addServerGroup(db, 'anti-affinity', { max_server_per_host: 2 });
    await place(s, db, 4, { group });
    assert.deepEqual(await allocationCounts(db), { 'node-a': 2, 'node-b': 2 });
    await noValidHost(s.selectAndClaim(await scheduleRequest(db, { group })));
  });
});

test('without its filter enabled, anti-affinity is not enforced', async () => {
  const config = schedulerConfig({ filter_scheduler: { enabled_filters: 'ComputeFilter' } });
  await withScheduler([{ host: 'only' }], config, async (s, db) => {
    const group = await addServerGroup(db, 'anti-affinity');
    assert.deepEqual(await place(s, db, 2, { group }), ['only', 'only']);
  });
});

test('soft-anti-affinity spreads members and still places more members than hosts', async () => {
  await withScheduler(equalHosts, groupWeighersOnly, async (s, db) => {
    const group = await addServerGroup(db, 'soft-anti-affinity');
    await place(s, db, 6, { group });
    assert.deepEqual(await allocationCounts(db), { 'node-a': 2, 'node-b': 2, 'node-c': 2 });
  });
});

test('soft-affinity gathers members on one host while it has room, then spills over', async () => {
  const hosts = [
    { host: 'a', memoryMb: 3072 },
    { host: 'b', memoryMb: 3072 },
  ];
  await withScheduler(hosts, groupWeighersOnly, async (s, db) => {
    const group = await addServerGroup(db, 'soft-affinity');
    await place(s, db, 4, { group });
    assert.deepEqual(await allocationCounts(db), { a: 3, b: 1 });
  });
});

test('the filter that removed hosts is logged at debug with the instance', async () => {
  const { log, entries } = recordingLog();
  const hosts = [{ host: 'a', down: true }, { host: 'b' }];
  await withScheduler(
    hosts,
    schedulerConfig(),
    async (s, db) => {
      const req = await scheduleRequest(db);
      await s.selectAndClaim(req);
      const removed = entries.find((e) => e.filter === 'ComputeFilter');
      assert.ok(removed, JSON.stringify(entries));
      assert.equal(removed.level, 'debug');
      assert.equal(removed.instance_uuid, req.instanceUuid);
      assert.equal(removed.removed, 1);
      assert.equal(removed.remaining, 1);
    },
    log,
  );
});

test('an unknown filter name is refused when the scheduler is built', async () => {
  const config = schedulerConfig();
  config.filter_scheduler.enabled_filters = ['RamFilter'];
  const db = await openDatabase('sqlite://');
  try {
    assert.throws(() => new FilterScheduler(db, config, silentLog), /unknown filter "RamFilter"/);
  } finally {
    await db.destroy();
  }
});
