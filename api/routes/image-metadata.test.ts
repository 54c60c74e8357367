import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeImageService } from '../../testing/driver/fake-image-service';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('/v2.1/images/{id}/metadata (Nova image metadata proxy)', (database) => {
  let api: TestApi;
  const images = new FakeImageService();
  let mine: string;
  let cloud: string;

  before(async () => {
    api = await startTestApi({ database, images, config: { quota: { metadata_items: 3 } } });
    mine = (await images.create({ name: 'mine', owner: 'demo', properties: { os: 'linux' } })).id;
    cloud = (await images.create({ name: 'cloud', visibility: 'public', owner: 'ops' })).id;
  });
  after(() => api.close());

  test('reads, merges, replaces and removes the custom properties', async () => {
    const base = `/v2.1/images/${mine}/metadata`;
    assert.deepEqual((await api.request('GET', base)).body, { metadata: { os: 'linux' } });
    const merged = await api.request('POST', base, { body: { metadata: { arch: 'x86_64' } } });
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.body, { metadata: { os: 'linux', arch: 'x86_64' } });
    assert.deepEqual((await images.show(mine)).properties, { os: 'linux', arch: 'x86_64' });

    const one = await api.request('PUT', `${base}/os`, { body: { meta: { os: 'alpine' } } });
    assert.deepEqual(one.body, { meta: { os: 'alpine' } });
    assert.deepEqual((await api.request('GET', `${base}/os`)).body, { meta: { os: 'alpine' } });
    const replaced = await api.request('PUT', base, { body: { metadata: { only: 'this' } } });
    assert.deepEqual(replaced.body, { metadata: { only: 'this' } });
    assert.deepEqual((await images.show(mine)).properties, { only: 'this' });

    assert.equal((await api.request('DELETE', `${base}/only`)).status, 204);
    const gone = await api.request('DELETE', `${base}/only`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, 'Invalid metadata key');
    assert.equal((await api.request('GET', `${base}/only`)).status, 404);
    assert.equal((await api.request('DELETE', `${base}/__proto__`)).status, 404);
  });

  test("answers Nova's faults: mismatch, quota, another project's image, unknown, 2.39", async () => {
    const base = `/v2.1/images/${mine}/metadata`;
    const mismatch = await api.request('PUT', `${base}/a`, { body: { meta: { b: '1' } } });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.badRequest.message, 'Request body and URI mismatch');
    assert.equal((await api.request('PUT', `${base}/a`, { body: { meta: {} } })).status, 400);
    assert.equal(
      (await api.request('POST', base, { body: { metadata: { 'bad/key': 'x' } } })).status,
      400,
    );
    const over = await api.request('PUT', base, {
      body: { metadata: { a: '1', b: '2', c: '3', d: '4' } },
    });
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Image metadata limit exceeded');

    assert.equal((await api.request('GET', `/v2.1/images/${cloud}/metadata`)).status, 200);
    const refused = await api.request('POST', `/v2.1/images/${cloud}/metadata`, {
      body: { metadata: { a: '1' } },
    });
    assert.equal(refused.status, 403);
    const admin = await api.request('POST', `/v2.1/images/${cloud}/metadata`, {
      token: 'admin:admin',
      body: { metadata: { a: '1' } },
    });
    assert.equal(admin.status, 200);

    const unknown = await api.request('GET', '/v2.1/images/nope/metadata');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.itemNotFound.message, 'Image not found.');
    // The proxy's metadata outlives the image proxy (2.36) until 2.39.
    assert.equal((await api.request('GET', base, { version: '2.38' })).status, 200);
    assert.equal((await api.request('GET', base, { version: '2.39' })).status, 404);
  });
});
