import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Database } from '../db/connection';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';
const UPTIME = ' 10:20:30 up 3 days,  2:01,  1 user,  load average: 0.10, 0.20, 0.30';

/** What the conductor writes from a compute's heartbeat and resource report. */
async function addCompute(
  db: Database,
  host: string,
  o: { lastSeen?: string | null; disabled?: boolean; vcpus?: number } = {},
) {
  const t = new Date().toISOString();
  await db('services').insert({
    uuid: randomUUID(),
    host,
    binary: 'nova-compute',
    topic: 'compute',
    availability_zone: 'nova',
    disabled: o.disabled ?? false,
    last_seen_up: o.lastSeen === undefined ? t : o.lastSeen,
    created_at: t,
    updated_at: t,
  });
  await db('compute_nodes').insert({
    uuid: randomUUID(),
    host,
    hypervisor_hostname: `${host}.example`,
    hypervisor_type: 'berth',
    hypervisor_version: 1000,
    host_ip: '192.0.2.10',
    vcpus: o.vcpus ?? 8,
    memory_mb: 16384,
    local_gb: 100,
    vcpus_used: 2,
    memory_mb_used: 1024,
    local_gb_used: 10,
    running_vms: 1,
    created_at: t,
  });
}

async function addInstance(db: Database, host: string, name: string, taskState: string | null) {
  const t = new Date().toISOString();
  const uuid = randomUUID();
  await db('instances').insert({
    uuid,
    project_id: 'demo',
    user_id: 'demo',
    display_name: name,
    hostname: name,
    host,
    node: host,
    flavorid: '1',
    flavor: JSON.stringify({ vcpus: 1, memory_mb: 512 }),
    image_ref: 'img',
    vm_state: 'active',
    task_state: taskState,
    reservation_id: 'r-1',
    created_at: t,
  });
  return uuid;
}

