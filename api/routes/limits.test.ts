import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('limits API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database, config: { quota: { instances: 5 } } });
    const t = new Date().toISOString();
    for (const [project, deleted] of [
      ['demo', false],
      ['demo', true],
      ['other', false],
    ] as const)
      await api.deps.db('instances').insert({
        uuid: randomUUID(),
        project_id: project,
        user_id: project,
        display_name: 'vm',
        hostname: 'vm',
        flavorid: '2',
        flavor: JSON.stringify({ vcpus: 2, memory_mb: 2048 }),
        image_ref: 'i',
        vm_state: 'active',
        deleted,
        reservation_id: 'r',
        created_at: t,
      });
  });
  after(() => api.close());

  it('shows the 2.1 absolute limits with usage of live instances', async () => {
    const r = await api.request('GET', '/v2.1/limits');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      limits: {
        rate: [],
        absolute: {
          maxTotalRAMSize: 51200,
          maxTotalInstances: 5,
          maxTotalCores: 20,
          maxTotalKeypairs: 100,
          maxTotalFloatingIps: -1,
          maxServerMeta: 128,
          maxImageMeta: 128,
          maxPersonality: 5,
          maxPersonalitySize: 10240,
          maxSecurityGroups: -1,
          maxSecurityGroupRules: -1,
          maxServerGroups: 10,
          maxServerGroupMembers: 10,
          totalRAMUsed: 2048,
          totalCoresUsed: 2,
          totalInstancesUsed: 1,
          totalFloatingIpsUsed: 0,
          totalSecurityGroupsUsed: 0,
          totalServerGroupsUsed: 0,
        },
      },
    });
  });

  it('drops network limits at 2.36, maxImageMeta at 2.39 and personality at 2.57', async () => {
    const keys = async (version: string) =>
      Object.keys(
        (await api.request('GET', '/v2.1/limits', { version })).body.limits.absolute,
      ).sort();
    const at236 = await keys('2.36');
    assert.ok(!at236.includes('maxTotalFloatingIps') && !at236.includes('totalSecurityGroupsUsed'));
    assert.ok(at236.includes('maxImageMeta') && at236.includes('maxPersonality'));
    assert.ok(!(await keys('2.39')).includes('maxImageMeta'));
    assert.deepEqual(await keys('2.57'), [
      'maxServerGroupMembers',
      'maxServerGroups',
      'maxServerMeta',
      'maxTotalCores',
      'maxTotalInstances',
      'maxTotalKeypairs',
      'maxTotalRAMSize',
      'totalCoresUsed',
      'totalInstancesUsed',
      'totalRAMUsed',
      'totalServerGroupsUsed',
    ]);
  });

  it('shows another project only to admins (tenant_id)', async () => {
    const member = await api.request('GET', '/v2.1/limits?tenant_id=other');
    assert.equal(member.status, 403);
    assert.match(member.body.forbidden.message, /limits:other_project/);
    const admin = await api.request('GET', '/v2.1/limits?tenant_id=other', { token: 'admin' });
    assert.equal(admin.body.limits.absolute.totalInstancesUsed, 1);
    assert.equal((await api.request('GET', '/v2.1/limits?x=1', { version: '2.75' })).status, 400);
  });
});
