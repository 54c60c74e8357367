import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Database } from '../db/connection';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

async function addService(
  db: Database,
  host: string,
  binary: string,
  zone: string,
  disabled = false,
) {
  const t = '2024-05-01T10:20:30.000Z';
  await db('services').insert({
    uuid: randomUUID(),
    host,
    binary,
    topic: 'x',
    availability_zone: zone,
    disabled,
    last_seen_up: new Date().toISOString(),
    created_at: t,
    updated_at: t,
  });
}

describeEachDatabase('os-availability-zone API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('lists the default zone before any compute has reported', async () => {
    const r = await api.request('GET', '/v2.1/os-availability-zone');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
    });
  });

  it('lists compute zones, unavailable when only disabled services are there, without the internal zone', async () => {
    await addService(api.deps.db, 'node-1', 'nova-compute', 'nova');
    await addService(api.deps.db, 'node-2', 'nova-compute', 'az2');
    await addService(api.deps.db, 'node-3', 'nova-compute', 'az3', true);
    await addService(api.deps.db, 'ctl', 'nova-conductor', 'nova');
    const r = await api.request('GET', '/v2.1/os-availability-zone');
    assert.deepEqual(r.body.availabilityZoneInfo, [
      { zoneName: 'az2', zoneState: { available: true }, hosts: null },
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
      { zoneName: 'az3', zoneState: { available: false }, hosts: null },
    ]);
  });

  it('details hosts and services for admins only', async () => {
    assert.equal((await api.request('GET', '/v2.1/os-availability-zone/detail')).status, 403);
    const r = await api.request('GET', '/v2.1/os-availability-zone/detail', { token: 'admin' });
    assert.equal(r.status, 200);
    const byName = Object.fromEntries(
      r.body.availabilityZoneInfo.map((z: { zoneName: string }) => [z.zoneName, z]),
    );
    assert.deepEqual(byName.nova.hosts, {
      'node-1': {
        'nova-compute': { available: true, active: true, updated_at: '2024-05-01T10:20:30.000000' },
      },
    });
    assert.deepEqual(Object.keys(byName.internal.hosts), ['ctl']);
    assert.equal(byName.az3.hosts, null);
    assert.equal(byName.az3.zoneState.available, false);
  });
});