describeEachDatabase('os-hypervisors API', (database) => {
  let api: TestApi;
  let vmUuid: string;
  before(async () => {
    api = await startTestApi({ database });
    await addCompute(api.deps.db, 'node-1');
    await addCompute(api.deps.db, 'node-2', { lastSeen: null, disabled: true, vcpus: 4 });
    // A node whose service was deleted is not listed.
    await api.deps.db('compute_nodes').insert({
      uuid: randomUUID(),
      host: 'orphan',
      hypervisor_hostname: 'orphan',
      hypervisor_type: 'berth',
      vcpus: 1,
      memory_mb: 1,
      local_gb: 1,
      created_at: new Date().toISOString(),
    });
    vmUuid = await addInstance(api.deps.db, 'node-1', 'vm-a', 'rebooting');
    // node-1's compute answers; node-2's is down, so it is not asked.
    await api.transport.serve({ topic: 'compute', server: 'node-1' }, [
      { version: '6.0', methods: { get_host_uptime: async () => UPTIME } },
    ]);
  });
  after(() => api.close());

  it('is admin only', async () => {
    for (const path of ['', '/detail', '/statistics', '/1'].map(
      (p) => `/v2.1/os-hypervisors${p}`,
    )) {
      const r = await api.request('GET', path);
      assert.equal(r.status, 403, path);
      assert.match(r.body.forbidden.message, /^Policy doesn't allow os_compute_api:os-hypervisors/);
    }
  });

  it('lists integer ids with state and status at 2.1', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors', { token: ADMIN });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.hypervisors, [
      { id: 1, hypervisor_hostname: 'node-1.example', state: 'up', status: 'enabled' },
      { id: 2, hypervisor_hostname: 'node-2.example', state: 'down', status: 'disabled' },
    ]);
  });

  it('details the usage figures before 2.88 (what `openstack hypervisor list` reads)', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
    const h = r.body.hypervisors[0];
    assert.deepEqual(h.service, { id: 1, host: 'node-1', disabled_reason: null });
    assert.equal(h.hypervisor_type, 'berth');
    assert.equal(h.host_ip, '192.0.2.10');
    assert.equal(h.free_ram_mb, 15360);
    assert.equal(h.free_disk_gb, 90);
    assert.equal(h.current_workload, 1);
    assert.equal(h.running_vms, 1);
    assert.equal(h.cpu_info, '{}');
    const at228 = await api.request('GET', '/v2.1/os-hypervisors/1', {
      token: ADMIN,
      version: '2.28',
    });
    assert.deepEqual(at228.body.hypervisor.cpu_info, {});
  });

  it('uses uuids from 2.53, filters by pattern and includes servers on request', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors/detail', {
      token: ADMIN,
      version: '2.53',
    });
    const [h1] = r.body.hypervisors;
    assert.match(h1.id, /^[0-9a-f-]{36}$/);
    assert.match(h1.service.id, /^[0-9a-f-]{36}$/);
    const found = await api.request(
      'GET',
      '/v2.1/os-hypervisors?hypervisor_hostname_pattern=node-1&with_servers=true',
      { token: ADMIN, version: '2.53' },
    );
    assert.deepEqual(found.body.hypervisors, [
      {
        id: h1.id,
        hypervisor_hostname: 'node-1.example',
        state: 'up',
        status: 'enabled',
        servers: [{ name: 'vm-a', uuid: vmUuid }],
      },
    ]);
    const none = await api.request('GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=zz', {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(none.status, 404);
    const empty = await api.request(
      'GET',
      '/v2.1/os-hypervisors?hypervisor_hostname_pattern=node-2&with_servers=1',
      {
        token: ADMIN,
        version: '2.75',
      },
    );
    assert.deepEqual(empty.body.hypervisors[0].servers, []);
    const shown = await api.request('GET', `/v2.1/os-hypervisors/${h1.id}`, {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(shown.body.hypervisor.hypervisor_hostname, 'node-1.example');
    for (const bad of ['?foo=1', '?with_servers=maybe', '?hypervisor_hostname_pattern=a&limit=1'])
      assert.equal(
        (await api.request('GET', `/v2.1/os-hypervisors${bad}`, { token: ADMIN, version: '2.53' }))
          .status,
        400,
        bad,
      );
  });

  it('checks ids as Nova: 400 for a non-uuid from 2.53, 404 for a non-integer before', async () => {
    const v253 = await api.request('GET', '/v2.1/os-hypervisors/1', {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(v253.status, 400);
    assert.equal(v253.body.badRequest.message, 'Invalid uuid 1');
    const v21 = await api.request('GET', '/v2.1/os-hypervisors/abc', { token: ADMIN });
    assert.equal(v21.status, 404);
    assert.equal(v21.body.itemNotFound.message, "Hypervisor with ID 'abc' could not be found.");
    const missing = await api.request('GET', `/v2.1/os-hypervisors/${randomUUID()}`, {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(missing.status, 404);
    assert.equal(
      (await api.request('GET', '/v2.1/os-hypervisors/3', { token: ADMIN })).status,
      404,
    );
  });

  it('pages from 2.33 with hypervisors_links', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors?limit=1', {
      token: ADMIN,
      version: '2.33',
    });
    assert.equal(r.body.hypervisors.length, 1);
    const next = new URL(r.body.hypervisors_links[0].href);
    assert.equal(next.searchParams.get('marker'), '1');
    const rest = await api.request('GET', `${next.pathname}${next.search}`, {
      token: ADMIN,
      version: '2.33',
    });
    assert.deepEqual(
      rest.body.hypervisors.map((h: { id: number }) => h.id),
      [2],
    );
    const badMarker = await api.request('GET', '/v2.1/os-hypervisors?marker=99', {
      token: ADMIN,
      version: '2.33',
    });
    assert.equal(badMarker.status, 400);
  });

  it('drops usage figures, statistics and the uptime route at 2.88, and details uptime', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors/detail', {
      token: ADMIN,
      version: '2.88',
    });
    const [h, down] = r.body.hypervisors;
    assert.equal(h.vcpus, undefined);
    assert.equal(h.cpu_info, undefined);
    assert.equal(h.uptime, UPTIME);
    assert.equal(down.uptime, null);
    const shown = await api.request('GET', `/v2.1/os-hypervisors/${h.id}`, {
      token: ADMIN,
      version: '2.88',
    });
    assert.equal(shown.body.hypervisor.uptime, UPTIME);
    const stats = await api.request('GET', '/v2.1/os-hypervisors/statistics', {
      token: ADMIN,
      version: '2.88',
    });
    assert.equal(stats.status, 404);
    const uptime = await api.request('GET', `/v2.1/os-hypervisors/${h.id}/uptime`, {
      token: ADMIN,
      version: '2.88',
    });
    assert.equal(uptime.status, 404);
  });

  it('sums enabled nodes in statistics before 2.88', async () => {
    const r = await api.request('GET', '/v2.1/os-hypervisors/statistics', { token: ADMIN });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.hypervisor_statistics, {
      count: 1,
      vcpus: 8,
      memory_mb: 16384,
      local_gb: 100,
      vcpus_used: 2,
      memory_mb_used: 1024,
      local_gb_used: 10,
      free_ram_mb: 15360,
      free_disk_gb: 90,
      current_workload: 1,
      running_vms: 1,
      disk_available_least: 90,
    });
  });

  it("answers uptime from the host's compute, 400 for a host that is down, and keeps the old search routes", async () => {
    const up = await api.request('GET', '/v2.1/os-hypervisors/1/uptime', { token: ADMIN });
    assert.equal(up.status, 200);
    assert.deepEqual(up.body.hypervisor, {
      id: 1,
      hypervisor_hostname: 'node-1.example',
      state: 'up',
      status: 'enabled',
      uptime: UPTIME,
    });
    const down = await api.request('GET', '/v2.1/os-hypervisors/2/uptime', { token: ADMIN });
    assert.equal(down.status, 400);
    assert.equal(
      down.body.badRequest.message,
      'Compute service of node-2 is unavailable at this time.',
    );
    const search = await api.request('GET', '/v2.1/os-hypervisors/node/search', { token: ADMIN });
    assert.equal(search.body.hypervisors.length, 2);
    const servers = await api.request('GET', '/v2.1/os-hypervisors/node-1/servers', {
      token: ADMIN,
    });
    assert.deepEqual(servers.body.hypervisors[0].servers, [{ name: 'vm-a', uuid: vmUuid }]);
    const gone = await api.request('GET', '/v2.1/os-hypervisors/node/search', {
      token: ADMIN,
      version: '2.53',
    });
    assert.equal(gone.status, 404);
  });
});
