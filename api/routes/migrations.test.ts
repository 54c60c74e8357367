import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = { token: 'admin:admin' };

describeEachDatabase('os-migrations API', (database) => {
  let api: TestApi;
  const uuids: string[] = [];
  before(async () => {
    api = await startTestApi({ database });
    for (const [n, status] of ['finished', 'confirmed', 'reverted'].entries()) {
      const uuid = randomUUID();
      uuids.push(uuid);
      await api.deps.db('migrations').insert({
        uuid,
        instance_uuid: randomUUID(),
        project_id: n === 2 ? 'other' : 'demo',
        user_id: 'demo',
        source_compute: 'node-1',
        source_node: 'node-1',
        dest_compute: 'node-1',
        dest_node: 'node-1',
        dest_host: '10.0.0.1',
        old_instance_type_id: 1,
        new_instance_type_id: 2,
        old_flavor: '{}',
        new_flavor: '{}',
        migration_type: 'resize',
        status,
        created_at: new Date(Date.UTC(2026, 0, 1 + n)).toISOString(),
        updated_at: new Date(Date.UTC(2026, 0, 1 + n, 1)).toISOString(),
      });
    }
  });
  after(() => api.close());

  it("lists migrations in each microversion's shape, newest first", async () => {
    const old = await api.request('GET', '/v2.1/os-migrations', ADMIN);
    assert.equal(old.status, 200);
    assert.equal(old.body.migrations.length, 3);
    const m = old.body.migrations[2];
    assert.deepEqual(Object.keys(m).sort(), [
      'created_at',
      'dest_compute',
      'dest_host',
      'dest_node',
      'id',
      'instance_uuid',
      'new_instance_type_id',
      'old_instance_type_id',
      'source_compute',
      'source_node',
      'status',
      'updated_at',
    ]);
    assert.equal(m.status, 'finished');
    assert.equal(m.created_at, '2026-01-01T00:00:00.000000');
    const at223 = await api.request('GET', '/v2.1/os-migrations', { ...ADMIN, version: '2.23' });
    assert.equal(at223.body.migrations[0].migration_type, 'resize');
    const at280 = await api.request('GET', '/v2.1/os-migrations', { ...ADMIN, version: '2.80' });
    assert.deepEqual(
      at280.body.migrations.map((x: { uuid: string }) => x.uuid),
      [...uuids].reverse(),
    );
    assert.equal(at280.body.migrations[0].project_id, 'other');
  });

  it('filters, and pages from 2.59 with a next link', async () => {
    const status = await api.request('GET', '/v2.1/os-migrations?status=confirmed', ADMIN);
    assert.deepEqual(
      status.body.migrations.map((x: { status: string }) => x.status),
      ['confirmed'],
    );
    const project = await api.request('GET', '/v2.1/os-migrations?project_id=demo', {
      ...ADMIN,
      version: '2.80',
    });
    assert.equal(project.body.migrations.length, 2);
    const page = await api.request('GET', '/v2.1/os-migrations?limit=2', {
      ...ADMIN,
      version: '2.59',
    });
    assert.equal(page.body.migrations.length, 2);
    const next = new URL(page.body.migrations_links[0].href);
    assert.equal(next.searchParams.get('marker'), uuids[1]);
    const rest = await api.request('GET', next.pathname + next.search, {
      ...ADMIN,
      version: '2.59',
    });
    assert.deepEqual(
      rest.body.migrations.map((x: { uuid: string }) => x.uuid),
      [uuids[0]],
    );
    const since = await api.request(
      'GET',
      '/v2.1/os-migrations?changes-since=2026-01-02T00:30:00Z',
      { ...ADMIN, version: '2.59' },
    );
    assert.equal(since.body.migrations.length, 2);
  });

  it("answers Nova's faults", async () => {
    assert.equal((await api.request('GET', '/v2.1/os-migrations')).status, 403);
    const marker = await api.request('GET', '/v2.1/os-migrations?marker=nope', {
      ...ADMIN,
      version: '2.59',
    });
    assert.equal(marker.status, 400);
    assert.equal(marker.body.badRequest.message, 'Marker nope could not be found.');
    const unknown = '/v2.1/os-migrations?foo=1';
    assert.equal((await api.request('GET', unknown, { ...ADMIN, version: '2.58' })).status, 200);
    assert.equal((await api.request('GET', unknown, { ...ADMIN, version: '2.59' })).status, 400);
    const backwards = await api.request(
      'GET',
      '/v2.1/os-migrations?changes-since=2026-01-03T00:00:00Z&changes-before=2026-01-01T00:00:00Z',
      { ...ADMIN, version: '2.66' },
    );
    assert.equal(backwards.status, 400);
  });
});
