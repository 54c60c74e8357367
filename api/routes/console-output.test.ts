import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

describeEachDatabase('os-getConsoleOutput', (database) => {
  let cloud: TestCloud;
  let id: string;
  const output = async (length: unknown) => {
    const r = await cloud.request('POST', `/v2.1/servers/${id}/action`, {
      body: { 'os-getConsoleOutput': length === undefined ? {} : { length } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.output as string;
  };
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'con', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
    for (let n = 0; n < 3; n++) {
      await cloud.request('POST', `/v2.1/servers/${id}/action`, {
        body: { reboot: { type: 'HARD' } },
      });
      await cloud.waitForStatus(id, ['ACTIVE']);
    }
  });
  after(() => cloud.close());

  test("length N gives N '\\n'-separated parts, as Tempest counts them", async () => {
    assert.ok((await output(undefined)).split('\n').length > 3);
    assert.equal((await output(3)).split('\n').length, 3);
    assert.equal((await output('3')).split('\n').length, 3, 'Horizon sends the length as a string');
  });

  test('a null or -1 length is the whole log', async () => {
    const full = await output(undefined);
    assert.equal(await output(null), full);
    assert.equal(await output(-1), full);
  });

  test('a length that is no integer is a 400', async () => {
    for (const length of ['x', 1.5, -2, {}]) {
      const r = await cloud.request('POST', `/v2.1/servers/${id}/action`, {
        body: { 'os-getConsoleOutput': { length } },
      });
      assert.equal(r.status, 400, JSON.stringify(length));
    }
  });
});
