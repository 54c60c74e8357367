import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = { token: 'admin:admin' };

describeEachDatabase('os-quota-class-sets API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it("shows a class's limits in each microversion's resources", async () => {
    const r = await api.request('GET', '/v2.1/os-quota-class-sets/default', ADMIN);
    assert.equal(r.status, 200);
    assert.equal(r.body.quota_class_set.id, 'default');
    assert.equal(r.body.quota_class_set.instances, 10);
    assert.equal(r.body.quota_class_set.fixed_ips, -1);
    assert.equal(r.body.quota_class_set.server_groups, undefined, 'server groups from 2.50');
    const at250 = await api.request('GET', '/v2.1/os-quota-class-sets/default', {
      ...ADMIN,
      version: '2.50',
    });
    assert.equal(at250.body.quota_class_set.server_groups, 10);
    assert.equal(at250.body.quota_class_set.fixed_ips, undefined);
    assert.equal(at250.body.quota_class_set.injected_files, 5);
    const at257 = await api.request('GET', '/v2.1/os-quota-class-sets/default', {
      ...ADMIN,
      version: '2.57',
    });
    assert.equal(at257.body.quota_class_set.injected_files, undefined);
  });

  it("updates the default class, which every project's limits then start from", async () => {
    const r = await api.request('PUT', '/v2.1/os-quota-class-sets/default', {
      ...ADMIN,
      body: { quota_class_set: { instances: 25, cores: '30' } },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.quota_class_set.id, undefined, 'update answers without the id');
    assert.equal(r.body.quota_class_set.instances, 25);
    assert.equal(r.body.quota_class_set.cores, 30);
    const project = await api.request('GET', '/v2.1/os-quota-sets/demo');
    assert.equal(project.body.quota_set.instances, 25);
    const defaults = await api.request('GET', '/v2.1/os-quota-sets/demo/defaults');
    assert.equal(defaults.body.quota_set.cores, 30);
    const limits = await api.request('GET', '/v2.1/limits');
    assert.equal(limits.body.limits.absolute.maxTotalInstances, 25);
    // Another class is stored, and used by nothing.
    await api.request('PUT', '/v2.1/os-quota-class-sets/gold', {
      ...ADMIN,
      body: { quota_class_set: { instances: 99 } },
    });
    const gold = await api.request('GET', '/v2.1/os-quota-class-sets/gold', ADMIN);
    assert.equal(gold.body.quota_class_set.instances, 99);
    assert.equal(
      (await api.request('GET', '/v2.1/os-quota-sets/demo')).body.quota_set.instances,
      25,
    );
  });

  it("refuses members and Nova's bad bodies", async () => {
    assert.equal((await api.request('GET', '/v2.1/os-quota-class-sets/default')).status, 403);
    const put = (body: unknown, version?: string) =>
      api.request('PUT', '/v2.1/os-quota-class-sets/default', { ...ADMIN, body, version });
    assert.equal((await put({ quota_class_set: { instances: -2 } })).status, 400);
    assert.equal((await put({ quota_class_set: { bogus: 1 } })).status, 400);
    assert.equal((await put({ quota_class_set: { server_groups: 1 } })).status, 400, 'before 2.50');
    assert.equal((await put({ quota_class_set: { server_groups: 1 } }, '2.50')).status, 200);
    assert.equal((await put({})).status, 400);
  });
});
