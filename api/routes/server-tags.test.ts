import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const V = { version: '2.26' };

describeEachDatabase('server tags API (2.26)', (database) => {
  let api: TestApi;
  async function server(name: string, tags: string[] = [], vmState = 'active') {
    const uuid = randomUUID();
    await api.deps.db('instances').insert({
      uuid,
      project_id: 'demo',
      user_id: 'demo',
      display_name: name,
      hostname: name,
      host: 'node-1',
      flavorid: '1',
      flavor: JSON.stringify({ flavorid: '1', name: 'm1.tiny', vcpus: 1, memory_mb: 512 }),
      image_ref: 'i',
      vm_state: vmState,
      tags: JSON.stringify(tags),
      reservation_id: 'r',
      created_at: new Date().toISOString(),
    });
    return uuid;
  }
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('adds, checks, lists, replaces and removes tags', async () => {
    const id = await server('tagged');
    const base = `/v2.1/servers/${id}/tags`;
    const added = await api.request('PUT', `${base}/web`, V);
    assert.equal(added.status, 201);
    assert.equal(added.headers.get('location'), `${api.url}${base}/web`);
    assert.equal((await api.request('PUT', `${base}/web`, V)).status, 204, 'already there');
    assert.equal((await api.request('GET', `${base}/web`, V)).status, 204);
    const missing = await api.request('GET', `${base}/db`, V);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.itemNotFound.message, `Server ${id} has no tag 'db'`);
    assert.deepEqual((await api.request('GET', base, V)).body, { tags: ['web'] });

    const replaced = await api.request('PUT', base, { ...V, body: { tags: ['a', 'b', 'a'] } });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body, { tags: ['a', 'b'] });
    const shown = await api.request('GET', `/v2.1/servers/${id}`, V);
    assert.deepEqual(shown.body.server.tags, ['a', 'b']);
    const old = await api.request('GET', `/v2.1/servers/${id}`, { version: '2.25' });
    assert.equal(old.body.server.tags, undefined);

    assert.equal((await api.request('DELETE', `${base}/a`, V)).status, 204);
    const gone = await api.request('DELETE', `${base}/a`, V);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Instance ${id} has no tag 'a'`);
    assert.equal((await api.request('DELETE', base, V)).status, 204);
    assert.deepEqual((await api.request('GET', base, V)).body, { tags: [] });
  });

  it('keeps both of two concurrent additions', async () => {
    const id = await server('racy');
    const names = Array.from({ length: 10 }, (_, n) => `t${n}`);
    await Promise.all(names.map((t) => api.request('PUT', `/v2.1/servers/${id}/tags/${t}`, V)));
    const { body } = await api.request('GET', `/v2.1/servers/${id}/tags`, V);
    assert.deepEqual([...body.tags].sort(), names);
  });

  it('answers Nova faults: before 2.26, bad tags, over 50, unsettled servers, other projects', async () => {
    const id = await server('strict');
    const base = `/v2.1/servers/${id}/tags`;
    assert.equal((await api.request('GET', base)).status, 404);
    const comma = await api.request('PUT', `${base}/a,b`, V);
    assert.equal(comma.status, 400);
    assert.match(comma.body.badRequest.message, /^Tag 'a,b' is invalid/);
    assert.equal((await api.request('PUT', `${base}/${'x'.repeat(61)}`, V)).status, 400);
    assert.equal((await api.request('PUT', `${base}/${'x'.repeat(60)}`, V)).status, 201);
    assert.equal((await api.request('PUT', `${base}/x`, { ...V, body: {} })).status, 400);
    const many = Array.from({ length: 51 }, (_, n) => `t${n}`);
    assert.equal((await api.request('PUT', base, { ...V, body: { tags: many } })).status, 400);
    assert.equal(
      (await api.request('PUT', base, { ...V, body: { tags: many.slice(0, 50) } })).status,
      200,
    );
    const full = await api.request('PUT', `${base}/t0`, V);
    assert.equal(full.status, 400);
    assert.equal(
      full.body.badRequest.message,
      'The number of tags exceeded the per-server limit 50',
    );
    assert.equal((await api.request('PUT', base, { ...V, body: { tags: ['a/b'] } })).status, 400);

    const building = await server('building', [], 'building');
    const refused = await api.request('PUT', `/v2.1/servers/${building}/tags/x`, V);
    assert.equal(refused.status, 409);
    assert.equal(
      refused.body.conflictingRequest.message,
      `Cannot 'update tag' instance ${building} while it is in vm_state building`,
    );
    assert.equal((await api.request('GET', `/v2.1/servers/${building}/tags`, V)).status, 200);

    const theirs = await api.request('GET', base, { ...V, token: 'alice:other' });
    assert.equal(theirs.status, 403);
    assert.equal(
      theirs.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-server-tags:index to be performed.",
    );
    const admin = await api.request('GET', base, { ...V, token: 'admin:admin' });
    assert.equal(admin.status, 200);
    const none = await api.request('GET', `/v2.1/servers/${randomUUID()}/tags`, V);
    assert.equal(none.status, 404);
  });

  it('filters the server list by tags, tags-any, not-tags and not-tags-any', async () => {
    await server('f-ab', ['fa', 'fb']);
    await server('f-a', ['fa']);
    await server('f-c', ['fc']);
    const names = async (query: string, version = '2.26') => {
      const r = await api.request('GET', `/v2.1/servers/detail?name=^f-&${query}`, { version });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.servers.map((s: { name: string }) => s.name).sort();
    };
    assert.deepEqual(await names('tags=fa,fb'), ['f-ab']);
    assert.deepEqual(await names('tags-any=fb,fc'), ['f-ab', 'f-c']);
    assert.deepEqual(await names('not-tags=fa,fb'), ['f-a', 'f-c']);
    assert.deepEqual(await names('not-tags-any=fa'), ['f-c']);
    assert.deepEqual(await names('tags=fa&not-tags-any=fb'), ['f-a']);
    // Before 2.26 the filters are no parameters: ignored.
    assert.deepEqual(await names('tags=fa,fb', '2.25'), ['f-a', 'f-ab', 'f-c']);
  });
});
