import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { checkQuota, usageFor } from '../db/quotas';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';

describeEachDatabase('os-quota-sets API and quota checks', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
    const t = new Date().toISOString();
    for (let n = 0; n < 2; n++)
      await api.deps.db('instances').insert({
        uuid: randomUUID(),
        project_id: 'demo',
        user_id: 'demo',
        display_name: `vm${n}`,
        hostname: `vm${n}`,
        flavorid: '2',
        flavor: JSON.stringify({ vcpus: 2, memory_mb: 1024 }),
        image_ref: 'i',
        vm_state: 'active',
        reservation_id: 'r',
        created_at: t,
      });
  });
  after(() => api.close());

  it('shows the caller its own quotas with the 2.1 resources', async () => {
    const r = await api.request('GET', '/v2.1/os-quota-sets/demo');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.quota_set, {
      id: 'demo',
      cores: 20,
      fixed_ips: -1,
      floating_ips: -1,
      injected_file_content_bytes: 10240,
      injected_file_path_bytes: 255,
      injected_files: 5,
      instances: 10,
      key_pairs: 100,
      metadata_items: 128,
      ram: 51200,
      security_group_rules: -1,
      security_groups: -1,
      server_group_members: 10,
      server_groups: 10,
    });
    const at257 = await api.request('GET', '/v2.1/os-quota-sets/demo', { version: '2.57' });
    assert.deepEqual(Object.keys(at257.body.quota_set).sort(), [
      'cores',
      'id',
      'instances',
      'key_pairs',
      'metadata_items',
      'ram',
      'server_group_members',
      'server_groups',
    ]);
  });

  it('keeps other projects’ quotas from members', async () => {
    const r = await api.request('GET', '/v2.1/os-quota-sets/other');
    assert.equal(r.status, 403);
    assert.match(r.body.forbidden.message, /os-quota-sets:show/);
    assert.equal((await api.request('GET', '/v2.1/os-quota-sets/other/detail')).status, 403);
    assert.equal(
      (await api.request('GET', '/v2.1/os-quota-sets/other', { token: ADMIN })).status,
      200,
    );
  });

  it('details usage and shows defaults', async () => {
    const r = await api.request('GET', '/v2.1/os-quota-sets/demo/detail', { version: '2.57' });
    assert.deepEqual(r.body.quota_set.instances, { in_use: 2, limit: 10, reserved: 0 });
    assert.deepEqual(r.body.quota_set.cores, { in_use: 4, limit: 20, reserved: 0 });
    assert.deepEqual(r.body.quota_set.ram, { in_use: 2048, limit: 51200, reserved: 0 });
    const d = await api.request('GET', '/v2.1/os-quota-sets/any/defaults', { version: '2.57' });
    assert.equal(d.body.quota_set.id, 'any');
    assert.equal(d.body.quota_set.instances, 10);
  });

  it('updates for admins, refusing a limit below usage unless forced', async () => {
    const path = '/v2.1/os-quota-sets/demo';
    const member = await api.request('PUT', path, { body: { quota_set: { instances: 50 } } });
    assert.equal(member.status, 403);
    const below = await api.request('PUT', path, {
      token: ADMIN,
      body: { quota_set: { instances: 1 } },
    });
    assert.equal(below.status, 400);
    assert.equal(
      below.body.badRequest.message,
      'Quota limit 1 for instances must be greater than or equal to already used and reserved 2.',
    );
    const r = await api.request('PUT', path, {
      token: ADMIN,
      version: '2.57',
      body: { quota_set: { instances: '3', cores: -1, key_pairs: 2 } },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.quota_set.id, undefined);
    assert.equal(r.body.quota_set.instances, 3);
    assert.equal(r.body.quota_set.cores, -1);
    const forced = await api.request('PUT', path, {
      token: ADMIN,
      body: { quota_set: { ram: 100, force: 'True' } },
    });
    assert.equal(forced.body.quota_set.ram, 100);
    for (const body of [
      { quota_set: { instances: -2 } },
      { quota_set: { instances: 2 ** 31 } },
      { quota_set: { instances: 'ten' } },
      { quota_set: { widgets: 1 } },
      { quota_set: { floating_ips: 1 } },
      { quota: {} },
    ]) {
      const res = await api.request('PUT', path, { token: ADMIN, version: '2.36', body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
  });

  it('checkQuota enforces instances, cores and ram with Nova’s message, and hands back the count that fits', async () => {
    const { db, config } = api.deps;
    // demo: instances limit 3 (set above), 2 used; ram 100 forced below usage.
    await db('quotas').where({ project_id: 'demo', resource: 'ram' }).delete();
    assert.equal(
      await checkQuota(db, config, { projectId: 'demo' }, { instances: 1, cores: 1, ram: 64 }),
      1,
    );
    assert.equal(
      await checkQuota(
        db,
        config,
        { projectId: 'demo' },
        { instances: 1, cores: 1, ram: 64 },
        { min: 1, max: 4 },
      ),
      1,
    );
    await assert.rejects(
      checkQuota(
        db,
        config,
        { projectId: 'demo' },
        { instances: 1, cores: 1, ram: 64 },
        { min: 2, max: 2 },
      ),
      (err: Error) => {
        assert.equal(err.name, 'ResourceExhaustedError');
        assert.equal(
          err.message,
          'Quota exceeded for instances: Requested 2, but already used 2 of 3 instances',
        );
        return true;
      },
    );
    await db.transaction(async (trx) => {
      assert.equal(
        await checkQuota(trx, config, { projectId: 'fresh' }, { instances: 1, cores: 1, ram: 64 }),
        1,
      );
    });
    assert.deepEqual(await usageFor(db, 'demo', 'demo'), {
      instances: 2,
      cores: 4,
      ram: 2048,
      server_groups: 0,
      key_pairs: 0,
    });
  });

  it("keeps a user's own limits within the project's, and holds the user to them", async () => {
    const { db, config } = api.deps;
    const path = '/v2.1/os-quota-sets/demo';
    const put = (user: string, quota_set: unknown) =>
      api.request('PUT', `${path}?user_id=${user}`, { token: ADMIN, body: { quota_set } });
    // demo: instances limit 3, two used, both by user demo.
    const above = await put('demo', { instances: 5 });
    assert.equal(above.status, 400);
    assert.equal(
      above.body.badRequest.message,
      'Quota limit 5 for instances must be less than or equal to 3.',
    );
    assert.equal((await put('demo', { instances: 1 })).status, 400);
    const r = await put('demo', { instances: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.quota_set.instances, 2);

    const shown = await api.request('GET', `${path}?user_id=demo`, { token: ADMIN });
    assert.equal(shown.body.quota_set.instances, 2);
    assert.equal((await api.request('GET', path, { token: ADMIN })).body.quota_set.instances, 3);
    const bob = await api.request('GET', `${path}/detail?user_id=bob`, { token: ADMIN });
    assert.deepEqual(bob.body.quota_set.instances, { limit: 3, in_use: 0, reserved: 0 });

    const one = { instances: 1, cores: 1, ram: 64 };
    await assert.rejects(checkQuota(db, config, { projectId: 'demo', userId: 'demo' }, one), {
      message: 'Quota exceeded for instances: Requested 1, but already used 2 of 2 instances',
    });
    assert.equal(await checkQuota(db, config, { projectId: 'demo', userId: 'bob' }, one), 1);

    const del = await api.request('DELETE', `${path}?user_id=demo`, { token: ADMIN });
    assert.equal(del.status, 202);
    assert.equal(await checkQuota(db, config, { projectId: 'demo', userId: 'demo' }, one), 1);
    const long = await api.request('GET', `${path}?user_id=${'u'.repeat(256)}`, { token: ADMIN });
    assert.equal(long.status, 400);
  });

  it('deletes back to the defaults with 202', async () => {
    assert.equal((await api.request('DELETE', '/v2.1/os-quota-sets/demo')).status, 403);
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-quota-sets/demo', { token: ADMIN })).status,
      202,
    );
    const r = await api.request('GET', '/v2.1/os-quota-sets/demo');
    assert.equal(r.body.quota_set.instances, 10);
  });
});
