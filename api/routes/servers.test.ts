import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { waitFor } from '../../testing/wait-for';

const create = (
  cloud: TestCloud,
  name: string,
  extra: Record<string, unknown> = {},
  token?: string,
) =>
  cloud.request('POST', '/v2.1/servers', {
    token,
    body: { server: { name, imageRef: cloud.image.id, flavorRef: '1', ...extra } },
  });

describeEachDatabase('servers on a cloud of FakeDriver computes', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1', 'node-2'], database });
  });
  after(() => cloud.close());

  test('a server goes through its whole lifecycle', async () => {
    const r = await create(cloud, 'life');
    assert.equal(r.status, 202);
    const id = r.body.server.id as string;
    assert.match(r.headers.get('location') ?? '', new RegExp(`/v2.1/servers/${id}$`));
    const active = await cloud.waitForStatus(id, ['ACTIVE', 'ERROR']);
    assert.equal(active.status, 'ACTIVE');
    assert.equal(active['OS-EXT-STS:vm_state'], 'active');
    assert.equal(active['OS-EXT-STS:power_state'], 1);
    assert.ok(active.hostId);
    assert.equal(active['OS-EXT-SRV-ATTR:host'], undefined, 'extended attributes are for admins');

    const steps: [Record<string, unknown>, string][] = [
      [{ 'os-stop': null }, 'SHUTOFF'],
      [{ 'os-start': null }, 'ACTIVE'],
      [{ pause: null }, 'PAUSED'],
      [{ unpause: null }, 'ACTIVE'],
      [{ suspend: null }, 'SUSPENDED'],
      [{ resume: null }, 'ACTIVE'],
      [{ reboot: { type: 'HARD' } }, 'ACTIVE'],
      [{ reboot: { type: 'SOFT' } }, 'ACTIVE'],
    ];
    for (const [body, status] of steps) {
      const a = await cloud.request('POST', `/v2.1/servers/${id}/action`, { body });
      assert.equal(a.status, 202, JSON.stringify(body));
      await waitFor(`${JSON.stringify(body)} settled in ${status}`, async () => {
        const s = await cloud.request('GET', `/v2.1/servers/${id}`);
        return s.body.server.status === status && s.body.server['OS-EXT-STS:task_state'] === null;
      });
    }
    const unpause = await cloud.request('POST', `/v2.1/servers/${id}/action`, {
      body: { unpause: null },
    });
    assert.equal(unpause.status, 409);
    assert.match(unpause.body.conflictingRequest.message, /vm_state active/);

    const console = await cloud.request('POST', `/v2.1/servers/${id}/action`, {
      body: { 'os-getConsoleOutput': { length: 5 } },
    });
    assert.equal(console.status, 200);
    assert.equal(typeof console.body.output, 'string');

    const actions = await cloud.request('GET', `/v2.1/servers/${id}/os-instance-actions`);
    assert.deepEqual(
      actions.body.instanceActions.map((a: { action: string }) => a.action).reverse(),
      ['create', 'stop', 'start', 'pause', 'unpause', 'suspend', 'resume', 'reboot', 'reboot'],
    );
    const first = await cloud.request(
      'GET',
      `/v2.1/servers/${id}/os-instance-actions/${actions.body.instanceActions.at(-1).request_id}`,
    );
    assert.equal(first.body.instanceAction.events[0].result, 'Success');

    const del = await cloud.request('DELETE', `/v2.1/servers/${id}`);
    assert.equal(del.status, 204);
    await cloud.waitForStatus(id, ['DELETED']);
    const gone = await cloud.request('GET', `/v2.1/servers/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.code, 404);
    const allocations = await cloud.api.deps.db('allocations').where({ instance_uuid: id });
    assert.deepEqual(allocations, []);
    // From 2.21 a deleted server's actions are still listed, its delete last.
    const after = (version: string) =>
      cloud.request('GET', `/v2.1/servers/${id}/os-instance-actions`, { version });
    assert.equal((await after('2.20')).status, 404);
    const kept = await after('2.21');
    assert.equal(kept.status, 200);
    assert.equal(kept.body.instanceActions[0].action, 'delete');
  });

  test("one project never sees another project's servers; admins may", async () => {
    const r = await create(cloud, 'mine', {}, 'alice:proj-a');
    const id = r.body.server.id as string;
    await cloud.waitForStatus(id, ['ACTIVE'], 'alice:proj-a');
    const other = await cloud.request('GET', `/v2.1/servers/${id}`, { token: 'bob:proj-b' });
    assert.equal(other.status, 404);
    for (const [method, path, body] of [
      ['DELETE', `/v2.1/servers/${id}`, undefined],
      ['PUT', `/v2.1/servers/${id}`, { server: { name: 'x' } }],
      ['POST', `/v2.1/servers/${id}/action`, { 'os-stop': null }],
      ['GET', `/v2.1/servers/${id}/metadata`, undefined],
      ['GET', `/v2.1/servers/${id}/os-instance-actions`, undefined],
    ] as const) {
      const res = await cloud.request(method, path, { token: 'bob:proj-b', body });
      assert.equal(res.status, 404, `${method} ${path}`);
    }
    const list = await cloud.request('GET', '/v2.1/servers/detail', { token: 'bob:proj-b' });
    assert.ok(!list.body.servers.some((s: { id: string }) => s.id === id));
    const denied = await cloud.request('GET', '/v2.1/servers/detail?all_tenants=1', {
      token: 'bob:proj-b',
    });
    assert.equal(denied.status, 403);
    const admin = await cloud.request('GET', '/v2.1/servers/detail?all_tenants=1', {
      token: 'admin:admin',
    });
    const seen = admin.body.servers.find((s: { id: string }) => s.id === id);
    assert.ok(seen);
    assert.ok(seen['OS-EXT-SRV-ATTR:host']);
    const diag = await cloud.request('GET', `/v2.1/servers/${id}/diagnostics`, {
      token: 'alice:proj-a',
    });
    assert.equal(diag.status, 403);
    const adminDiag = await cloud.request('GET', `/v2.1/servers/${id}/diagnostics`, {
      token: 'admin:admin',
      version: '2.48',
    });
    assert.equal(adminDiag.status, 200);
    assert.equal(adminDiag.body.num_cpus, 1);
    // Nova's 2.48 schema: these keys and no others (Tempest's response check is strict).
    assert.deepEqual(Object.keys(adminDiag.body).sort(), [
      'config_drive',
      'cpu_details',
      'disk_details',
      'driver',
      'hypervisor',
      'hypervisor_os',
      'memory_details',
      'nic_details',
      'num_cpus',
      'num_disks',
      'num_nics',
      'state',
      'uptime',
    ]);
  });

  test('bad bodies get a 400 that names the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ server: { name: 'x', flavorRef: '1' } }, /imageRef/],
      [{ server: { name: '', imageRef: cloud.image.id, flavorRef: '1' } }, /name/],
      [
        { server: { name: 'x', imageRef: cloud.image.id, flavorRef: '1', min_count: 0 } },
        /min_count/,
      ],
      [{ server: { name: 'x', imageRef: cloud.image.id, flavorRef: '1', bogus: 1 } }, /bogus/],
      [{ server: { name: 'x', imageRef: cloud.image.id, flavorRef: 'nope' } }, /Flavor nope/],
      [{ server: { name: 'x', imageRef: 'nope', flavorRef: '1' } }, /Image nope/],
      ['[1,2', /Malformed/],
      [{}, /server/],
    ];
    for (const [body, message] of cases) {
      const r = await cloud.request('POST', '/v2.1/servers', { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.badRequest.message, message);
    }
    const noNetworks = await cloud.request('POST', '/v2.1/servers', {
      version: '2.37',
      body: { server: { name: 'x', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    assert.equal(noNetworks.status, 400);
    assert.match(noNetworks.body.badRequest.message, /networks/);
  });

  test('list filters, sorting and pagination', async () => {
    const token = 'carol:proj-c';
    const ids: string[] = [];
    for (const name of ['web-1', 'web-2', 'db-1']) {
      const r = await create(cloud, name, {}, token);
      ids.push(r.body.server.id);
    }
    for (const id of ids) await cloud.waitForStatus(id, ['ACTIVE'], token);
    const web = await cloud.request('GET', '/v2.1/servers?name=^web', { token });
    assert.deepEqual(web.body.servers.map((s: { name: string }) => s.name).sort(), [
      'web-1',
      'web-2',
    ]);
    const sorted = await cloud.request(
      'GET',
      '/v2.1/servers/detail?sort_key=display_name&sort_dir=asc',
      { token },
    );
    assert.deepEqual(
      sorted.body.servers.map((s: { name: string }) => s.name),
      ['db-1', 'web-1', 'web-2'],
    );
    const page = await cloud.request(
      'GET',
      '/v2.1/servers?limit=2&sort_key=display_name&sort_dir=asc',
      { token },
    );
    assert.equal(page.body.servers.length, 2);
    const next = new URL(page.body.servers_links[0].href);
    const rest = await cloud.request('GET', next.pathname + next.search, { token });
    assert.deepEqual(
      rest.body.servers.map((s: { name: string }) => s.name),
      ['web-2'],
    );
    const shutoff = await cloud.request('GET', '/v2.1/servers?status=SHUTOFF', { token });
    assert.deepEqual(shutoff.body.servers, []);
    const badSort = await cloud.request('GET', '/v2.1/servers?sort_key=nope', { token });
    assert.equal(badSort.status, 400);
    const badRegex = await cloud.request('GET', '/v2.1/servers?name=(', { token });
    assert.equal(badRegex.status, 400);
    for (const evil of ['(a+)+$', '(a|a)*b', '(.*a){20}', '(x*)*y'])
      assert.equal(
        (await cloud.request('GET', `/v2.1/servers?name=${encodeURIComponent(evil)}`, { token }))
          .status,
        400,
        evil,
      );
    const grouped = await cloud.request(
      'GET',
      `/v2.1/servers?name=${encodeURIComponent('^(web)-1$')}`,
      {
        token,
      },
    );
    assert.deepEqual(
      grouped.body.servers.map((s: { name: string }) => s.name),
      ['web-1'],
    );
  });

  test('quota: a project cannot start more instances than its limit', async () => {
    const token = 'dave:proj-d';
    const set = await cloud.request('PUT', '/v2.1/os-quota-sets/proj-d', {
      token: 'admin:admin',
      body: { quota_set: { instances: 1 } },
    });
    assert.equal(set.status, 200);
    const one = await create(cloud, 'q1', {}, token);
    assert.equal(one.status, 202);
    const two = await create(cloud, 'q2', {}, token);
    assert.equal(two.status, 403);
    assert.match(two.body.forbidden.message, /Quota exceeded for instances/);
    // Its build must not outlive the cloud, which closes after this test.
    await cloud.waitForStatus(one.body.server.id, ['ACTIVE'], token);
  });
});

describeEachDatabase('servers when a host fails them', (database) => {
  test('a build that fails on one host is rescheduled to another', async () => {
    const cloud = await startTestCloud({ hosts: ['node-1', 'node-2'], database });
    try {
      // Equal hosts tie, and ties go by name: node-1 is tried first.
      cloud.computes.get('node-1')!.driver.failNext('spawn', new Error('disk on fire'));
      const r = await create(cloud, 'unlucky');
      const s = await cloud.waitForStatus(r.body.server.id, ['ACTIVE', 'ERROR']);
      assert.equal(s.status, 'ACTIVE');
      const inst = await cloud.api.deps.db('instances').where({ uuid: r.body.server.id }).first();
      assert.equal(inst.host, 'node-2');
      assert.equal(inst.attempts, 2);
    } finally {
      await cloud.close();
    }
  });

  test('the server goes to ERROR with "No valid host was found"', async () => {
    const cloud = await startTestCloud({ hosts: [], database });
    try {
      const r = await create(cloud, 'homeless');
      const s = await cloud.waitForStatus(r.body.server.id, ['ERROR', 'ACTIVE']);
      assert.equal(s.status, 'ERROR');
      assert.match((s.fault as { message: string }).message, /No valid host was found/);
      const del = await cloud.request('DELETE', `/v2.1/servers/${r.body.server.id}`);
      assert.equal(del.status, 204);
      assert.equal((await cloud.request('GET', `/v2.1/servers/${r.body.server.id}`)).status, 404);
    } finally {
      await cloud.close();
    }
  });

  test('repeated failures end in ERROR after max_attempts', async () => {
    const cloud = await startTestCloud({
      hosts: ['node-1'],
      database,
      config: { scheduler: { max_attempts: 2 } },
    });
    try {
      cloud.computes.get('node-1')!.driver.failNext('spawn', new Error('boom'));
      const r = await create(cloud, 'doomed');
      const s = await cloud.waitForStatus(r.body.server.id, ['ERROR', 'ACTIVE']);
      assert.equal(s.status, 'ERROR');
      assert.match((s.fault as { message: string }).message, /No valid host was found.*boom/);
    } finally {
      await cloud.close();
    }
  });
});
