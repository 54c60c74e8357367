import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

const ADMIN = { token: 'admin:admin' };

describeEachDatabase('os-aggregates API', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1', 'node-2'], database });
  });
  after(() => cloud.close());

  const req = (method: string, path: string, body?: unknown, version?: string) =>
    cloud.request(method, `/v2.1/os-aggregates${path}`, { ...ADMIN, body, version });

  it('is admin only, every action', async () => {
    const r = await cloud.request('GET', '/v2.1/os-aggregates');
    assert.equal(r.status, 403);
    assert.match(r.body.forbidden.message, /os_compute_api:os-aggregates:index/);
    const c = await cloud.request('POST', '/v2.1/os-aggregates', {
      body: { aggregate: { name: 'x' } },
    });
    assert.equal(c.status, 403);
    assert.match(c.body.forbidden.message, /os-aggregates:create/);
  });

  it('creates, shows, renames and deletes, in the view Nova gives per microversion', async () => {
    const c = await req('POST', '', { aggregate: { name: 'rack-1', availability_zone: null } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.deepEqual(Object.keys(c.body.aggregate).sort(), [
      'availability_zone',
      'created_at',
      'deleted',
      'deleted_at',
      'id',
      'name',
      'updated_at',
    ]);
    const id = c.body.aggregate.id;
    assert.equal(typeof id, 'number');
    const shown = await req('GET', `/${id}`, undefined, '2.41');
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.aggregate.hosts, []);
    assert.deepEqual(shown.body.aggregate.metadata, {});
    assert.match(shown.body.aggregate.uuid, /^[0-9a-f-]{36}$/);
    assert.equal((await req('POST', '', { aggregate: { name: 'rack-1' } })).status, 409);
    const renamed = await req('PUT', `/${id}`, { aggregate: { name: 'rack-one' } });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.aggregate.name, 'rack-one');
    assert.ok(renamed.body.aggregate.updated_at);
    const listed = await req('GET', '');
    assert.ok(listed.body.aggregates.some((a: { name: string }) => a.name === 'rack-one'));
    assert.equal((await req('DELETE', `/${id}`)).status, 200);
    const gone = await req('GET', `/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Aggregate ${id} could not be found.`);
  });

  it('adds and removes hosts, and refuses what Nova refuses', async () => {
    const id = (await req('POST', '', { aggregate: { name: 'hosts' } })).body.aggregate.id;
    const add = await req('POST', `/${id}/action`, { add_host: { host: 'node-1' } });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(add.body.aggregate.hosts, ['node-1']);
    assert.equal(
      (await req('POST', `/${id}/action`, { add_host: { host: 'node-1' } })).status,
      409,
    );
    const unknown = await req('POST', `/${id}/action`, { add_host: { host: 'nowhere' } });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.itemNotFound.message, /Compute host nowhere could not be found/);
    const notEmpty = await req('DELETE', `/${id}`);
    assert.equal(notEmpty.status, 400);
    assert.match(notEmpty.body.badRequest.message, /not empty/);
    const removed = await req('POST', `/${id}/action`, { remove_host: { host: 'node-1' } });
    assert.deepEqual(removed.body.aggregate.hosts, []);
    assert.equal(
      (await req('POST', `/${id}/action`, { remove_host: { host: 'node-1' } })).status,
      404,
    );
    assert.equal((await req('POST', `/${id}/action`, { bogus: {} })).status, 400);
    assert.equal((await req('POST', `/${id}/action`, { constructor: {} })).status, 400);
    assert.equal((await req('DELETE', `/${id}`)).status, 200);
  });

  it('bad input is a 400, never a 500', async () => {
    const cases: [string, string, unknown][] = [
      ['POST', '', {}],
      ['POST', '', { aggregate: { name: '' } }],
      ['POST', '', { aggregate: { name: ' padded ' } }],
      ['POST', '', { aggregate: { name: 'x'.repeat(256) } }],
      ['POST', '', { aggregate: { name: 'z', availability_zone: 'internal' } }],
      ['POST', '', { aggregate: { name: 'z', bogus: 1 } }],
      ['GET', '/not-a-number', undefined],
      ['PUT', '/1', { aggregate: {} }],
    ];
    for (const [method, path, body] of cases) {
      const r = await req(method, path, body);
      assert.equal(
        r.status,
        400,
        `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`,
      );
    }
  });

  it('an id too large for any aggregate is not found, as Nova says for Tempest', async () => {
    for (const method of ['GET', 'DELETE'])
      for (const id of ['2147483648123', '-1'])
        assert.equal((await req(method, `/${id}`, undefined)).status, 404);
  });

  it('an availability_zone puts its hosts in that zone; a host is in one zone only', async () => {
    const az = await req('POST', '', {
      aggregate: { name: 'az-agg', availability_zone: 'zone-a' },
    });
    const id = az.body.aggregate.id;
    assert.equal(az.body.aggregate.availability_zone, 'zone-a');
    await req('POST', `/${id}/action`, { add_host: { host: 'node-2' } });
    const zones = await cloud.request('GET', '/v2.1/os-availability-zone');
    const names = zones.body.availabilityZoneInfo.map((z: { zoneName: string }) => z.zoneName);
    assert.ok(names.includes('zone-a'), JSON.stringify(names));

    const s = await cloud.request('POST', '/v2.1/servers', {
      body: {
        server: {
          name: 'zoned',
          imageRef: cloud.image.id,
          flavorRef: '42',
          availability_zone: 'zone-a',
        },
      },
    });
    assert.equal(s.status, 202, JSON.stringify(s.body));
    const server = await cloud.waitForStatus(s.body.server.id, ['ACTIVE', 'ERROR']);
    assert.equal(server['OS-EXT-SRV-ATTR:host'] ?? 'node-2', 'node-2');
    assert.equal(server['OS-EXT-AZ:availability_zone'], 'zone-a');

    const other = await req('POST', '', {
      aggregate: { name: 'az-b', availability_zone: 'zone-b' },
    });
    const clash = await req('POST', `/${other.body.aggregate.id}/action`, {
      add_host: { host: 'node-2' },
    });
    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    const meta = await req('POST', `/${id}/action`, {
      set_metadata: { metadata: { ssd: 'true' } },
    });
    assert.equal(meta.status, 200);
    assert.deepEqual(meta.body.aggregate.metadata, { availability_zone: 'zone-a', ssd: 'true' });
    const unset = await req('POST', `/${id}/action`, { set_metadata: { metadata: { ssd: null } } });
    assert.deepEqual(unset.body.aggregate.metadata, { availability_zone: 'zone-a' });
  });
});
