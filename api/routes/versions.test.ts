import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('version discovery', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('lists v2.0 then v2.1 at the root with 200, as Nova', async () => {
    const r = await api.request('GET', '/', { token: null });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.versions.map((v: { id: string }) => v.id),
      ['v2.0', 'v2.1'],
    );
    assert.equal(r.body.versions[1].version, '2.92');
    assert.equal(r.body.versions[1].min_version, '2.1');
    assert.equal(r.body.versions[0]['media-types'], undefined);
  });

  it("answers each listed self link with that version's document and the same self link", async () => {
    const list = await api.request('GET', '/', { token: null });
    for (const v of list.body.versions) {
      const self = v.links.filter((l: { rel: string }) => l.rel === 'self');
      assert.equal(self.length, 1);
      const r = await api.request('GET', new URL(self[0].href).pathname);
      assert.equal(r.status, 200, self[0].href);
      assert.equal(r.body.version.id, v.id);
      assert.deepEqual(
        r.body.version.links.filter((l: { rel: string }) => l.rel === 'self'),
        self,
      );
    }
  });
});
