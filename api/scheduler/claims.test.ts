// Claims under concurrency, on SQLite and (when reachable) PostgreSQL,
// where claims really run side by side on a pool of connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../db/connection';
import type { TestDatabaseKind } from '../../testing/api/test-database';
import { claimFirstFitting } from './claims';
import { FilterScheduler, NoValidHost, type ScheduleRequest } from './scheduler';
import {
  addComputeHost,
  addServerGroup,
  allocationCounts,
  openTestDatabase,
  scheduleRequest,
  schedulerConfig,
  silentLog,
  type HostSpec,
} from '../../testing/api/scheduler-fixtures';

const KINDS: TestDatabaseKind[] = ['sqlite', 'postgresql'];

function eachDatabase(
  name: string,
  hosts: HostSpec[],
  fn: (s: FilterScheduler, db: Database) => Promise<void>,
): void {
  for (const kind of KINDS) {
    test(`${kind}: ${name}`, async (t) => {
      const testDb = await openTestDatabase(t, kind);
      if (!testDb) return;
      try {
        for (const host of hosts) await addComputeHost(testDb.db, host);
        await fn(new FilterScheduler(testDb.db, schedulerConfig(), silentLog), testDb.db);
      } finally {
        await testDb.drop();
      }
    });
  }
}

/** Runs every request at once; returns the hosts of those that got one. */
async function claimAll(s: FilterScheduler, requests: ScheduleRequest[]): Promise<string[]> {
  const results = await Promise.allSettled(requests.map((r) => s.selectAndClaim(r)));
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof NoValidHost, String(r.reason));
  }
  return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

async function requests(db: Database, count: number, o: Partial<ScheduleRequest> = {}) {
  const list: ScheduleRequest[] = [];
  for (let i = 0; i < count; i++) list.push(await scheduleRequest(db, o));
  return list;
}

async function usedMemory(db: Database, host: string): Promise<number> {
  const row = (await db('allocations').where({ host }).sum({ mb: 'memory_mb' }).first()) as {
    mb: number | string | null;
  };
  return Number(row.mb ?? 0);
}

async function generation(db: Database, host: string): Promise<number> {
  const row = await db('compute_nodes').where({ host }).first<{ generation: number }>('generation');
  return Number(row?.generation);
}

// 20 × 1024 MB fill the host's RAM exactly; vCPUs and disk have room to spare.
eachDatabase(
  '50 concurrent claims for a host that fits 20: exactly 20 succeed',
  [{ host: 'only', memoryMb: 20 * 1024, vcpus: 64 }],
  async (s, db) => {
    const placed = await claimAll(s, await requests(db, 50));
    assert.equal(placed.length, 20);
    assert.equal(await usedMemory(db, 'only'), 20 * 1024);
    assert.equal(await generation(db, 'only'), 20);
  },
);

eachDatabase(
  '50 concurrent claims over 3 hosts that fit 7 each: losers fall back to the next host',
  ['a', 'b', 'c'].map((host) => ({ host, memoryMb: 7 * 1024, vcpus: 64 })),
  async (s, db) => {
    const placed = await claimAll(s, await requests(db, 50));
    assert.equal(placed.length, 21);
    assert.deepEqual(await allocationCounts(db), { a: 7, b: 7, c: 7 });
  },
);

eachDatabase(
  '30 instances spread 10/10/10 over equal hosts',
  ['a', 'b', 'c'].map((host) => ({ host, memoryMb: 16384 })),
  async (s, db) => {
    for (const req of await requests(db, 30)) await s.selectAndClaim(req);
    assert.deepEqual(await allocationCounts(db), { a: 10, b: 10, c: 10 });
  },
);

eachDatabase(
  'concurrent anti-affinity members: one per host, the rest NoValidHost',
  [{ host: 'a' }, { host: 'b' }, { host: 'c' }],
  async (s, db) => {
    const group = await addServerGroup(db, 'anti-affinity');
    const placed = await claimAll(s, await requests(db, 6, { group }));
    assert.deepEqual(placed.sort(), ['a', 'b', 'c']);
  },
);

// Each request may only use one host, two requests per host: whichever
// member commits first decides the group's host, and only the other request
// for that host may follow it there.
eachDatabase(
  'concurrent affinity members pinned to different hosts: only one host wins',
  [{ host: 'a' }, { host: 'b' }, { host: 'c' }],
  async (s, db) => {
    const group = await addServerGroup(db, 'affinity');
    const hosts = ['a', 'b', 'c', 'a', 'b', 'c'];
    const reqs: ScheduleRequest[] = [];
    for (const host of hosts) {
      reqs.push(await scheduleRequest(db, { group, ignoreHosts: hosts.filter((h) => h !== host) }));
    }
    const placed = await claimAll(s, reqs);
    assert.equal(placed.length, 2);
    assert.equal(new Set(placed).size, 1);
  },
);

eachDatabase(
  'a claim falls back to the next host when the best one filled up after filtering',
  [
    { host: 'full', memoryMb: 1024 },
    { host: 'free', memoryMb: 1024 },
  ],
  async (s, db) => {
    await s.selectAndClaim(await scheduleRequest(db, { ignoreHosts: ['free'] }));
    const options = { config: schedulerConfig(), enforceGroupPolicy: false, log: silentLog };
    const req = await scheduleRequest(db);
    assert.equal(await claimFirstFitting(db, ['gone', 'full', 'free'], req, options), 'free');
    assert.equal(await claimFirstFitting(db, ['full', 'free'], req, options), 'free');
    const other = await scheduleRequest(db);
    assert.equal(await claimFirstFitting(db, ['full', 'free'], other, options), undefined);
  },
);
