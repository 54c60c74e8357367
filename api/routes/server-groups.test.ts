import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { ApiContext } from '../context';
import { getGroup } from '../db/server-groups';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('os-server-groups API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database, config: { quota: { server_groups: 2 } } });
  });
  after(() => api.close());

  async function create(body: unknown, o: { version?: string; token?: string } = {}) {
    return api.request('POST', '/v2.1/os-server-groups', { body, ...o });
  }

  it('creates with a policies list before 2.64 and shows members, metadata and owners', async () => {
    const r = await create({ server_group: { name: 'web', policies: ['anti-affinity'] } });
    assert.equal(r.status, 200);
    const id = r.body.server_group.id;
    assert.deepEqual(r.body.server_group, {
      id,
      name: 'web',
      policies: ['anti-affinity'],
      metadata: {},
      members: [],
    });
    // A live member and a deleted one: only the live one is listed.
    const t = new Date().toISOString();
    const live = randomUUID();
    for (const [uuid, deleted] of [
      [live, false],
      [randomUUID(), true],
    ] as const) {
      await api.deps.db('instances').insert({
        uuid,
        project_id: 'demo',
        user_id: 'demo',
        display_name: 'vm',
        hostname: 'vm',
        flavorid: '1',
        flavor: '{}',
        image_ref: 'i',
        vm_state: 'active',
        deleted,
        reservation_id: 'r',
        created_at: t,
      });
      await api.deps.db('server_group_members').insert({ group_uuid: id, instance_uuid: uuid });
    }
    const shown = await api.request('GET', `/v2.1/os-server-groups/${id}`, { version: '2.13' });
    assert.deepEqual(shown.body.server_group, {
      id,
      name: 'web',
      policies: ['anti-affinity'],
      metadata: {},
      members: [live],
      project_id: 'demo',
      user_id: 'demo',
    });
  });

  it('takes policy and rules from 2.64, soft policies from 2.15', async () => {
    const r = await create(
      {
        server_group: { name: 'db', policy: 'anti-affinity', rules: { max_server_per_host: '2' } },
      },
      { version: '2.64' },
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.server_group.policy, 'anti-affinity');
    assert.deepEqual(r.body.server_group.rules, { max_server_per_host: 2 });
    assert.equal(r.body.server_group.policies, undefined);
    assert.equal(r.body.server_group.metadata, undefined);
    const soft21 = await create({ server_group: { name: 's', policies: ['soft-affinity'] } });
    assert.equal(soft21.status, 400);
    const onlyAnti = await create(
      { server_group: { name: 's', policy: 'affinity', rules: { max_server_per_host: 1 } } },
      { version: '2.64' },
    );
    assert.equal(onlyAnti.status, 400);
    assert.equal(onlyAnti.body.badRequest.message, 'Only anti-affinity policy supports rules.');
  });

  it('refuses bad bodies with 400', async () => {
    const cases: [unknown, string?][] = [
      [{ server_group: { name: 'x', policies: ['affinity', 'anti-affinity'] } }],
      [{ server_group: { name: 'x', policies: [] } }],
      [{ server_group: { name: 'x' } }],
      [{ server_group: { name: '', policies: ['affinity'] } }],
      [{ server_group: { name: 'x', policies: ['affinity'], policy: 'affinity' } }],
      [{ server_group: { name: 'x', policy: 'affinity' } }],
      [{ server_group: { name: 'x', policy: 'spread' } }, '2.64'],
      [
        { server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: 0 } } },
        '2.64',
      ],
      [{ server_group: { name: 'x', policy: 'anti-affinity', rules: { other: 1 } } }, '2.64'],
      [{ server_group: { name: 'x', policies: ['affinity'] } }, '2.64'],
      ['nonsense'],
      [undefined],
    ];
    for (const [body, version] of cases) {
      const r = await create(body, { version });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
  });

  it('keeps projects apart: another project’s group is not found', async () => {
    const mine = await api.request('GET', '/v2.1/os-server-groups');
    const id = mine.body.server_groups[0].id;
    const theirs = await api.request('GET', `/v2.1/os-server-groups/${id}`, { token: 'eve:other' });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.itemNotFound.message, `Instance group ${id} could not be found.`);
    assert.equal(
      (await api.request('DELETE', `/v2.1/os-server-groups/${id}`, { token: 'eve:other' })).status,
      404,
    );
    const list = await api.request('GET', '/v2.1/os-server-groups?all_projects=True', {
      token: 'eve:other',
    });
    assert.deepEqual(list.body.server_groups, []);
    const all = await api.request('GET', '/v2.1/os-server-groups?all_projects=True', {
      token: 'admin',
    });
    assert.equal(all.body.server_groups.length, mine.body.server_groups.length);
    assert.equal((await api.request('GET', '/v2.1/os-server-groups/not-a-uuid')).status, 404);
    const ctx = { projectId: 'other', isAdmin: false } as ApiContext;
    await assert.rejects(getGroup(api.deps.db, id, ctx), { status: 404 });
    await assert.rejects(getGroup(api.deps.db, id, ctx, { asBadRequest: true }), { status: 400 });
    assert.equal((await getGroup(api.deps.db, id, { ...ctx, projectId: 'demo' })).uuid, id);
  });

  it('pages with limit and offset and refuses unknown query parameters at 2.75', async () => {
    const r = await api.request('GET', '/v2.1/os-server-groups?limit=1&offset=1');
    assert.equal(r.body.server_groups.length, 1);
    assert.equal((await api.request('GET', '/v2.1/os-server-groups?limit=x')).status, 400);
    assert.equal(
      (await api.request('GET', '/v2.1/os-server-groups?sort=1', { version: '2.75' })).status,
      400,
    );
  });

  it('enforces the server_groups quota with 403', async () => {
    const r = await create({ server_group: { name: 'over', policies: ['affinity'] } });
    assert.equal(r.status, 403);
    assert.equal(r.body.forbidden.message, 'Quota exceeded, too many server groups.');
  });

  it('deletes with 204, leaving the instances alone', async () => {
    const list = await api.request('GET', '/v2.1/os-server-groups');
    const id = list.body.server_groups[0].id;
    assert.equal((await api.request('DELETE', `/v2.1/os-server-groups/${id}`)).status, 204);
    assert.equal((await api.request('GET', `/v2.1/os-server-groups/${id}`)).status, 404);
    assert.equal((await api.deps.db('server_group_members').where({ group_uuid: id })).length, 0);
    assert.equal((await api.deps.db('instances')).length, 2);
  });
});
