import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('os-aggregates API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('lists no aggregates to an admin', async () => {
    const r = await api.request('GET', '/v2.1/os-aggregates', { token: 'admin:admin' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { aggregates: [] });
  });

  it('is admin only', async () => {
    const r = await api.request('GET', '/v2.1/os-aggregates');
    assert.equal(r.status, 403);
    assert.match(r.body.forbidden.message, /os_compute_api:os-aggregates:index/);
  });
});
