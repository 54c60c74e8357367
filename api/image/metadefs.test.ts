import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApi, type TestApi } from '../../testing/api/test-api';

describe('image API: the metadata definitions catalog', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  test('lists no namespaces, in the layout glanceclient pages through', async () => {
    const r = await api.request(
      'GET',
      '/image/v2/metadefs/namespaces?limit=20&resource_types=OS::Glance::Image',
    );
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      namespaces: [],
      first: '/v2/metadefs/namespaces',
      schema: '/v2/schemas/metadefs/namespaces',
    });
    const types = await api.request('GET', '/image/v2/metadefs/resource_types');
    assert.deepEqual([types.status, types.body], [200, { resource_types: [] }]);
  });

  test('a namespace is a 404 naming it', async () => {
    const r = await api.request('GET', '/image/v2/metadefs/namespaces/OS::Compute::Watchdog');
    assert.equal(r.status, 404);
    assert.match(
      JSON.stringify(r.body),
      /Metadata definition namespace=OS::Compute::Watchdog was not found/,
    );
  });

  test('the schemas describe a namespace and a page of them', async () => {
    const one = await api.request('GET', '/image/v2/schemas/metadefs/namespace');
    assert.equal(one.status, 200);
    assert.equal(one.body.name, 'namespace');
    assert.equal(one.body.properties.visibility.enum.join(), 'public,private');
    const page = await api.request('GET', '/image/v2/schemas/metadefs/namespaces');
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.properties.namespaces.items, one.body);
  });

  test('needs a token, as the rest of the image API', async () => {
    const r = await api.request('GET', '/image/v2/metadefs/namespaces', { token: null });
    assert.equal(r.status, 401);
  });
});
