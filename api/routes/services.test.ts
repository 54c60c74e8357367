import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, beforeEach, it } from 'node:test';
import type { Database } from '../db/connection';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';

async function addService(
  db: Database,
  host: string,
  binary = 'nova-compute',
  o: { lastSeen?: string | null; zone?: string } = {},
): Promise<string> {
  const t = '2024-05-01T10:20:30.456Z';
  const uuid = randomUUID();
  await db('services').insert({
    uuid,
    host,
    binary,
    topic: binary === 'nova-compute' ? 'compute' : 'conductor',
    availability_zone: o.zone ?? 'nova',
    last_seen_up: o.lastSeen === undefined ? new Date().toISOString() : o.lastSeen,
    created_at: t,
    updated_at: t,
  });
  if (binary === 'nova-compute')
    await db('compute_nodes').insert({
      uuid: randomUUID(),
      host,
      hypervisor_hostname: host,
      hypervisor_type: 'berth',
      vcpus: 4,
      memory_mb: 4096,
      local_gb: 40,
      created_at: t,
    });
  return uuid;
}

describeEachDatabase('os-services API', (database) => {
  let api: TestApi;
  let computeUuid: string;
  beforeEach(async () => {
    await api?.close();
    api = await startTestApi({ database });
    computeUuid = await addService(api.deps.db, 'node-1');
    await addService(api.deps.db, 'ctl', 'nova-conductor');
    await addService(api.deps.db, 'ctl', 'nova-osapi_compute');
    await addService(api.deps.db, 'node-2', 'nova-compute', { lastSeen: null, zone: 'az2' });
  });
  after(() => api.close());

  it('lists services as `openstack compute service list` expects at 2.1', async () => {
    const r = await api.request('GET', '/v2.1/os-services', { token: ADMIN });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.services, [
      {
        id: 1,
        binary: 'nova-compute',
        host: 'node-1',
        zone: 'nova',
        status: 'enabled',
        state: 'up',
        updated_at: '2024-05-01T10:20:30.456000',
        disabled_reason: null,
      },
      {
        id: 2,
        binary: 'nova-conductor',
        host: 'ctl',
        zone: 'internal',
        status: 'enabled',
        state: 'up',
        updated_at: '2024-05-01T10:20:30.456000',
        disabled_reason: null,
      },
      {
        id: 4,
        binary: 'nova-compute',
        host: 'node-2',
        zone: 'az2',
        status: 'enabled',
        state: 'down',
        updated_at: '2024-05-01T10:20:30.456000',
        disabled_reason: null,
      },
    ]);
  });

  it('filters by host and binary, adds forced_down at 2.11 and uuids at 2.53', async () => {
    const r = await api.request('GET', '/v2.1/os-services?binary=nova-compute&host=node-1', {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(r.body.services.length, 1);
    assert.equal(r.body.services[0].id, computeUuid);
    assert.equal(r.body.services[0].forced_down, false);
    const strict = await api.request('GET', '/v2.1/os-services?zone=x', {
      token: ADMIN,
      version: '2.75',
    });
    assert.equal(strict.status, 400);
  });

  it('is admin only', async () => {
    assert.equal((await api.request('GET', '/v2.1/os-services')).status, 403);
    const put = await api.request('PUT', `/v2.1/os-services/${computeUuid}`, {
      version: '2.53',
      body: { status: 'disabled' },
    });
    assert.equal(put.status, 403);
    assert.equal((await api.request('DELETE', '/v2.1/os-services/1')).status, 403);
  });

  it('disables and enables by host and binary before 2.53', async () => {
    const body = { host: 'node-1', binary: 'nova-compute', disabled_reason: 'maintenance' };
    const r = await api.request('PUT', '/v2.1/os-services/disable-log-reason', {
      token: ADMIN,
      body,
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { service: { ...body, status: 'disabled' } });
    const row = await api.deps.db('services').where({ host: 'node-1' }).first();
    assert.equal(Boolean(row.disabled), true);
    assert.equal(row.disabled_reason, 'maintenance');
    const enable = await api.request('PUT', '/v2.1/os-services/enable', {
      token: ADMIN,
      body: { host: 'node-1', binary: 'nova-compute' },
    });
    assert.deepEqual(enable.body, {
      service: { host: 'node-1', binary: 'nova-compute', status: 'enabled' },
    });
    const forced = await api.request('PUT', '/v2.1/os-services/force-down', {
      token: ADMIN,
      version: '2.11',
      body: { host: 'node-1', binary: 'nova-compute', forced_down: true },
    });
    assert.deepEqual(forced.body.service.forced_down, true);
    const list = await api.request('GET', '/v2.1/os-services?host=node-1', {
      token: ADMIN,
      version: '2.11',
    });
    assert.equal(list.body.services[0].state, 'down');
    const cases: [string, unknown, number][] = [
      ['force-down', { host: 'node-1', binary: 'nova-compute', forced_down: true }, 404],
      ['reboot', { host: 'node-1', binary: 'nova-compute' }, 404],
      ['disable', { host: 'nope', binary: 'nova-compute' }, 404],
      ['disable', { host: 'ctl', binary: 'nova-conductor' }, 400],
      ['disable', { host: 'node-1' }, 400],
      ['disable', { host: 'node-1', binary: 'nova-compute', extra: 1 }, 400],
      ['disable-log-reason', { host: 'node-1', binary: 'nova-compute' }, 400],
    ];
    for (const [action, b, status] of cases)
      assert.equal(
        (await api.request('PUT', `/v2.1/os-services/${action}`, { token: ADMIN, body: b })).status,
        status,
        `${action} ${JSON.stringify(b)}`,
      );
  });

  it('updates by uuid from 2.53', async () => {
    const path = `/v2.1/os-services/${computeUuid}`;
    const r = await api.request('PUT', path, {
      token: ADMIN,
      version: '2.53',
      body: { status: 'disabled', disabled_reason: 'rack move' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.service.id, computeUuid);
    assert.equal(r.body.service.status, 'disabled');
    assert.equal(r.body.service.disabled_reason, 'rack move');
    assert.equal(r.body.service.forced_down, false);
    const cases: [string, unknown, number, string?][] = [
      [
        path,
        { status: 'enabled', disabled_reason: 'x' },
        400,
        "Specifying 'disabled_reason' with status 'enabled' is invalid.",
      ],
      [path, { disabled_reason: 'x' }, 400],
      [path, { status: 'paused' }, 400],
      [path, { forced_down: 'maybe' }, 400],
      ['/v2.1/os-services/1', { status: 'enabled' }, 400, 'Invalid uuid 1'],
      [`/v2.1/os-services/${randomUUID()}`, { status: 'enabled' }, 404],
    ];
    for (const [p, body, status, message] of cases) {
      const res = await api.request('PUT', p, { token: ADMIN, version: '2.53', body });
      assert.equal(res.status, status, JSON.stringify(body));
      if (message) assert.equal(res.body.badRequest.message, message);
    }
    const enabled = await api.request('PUT', path, {
      token: ADMIN,
      version: '2.53',
      body: { status: 'enabled' },
    });
    assert.equal(enabled.body.service.disabled_reason, null);
  });

  it('refuses to delete a compute service that hosts instances, else deletes it with its node', async () => {
    await api.deps.db('instances').insert({
      uuid: randomUUID(),
      project_id: 'demo',
      user_id: 'demo',
      display_name: 'vm',
      hostname: 'vm',
      host: 'node-1',
      flavorid: '1',
      flavor: '{}',
      image_ref: 'i',
      vm_state: 'active',
      reservation_id: 'r',
      created_at: new Date().toISOString(),
    });
    const busy = await api.request('DELETE', `/v2.1/os-services/${computeUuid}`, {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(busy.status, 409);
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-services/x', { token: ADMIN })).status,
      400,
    );
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-services/99', { token: ADMIN })).status,
      404,
    );
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-services/4', { token: ADMIN })).status,
      204,
    );
    assert.equal(await api.deps.db('compute_nodes').where({ host: 'node-2' }).first(), undefined);
  });
});
