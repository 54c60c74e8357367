/**
 * Server create's checks of what the flavor, the image and the quotas
 * allow, with Nova's statuses and messages: an image's min_ram and
 * min_disk above the flavor's (400), metadata over the project's
 * metadata_items (403, on create and on the metadata routes).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createImage, OWNER } from '../../testing/api/endpoints';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

const ADMIN = 'admin:admin';

describeEachDatabase('server create: flavor, image and metadata checks', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({
      hosts: ['node-1'],
      database,
      config: { quota: { metadata_items: 2 } },
    });
  });
  after(() => cloud.close());

  const create = (server: Record<string, unknown>) =>
    cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'vm', imageRef: cloud.image.id, flavorRef: '1', ...server } },
    });
  const remove = async (id: string) => {
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await cloud.waitForStatus(id, ['DELETED']);
  };

  test("an image's min_ram or min_disk above the flavor's is a 400; a big enough flavor boots", async () => {
    // m1.tiny (flavor 1) has 512 MB and a 1 GB disk; m1.small (2) 2048 MB and 20 GB.
    const ram = await createImage(cloud, OWNER, 'needs-ram', { properties: { min_ram: 1024 } });
    const disk = await createImage(cloud, OWNER, 'needs-disk', { properties: { min_disk: 5 } });
    const small = await create({ imageRef: ram });
    assert.equal(small.status, 400, JSON.stringify(small.body));
    assert.equal(
      small.body.badRequest.message,
      "Flavor's memory is too small for requested image.",
    );
    const tiny = await create({ imageRef: disk });
    assert.equal(tiny.status, 400, JSON.stringify(tiny.body));
    assert.equal(
      tiny.body.badRequest.message,
      `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${1024 ** 3} bytes, minimum size is ${5 * 1024 ** 3} bytes.`,
    );
    for (const imageRef of [ram, disk]) {
      const ok = await create({ imageRef, flavorRef: '2' });
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      await cloud.waitForStatus(ok.body.server.id, ['ACTIVE', 'ERROR']);
      await remove(ok.body.server.id);
    }
  });

  test("metadata over the project's metadata_items is a 403, on create and after", async () => {
    const over = await create({ metadata: { a: '1', b: '2', c: '3' } });
    assert.equal(over.status, 403, JSON.stringify(over.body));
    assert.equal(over.body.forbidden.message, 'Maximum number of metadata items exceeds 2');
    const r = await create({ metadata: { a: '1', b: '2' } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
    // The project's own quota, not only the default, bounds the metadata routes.
    const set = await cloud.request('PUT', '/v2.1/os-quota-sets/demo', {
      token: ADMIN,
      body: { quota_set: { metadata_items: 1 } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    try {
      const put = await cloud.request('PUT', `/v2.1/servers/${id}/metadata`, {
        body: { metadata: { a: '1', b: '2' } },
      });
      assert.equal(put.status, 403, JSON.stringify(put.body));
      assert.equal(put.body.forbidden.message, 'Maximum number of metadata items exceeds 1');
      const one = await create({ metadata: { a: '1', b: '2' } });
      assert.equal(one.status, 403, JSON.stringify(one.body));
    } finally {
      await cloud.request('DELETE', '/v2.1/os-quota-sets/demo', { token: ADMIN });
    }
    await remove(id);
  });
});
