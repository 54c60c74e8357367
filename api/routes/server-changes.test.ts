import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

describeEachDatabase('GET /servers changes-since and changes-before', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
  });
  after(() => cloud.close());

  const ids = async (query: string, version = '2.66') => {
    const r = await cloud.request('GET', `/v2.1/servers?${query}`, { version });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.servers.map((s: { id: string }) => s.id);
  };

  test('a window of updates, deleted servers included; an inverted window is a 400', async () => {
    const boot = async (name: string) => {
      const r = await cloud.request('POST', '/v2.1/servers', {
        body: { server: { name, imageRef: cloud.image.id, flavorRef: '42' } },
      });
      await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
      return r.body.server.id as string;
    };
    const first = await boot('first');
    const gone = await boot('gone');
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${gone}`)).status, 204);
    await cloud.waitForStatus(gone, ['DELETED']);
    const mark = new Date().toISOString();
    const second = await boot('second');

    const old = await ids(`changes-before=${encodeURIComponent(mark)}`);
    assert.ok(old.includes(first) && old.includes(gone), JSON.stringify(old));
    assert.ok(!old.includes(second));
    const recent = await ids(`changes-since=${encodeURIComponent(mark)}`);
    assert.deepEqual(recent, [second]);
    // Before 2.66 the parameter is not Nova's: ignored, as Nova ignores it.
    const ignored = await ids(`changes-before=${encodeURIComponent(mark)}`, '2.65');
    assert.ok(ignored.includes(second) && !ignored.includes(gone));

    const inverted = await cloud.request(
      'GET',
      `/v2.1/servers?changes-since=${encodeURIComponent(mark)}&changes-before=2000-01-01T00:00:00Z`,
      { version: '2.66' },
    );
    assert.equal(inverted.status, 400);
    assert.match(inverted.body.badRequest.message, /changes-since must be less than/);
    const bad = await cloud.request('GET', '/v2.1/servers?changes-before=yesterday', {
      version: '2.66',
    });
    assert.equal(bad.status, 400);
  });
});
