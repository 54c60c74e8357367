import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { findFlavor, seedDefaultFlavors } from '../db/flavors';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';

describeEachDatabase('flavors API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('lists the default flavors, sorted by flavorid as Nova does', async () => {
    const r = await api.request('GET', '/v2.1/flavors');
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.flavors.map((f: { id: string }) => f.id),
      ['1', '2', '3', '4', '42', '5'],
    );
    assert.deepEqual(r.body.flavors[0], {
      id: '1',
      name: 'm1.tiny',
      links: [
        { href: `${api.url}/v2.1/flavors/1`, rel: 'self' },
        { href: `${api.url}/flavors/1`, rel: 'bookmark' },
      ],
    });
    assert.equal(r.body.flavors_links, undefined);
  });

  it('shows a flavor with the 2.1 shape: swap "" and no description', async () => {
    const r = await api.request('GET', '/v2.1/flavors/1');
    assert.equal(r.status, 200);
    const { links, ...rest } = r.body.flavor;
    assert.equal(links.length, 2);
    assert.deepEqual(rest, {
      id: '1',
      name: 'm1.tiny',
      ram: 512,
      disk: 1,
      swap: '',
      'OS-FLV-EXT-DATA:ephemeral': 0,
      'OS-FLV-DISABLED:disabled': false,
      vcpus: 1,
      'os-flavor-access:is_public': true,
      rxtx_factor: 1,
    });
  });

  it('adds description at 2.55, extra_specs at 2.61 and a numeric swap at 2.75', async () => {
    const at255 = await api.request('GET', '/v2.1/flavors/42', { version: '2.55' });
    assert.equal(at255.body.flavor.description, null);
    assert.equal(at255.body.flavor.extra_specs, undefined);
    const at261 = await api.request('GET', '/v2.1/flavors/detail', { version: '2.61' });
    assert.deepEqual(at261.body.flavors[0].extra_specs, {});
    assert.equal(at261.body.flavors[0].swap, '');
    const at275 = await api.request('GET', '/v2.1/flavors/42', { version: '2.75' });
    assert.equal(at275.body.flavor.swap, 0);
    const brief = await api.request('GET', '/v2.1/flavors', { version: '2.55' });
    assert.ok('description' in brief.body.flavors[0]);
  });

  it('answers Nova 404 for an unknown flavor (OSC tries names as ids first)', async () => {
    const r = await api.request('GET', '/v2.1/flavors/m1.tiny');
    assert.equal(r.status, 404);
    assert.equal(r.body.itemNotFound.message, 'Flavor m1.tiny could not be found.');
  });

  it('filters by minRam/minDisk and pages with limit and marker', async () => {
    const big = await api.request('GET', '/v2.1/flavors/detail?minRam=4096&minDisk=80');
    assert.deepEqual(
      big.body.flavors.map((f: { name: string }) => f.name),
      ['m1.large', 'm1.xlarge'],
    );
    const page = await api.request('GET', '/v2.1/flavors?limit=2&sort_key=memory_mb&sort_dir=desc');
    assert.deepEqual(
      page.body.flavors.map((f: { id: string }) => f.id),
      ['5', '4'],
    );
    const next = new URL(page.body.flavors_links[0].href);
    assert.equal(next.searchParams.get('marker'), '4');
    const rest = await api.request('GET', `${next.pathname}${next.search}`);
    assert.deepEqual(
      rest.body.flavors.map((f: { id: string }) => f.id),
      ['3', '2'],
    );
    for (const bad of ['minRam=abc', 'sort_key=nope', 'sort_dir=up', 'limit=-1', 'marker=zzz'])
      assert.equal((await api.request('GET', `/v2.1/flavors?${bad}`)).status, 400, bad);
    assert.equal(
      (await api.request('GET', '/v2.1/flavors?foo=1', { version: '2.75' })).status,
      400,
    );
    assert.equal(
      (await api.request('GET', '/v2.1/flavors?foo=1', { version: '2.74' })).status,
      200,
    );
  });

  it('creates flavors for admins only, with an id made up when none is given', async () => {
    const body = { flavor: { name: 'c1', ram: 128, vcpus: 1, disk: 0 } };
    const member = await api.request('POST', '/v2.1/flavors', { body });
    assert.equal(member.status, 403);
    assert.match(member.body.forbidden.message, /os-flavor-manage:create/);
    const r = await api.request('POST', '/v2.1/flavors', { token: ADMIN, body, version: '2.61' });
    assert.equal(r.status, 200);
    assert.match(r.body.flavor.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(r.body.flavor.extra_specs, {});
    assert.equal(r.body.flavor.ram, 128);
    const dup = await api.request('POST', '/v2.1/flavors', { token: ADMIN, body });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.conflictingRequest.message, 'Flavor with name c1 already exists.');
    const dupId = await api.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      body: { flavor: { name: 'c2', id: 1, ram: '64', vcpus: '1', disk: '1' } },
    });
    assert.equal(dupId.status, 409);
    assert.equal(dupId.body.conflictingRequest.message, 'Flavor with ID 1 already exists.');
  });

  it('refuses bad flavor bodies with a 400 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ flavor: { name: 'x', ram: 0, vcpus: 1, disk: 0 } }, 'flavor.ram'],
      [{ flavor: { name: 'x', ram: 1, vcpus: 1 } }, 'flavor.disk'],
      [{ flavor: { name: ' x', ram: 1, vcpus: 1, disk: 0 } }, 'flavor.name'],
      [{ flavor: { name: 'x', ram: 1e20, vcpus: 1, disk: 0 } }, 'flavor.ram'],
      [{ flavor: { name: 'x', ram: '1.5', vcpus: 1, disk: 0 } }, 'flavor.ram'],
      [{ flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, rxtx_factor: 0 } }, 'flavor.rxtx_factor'],
      [{ flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, id: ' a' } }, 'flavor.id'],
      [{ flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, colour: 'red' } }, 'flavor.colour'],
      [
        { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, description: 'd' } },
        'flavor.description',
      ],
      [{ flavor: 'x' }, 'flavor'],
      [[], 'body'],
    ];
    for (const [body, field] of cases) {
      const r = await api.request('POST', '/v2.1/flavors', { token: ADMIN, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.badRequest.message, new RegExp(`field/attribute ${field}\\b`));
    }
    const malformed = await api.request('POST', '/v2.1/flavors', { token: ADMIN, body: '{"flav' });
    assert.equal(malformed.status, 400);
    const empty = await api.request('POST', '/v2.1/flavors', { token: ADMIN });
    assert.equal(empty.status, 400);
    assert.match(empty.body.badRequest.message, /field\/attribute body\b/);
  });

  it('keeps private flavors from members and lists them for admins with is_public', async () => {
    const r = await api.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      version: '2.55',
      body: {
        flavor: {
          name: 'secret',
          id: 'p1',
          ram: 64,
          vcpus: 1,
          disk: 1,
          'os-flavor-access:is_public': 'False',
          description: 'hidden',
        },
      },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.flavor.description, 'hidden');
    assert.equal((await api.request('GET', '/v2.1/flavors/p1')).status, 404);
    const ids = async (path: string, token?: string) =>
      (await api.request('GET', path, { token })).body.flavors.map((f: { id: string }) => f.id);
    assert.ok(!(await ids('/v2.1/flavors?is_public=None')).includes('p1'));
    assert.ok(!(await ids('/v2.1/flavors', ADMIN)).includes('p1'));
    assert.ok((await ids('/v2.1/flavors?is_public=None', ADMIN)).includes('p1'));
    assert.deepEqual(await ids('/v2.1/flavors?is_public=false', ADMIN), ['p1']);
    const bad = await api.request('GET', '/v2.1/flavors?is_public=maybe', { token: ADMIN });
    assert.equal(bad.status, 400);
  });

  it('updates a description at 2.55 and not before', async () => {
    const body = { flavor: { description: 'tiny one' } };
    assert.equal((await api.request('PUT', '/v2.1/flavors/1', { token: ADMIN, body })).status, 404);
    const r = await api.request('PUT', '/v2.1/flavors/1', { token: ADMIN, body, version: '2.55' });
    assert.equal(r.status, 200);
    assert.equal(r.body.flavor.description, 'tiny one');
    const member = await api.request('PUT', '/v2.1/flavors/1', { body, version: '2.55' });
    assert.equal(member.status, 403);
  });

  it('manages extra specs: everyone reads, admins write', async () => {
    const path = '/v2.1/flavors/2/os-extra_specs';
    assert.deepEqual((await api.request('GET', path)).body, { extra_specs: {} });
    const body = { extra_specs: { 'hw:cpu_policy': 'dedicated', 'quota:cpu_shares': 1024 } };
    assert.equal((await api.request('POST', path, { body })).status, 403);
    const created = await api.request('POST', path, { token: ADMIN, body });
    assert.equal(created.status, 200);
    assert.deepEqual(created.body, body);
    assert.deepEqual((await api.request('GET', `${path}/quota:cpu_shares`)).body, {
      'quota:cpu_shares': '1024',
    });
    const put = await api.request('PUT', `${path}/hw:cpu_policy`, {
      token: ADMIN,
      body: { 'hw:cpu_policy': 'shared' },
    });
    assert.equal(put.status, 200);
    const mismatch = await api.request('PUT', `${path}/hw:cpu_policy`, {
      token: ADMIN,
      body: { other: 'x' },
    });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.badRequest.message, 'Request body and URI mismatch');
    const twoKeys = await api.request('PUT', `${path}/a`, {
      token: ADMIN,
      body: { a: '1', b: '2' },
    });
    assert.equal(twoKeys.status, 400);
    const badKey = await api.request('POST', path, {
      token: ADMIN,
      body: { extra_specs: { 'bad/key': 'x' } },
    });
    assert.equal(badKey.status, 400);
    const shown = await api.request('GET', '/v2.1/flavors/2', { version: '2.61' });
    assert.deepEqual(shown.body.flavor.extra_specs, {
      'hw:cpu_policy': 'shared',
      'quota:cpu_shares': '1024',
    });
    const del = await api.request('DELETE', `${path}/hw:cpu_policy`, { token: ADMIN });
    assert.equal(del.status, 200);
    const gone = await api.request('GET', `${path}/hw:cpu_policy`);
    assert.equal(gone.status, 404);
    assert.equal(
      gone.body.itemNotFound.message,
      'Flavor 2 has no extra specs with key hw:cpu_policy.',
    );
    assert.equal((await api.request('GET', '/v2.1/flavors/nope/os-extra_specs')).status, 404);
  });

  it('deletes flavors for admins with 202', async () => {
    assert.equal((await api.request('DELETE', '/v2.1/flavors/3')).status, 403);
    assert.equal((await api.request('DELETE', '/v2.1/flavors/3', { token: ADMIN })).status, 202);
    assert.equal((await api.request('GET', '/v2.1/flavors/3')).status, 404);
    assert.equal((await api.request('DELETE', '/v2.1/flavors/3', { token: ADMIN })).status, 404);
  });

  it('findFlavor serves the servers code; seeding does not bring back deleted defaults', async () => {
    const f = await findFlavor(api.deps.db, '42');
    assert.equal(f.name, 'b1.nano');
    await assert.rejects(findFlavor(api.deps.db, 'nope'), { status: 404 });
    await assert.rejects(findFlavor(api.deps.db, 'nope', { asBadRequest: true }), { status: 400 });
    await seedDefaultFlavors(api.deps.db);
    assert.equal((await api.request('GET', '/v2.1/flavors/3')).status, 404);
  });
});
