/**
 * Several API processes on one database: leases go to one holder at a
 * time and pass on when it stops renewing; an instance two schedulers
 * take at once is placed and claimed once; the lease holder re-drives a
 * build a stopped process left unplaced. On SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { TaskState, VmState } from '../../nova/states';
import { holdLease, releaseLease } from '../db/leases';
import { postgresUnavailableSync } from '../../testing/api/test-database';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { OnceOnlyDuties } from './once-only';

const pgSkip = postgresUnavailableSync();

for (const database of ['sqlite', 'postgresql'] as const) {
  describe(
    `several API processes on ${database}`,
    { skip: database === 'postgresql' && pgSkip },
    () => {
      let cloud: TestCloud;
      before(async () => {
        // The cloud's own duties pass once, at its start, and not again during a test.
        cloud = await startTestCloud({
          hosts: ['node-1', 'node-2'],
          database,
          config: { DEFAULT: { report_interval: 3600 } },
        });
      });
      after(() => cloud.close());

      test('a lease has one holder at a time, and passes on once it runs out or is given up', async () => {
        const { db } = cloud.api.deps;
        const name = `lease-${randomUUID().slice(0, 8)}`;
        assert.equal(await holdLease(db, name, 'a', 60_000), true);
        assert.equal(await holdLease(db, name, 'b', 60_000), false, 'b took a live lease');
        assert.equal(await holdLease(db, name, 'a', 60_000), true, 'a could not renew');
        // a stops renewing: a lease of 0 ms is already out when b asks.
        assert.equal(await holdLease(db, name, 'a', -1), true);
        assert.equal(await holdLease(db, name, 'b', 60_000), true, 'b did not take over');
        assert.equal(await holdLease(db, name, 'a', 60_000), false);
        await releaseLease(db, name, 'b');
        assert.equal(
          await holdLease(db, name, 'a', 60_000),
          true,
          'a did not take a released lease',
        );
        // Both at once: exactly one gets it.
        const other = `lease-${randomUUID().slice(0, 8)}`;
        const won = await Promise.all(['x', 'y', 'z'].map((h) => holdLease(db, other, h, 60_000)));
        assert.equal(won.filter(Boolean).length, 1, JSON.stringify(won));
      });

      /** A copy of an ACTIVE server's row, accepted but never placed, as a stopped API would leave it. */
      async function unplacedBuild(updatedAt: string): Promise<string> {
        const r = await cloud.request('POST', '/v2.1/servers', {
          body: { server: { name: 'template', imageRef: cloud.image.id, flavorRef: '1' } },
        });
        await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
        const { db } = cloud.api.deps;
        const row = await db('instances').where({ uuid: r.body.server.id }).first();
        const uuid = randomUUID();
        delete row.id;
        await db('instances').insert({
          ...row,
          uuid,
          display_name: `unplaced-${uuid.slice(0, 8)}`,
          host: null,
          node: null,
          vm_state: VmState.BUILDING,
          task_state: TaskState.SCHEDULING,
          power_state: 0,
          launched_at: null,
          attempts: 0,
          tried_hosts: '[]',
          updated_at: updatedAt,
        });
        return uuid;
      }

      test('two schedulers taking one instance at once place it once, with one claim and one build cast', async () => {
        const { deps } = cloud.api;
        const uuid = await unplacedBuild(new Date().toISOString());
        const casts: string[] = [];
        const cast = deps.compute.buildAndRunInstance.bind(deps.compute);
        deps.compute.buildAndRunInstance = (inst, ...rest) => {
          casts.push(`${inst.uuid} ${inst.host}`);
          return cast(inst, ...rest);
        };
        try {
          const context = { request_id: 'req-twice' };
          await Promise.all([
            deps.builds.schedule(uuid, context),
            deps.builds.schedule(uuid, context),
          ]);
        } finally {
          deps.compute.buildAndRunInstance = cast;
        }
        assert.equal(casts.filter((c) => c.startsWith(uuid)).length, 1, casts.join(', '));
        const allocations = await deps.db('allocations').where({ instance_uuid: uuid });
        assert.equal(allocations.length, 1);
        await cloud.waitForStatus(uuid, ['ACTIVE']);
        const row = await deps.db('instances').where({ uuid }).first();
        assert.deepEqual([row.host, row.attempts], [allocations[0].host, 1]);
      });

      test('the lease holder schedules a build left unplaced for service_down_time, not a fresh one', async () => {
        const { deps } = cloud.api;
        const downMs = deps.config.DEFAULT.service_down_time * 1000;
        const stale = await unplacedBuild(new Date(Date.now() - downMs - 1000).toISOString());
        const fresh = await unplacedBuild(new Date(Date.now() + 60_000).toISOString());
        const log = winston.createLogger({ silent: true });
        // A second process's duties: the cloud's own API holds the lease.
        const second = new OnceOnlyDuties(deps.db, deps.config, deps.builds, log);
        await second.tick();
        assert.equal((await deps.db('instances').where({ uuid: stale }).first()).host, null);
        // The holder stops; the second takes over as soon as the lease is given up.
        const lease = await deps.db('leases').where({ name: 'conductor' }).first();
        await releaseLease(deps.db, 'conductor', lease.holder);
        await second.tick();
        await cloud.waitForStatus(stale, ['ACTIVE']);
        const row = await deps.db('instances').where({ uuid: fresh }).first();
        assert.deepEqual([row.host, row.task_state], [null, TaskState.SCHEDULING]);
        await second.stop();
        await deps.db('instances').where({ uuid: fresh }).del();
      });
    },
  );
}
