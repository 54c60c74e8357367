import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';

describeEachDatabase('flavor access API', (database) => {
  let api: TestApi;
  const action = (id: string, body: unknown, o: { token?: string; version?: string } = {}) =>
    api.request('POST', `/v2.1/flavors/${id}/action`, { token: ADMIN, body, ...o });
  before(async () => {
    api = await startTestApi({ database });
    const r = await api.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      body: {
        flavor: {
          name: 'secret',
          id: 'secret',
          ram: 64,
          vcpus: 1,
          disk: 1,
          'os-flavor-access:is_public': false,
        },
      },
    });
    assert.equal(r.status, 200);
  });
  after(() => api.close());

  it('gives a project access: it lists and shows the private flavor; others still cannot', async () => {
    const before = await api.request('GET', '/v2.1/flavors/secret');
    assert.equal(before.status, 404);
    const added = await action('secret', { addTenantAccess: { tenant: 'demo' } });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body, { flavor_access: [{ flavor_id: 'secret', tenant_id: 'demo' }] });
    const list = await api.request('GET', '/v2.1/flavors/secret/os-flavor-access', {
      token: ADMIN,
    });
    assert.deepEqual(list.body, added.body);

    const shown = await api.request('GET', '/v2.1/flavors/secret');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.flavor['os-flavor-access:is_public'], false);
    const listed = await api.request('GET', '/v2.1/flavors');
    assert.ok(listed.body.flavors.some((f: { id: string }) => f.id === 'secret'));
    const other = await api.request('GET', '/v2.1/flavors/secret', { token: 'alice:other' });
    assert.equal(other.status, 404);
    const otherList = await api.request('GET', '/v2.1/flavors/detail', { token: 'alice:other' });
    assert.ok(!otherList.body.flavors.some((f: { id: string }) => f.id === 'secret'));
    // An admin's default list is the public flavors and those of the admin's own project.
    const adminList = await api.request('GET', '/v2.1/flavors', { token: ADMIN });
    assert.ok(!adminList.body.flavors.some((f: { id: string }) => f.id === 'secret'));
    const privateOnly = await api.request('GET', '/v2.1/flavors?is_public=false', { token: ADMIN });
    assert.deepEqual(
      privateOnly.body.flavors.map((f: { id: string }) => f.id),
      ['secret'],
    );

    const again = await action('secret', { addTenantAccess: { tenant: 'demo' } });
    assert.equal(again.status, 409);
    assert.match(
      again.body.conflictingRequest.message,
      /^Flavor access already exists for flavor \d+ and project demo combination\.$/,
    );
  });

  it('removes access, and 404s for a project not on the list', async () => {
    await action('secret', { addTenantAccess: { tenant: 'gone' } });
    const removed = await action('secret', { removeTenantAccess: { tenant: 'gone' } });
    assert.equal(removed.status, 200);
    assert.ok(
      !removed.body.flavor_access.some((a: { tenant_id: string }) => a.tenant_id === 'gone'),
    );
    const missing = await action('secret', { removeTenantAccess: { tenant: 'gone' } });
    assert.equal(missing.status, 404);
    assert.match(
      missing.body.itemNotFound.message,
      /^Flavor access not found for \d+ \/ gone combination\.$/,
    );
  });

  it('refuses public flavors: no list, and no access from 2.7', async () => {
    const list = await api.request('GET', '/v2.1/flavors/1/os-flavor-access', { token: ADMIN });
    assert.equal(list.status, 404);
    assert.equal(list.body.itemNotFound.message, 'Access list not available for public flavors.');
    const add = await action('1', { addTenantAccess: { tenant: 'demo' } }, { version: '2.7' });
    assert.equal(add.status, 409);
    assert.equal(add.body.conflictingRequest.message, 'Can not add access to a public flavor.');
    const unknown = await action('nope', { addTenantAccess: { tenant: 'demo' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.itemNotFound.message, 'Flavor nope could not be found.');
  });

  it('is for admins, and answers Nova 400s for malformed actions', async () => {
    const member = await action(
      'secret',
      { addTenantAccess: { tenant: 'x' } },
      { token: 'demo:demo' },
    );
    assert.equal(member.status, 403);
    assert.equal(
      member.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-flavor-access:add_tenant_access to be performed.",
    );
    const list = await api.request('GET', '/v2.1/flavors/secret/os-flavor-access');
    assert.equal(list.status, 403);
    const two = await action('secret', {
      addTenantAccess: { tenant: 'x' },
      removeTenantAccess: { tenant: 'x' },
    });
    assert.equal(two.body.badRequest.message, 'Malformed request body');
    const other = await action('secret', { swap: {} });
    assert.equal(other.body.badRequest.message, 'There is no such action: swap');
    const empty = await action('secret', { addTenantAccess: { tenant: '' } });
    assert.equal(empty.status, 400);
    const extra = await action('secret', { addTenantAccess: { tenant: 'x', more: 1 } });
    assert.equal(extra.status, 400);
  });

  it('drops the access list with the flavor', async () => {
    await api.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      body: {
        flavor: {
          name: 'short',
          id: 'short',
          ram: 64,
          vcpus: 1,
          disk: 1,
          'os-flavor-access:is_public': false,
        },
      },
    });
    await action('short', { addTenantAccess: { tenant: 'demo' } });
    assert.equal(
      (await api.request('DELETE', '/v2.1/flavors/short', { token: ADMIN })).status,
      202,
    );
    const rows = await api.deps.db('flavor_projects').where({ project_id: 'demo' });
    assert.equal(rows.length, 1, "only secret's row is left");
  });
});
