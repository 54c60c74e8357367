import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { novaTime } from '../http';
import { parseNovaTime } from '../usage/tenant-usage';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';
const HOUR = 3600e3;
const flavor = { name: 'm1.small', memory_mb: 2048, vcpus: 2, root_gb: 20, ephemeral_gb: 1 };

/** A period in the past, so that "now" clamps nothing: 2026-01-01 00:00 to 10:00. */
const START = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const query = (from: number, to: number) =>
  `start=${iso(from).slice(0, 19)}&end=${iso(to).slice(0, 19)}`;
const PERIOD = query(START, START + 10 * HOUR);

describeEachDatabase('os-simple-tenant-usage API', (database) => {
  let api: TestApi;
  const ids: Record<string, string> = {};
  async function instance(
    name: string,
    project: string,
    launched: number | null,
    terminated: number | null = null,
  ) {
    ids[name] = randomUUID();
    await api.deps.db('instances').insert({
      uuid: ids[name],
      project_id: project,
      user_id: project,
      display_name: name,
      hostname: name,
      flavorid: '2',
      flavor: JSON.stringify(flavor),
      image_ref: 'i',
      vm_state: terminated === null ? 'active' : 'deleted',
      deleted: terminated !== null,
      reservation_id: 'r',
      launched_at: launched === null ? null : iso(launched),
      terminated_at: terminated === null ? null : iso(terminated),
      created_at: iso(START),
    });
  }

  before(async () => {
    api = await startTestApi({ database });
    // Runs the whole period, and on after it.
    await instance('all', 'demo', START - HOUR);
    // Launched 2h in, deleted 6h in: 4 hours, ended.
    await instance('gone', 'demo', START + 2 * HOUR, START + 6 * HOUR);
    // Deleted before the period: not counted.
    await instance('before', 'demo', START - 3 * HOUR, START - HOUR);
    // Never launched: not counted.
    await instance('never', 'demo', null);
    await instance('theirs', 'other', START + 9 * HOUR);
  });
  after(() => api.close());

  it("shows a project's usage: hours in the period, flavor-sized, deleted servers included", async () => {
    const r = await api.request('GET', `/v2.1/os-simple-tenant-usage/demo?${PERIOD}`);
    assert.equal(r.status, 200);
    const u = r.body.tenant_usage;
    assert.equal(u.tenant_id, 'demo');
    assert.equal(u.start, '2026-01-01T00:00:00.000000');
    assert.equal(u.stop, '2026-01-01T10:00:00.000000');
    assert.equal(u.total_hours, 14);
    assert.equal(u.total_vcpus_usage, 28);
    assert.equal(u.total_memory_mb_usage, 14 * 2048);
    assert.equal(u.total_local_gb_usage, 14 * 21);
    const byName = Object.fromEntries(u.server_usages.map((s: { name: string }) => [s.name, s]));
    assert.deepEqual(Object.keys(byName).sort(), ['all', 'gone']);
    assert.deepEqual(byName.gone, {
      instance_id: ids.gone,
      name: 'gone',
      tenant_id: 'demo',
      flavor: 'm1.small',
      hours: 4,
      memory_mb: 2048,
      local_gb: 21,
      vcpus: 2,
      started_at: '2026-01-01T02:00:00.000000',
      ended_at: '2026-01-01T06:00:00.000000',
      state: 'terminated',
      uptime: 4 * 3600,
    });
    assert.equal(byName.all.state, 'active');
    assert.equal(byName.all.ended_at, null);
    assert.equal(r.body.tenant_usage_links, undefined, 'no links before 2.40');
  });

  it('is empty for a project that used nothing, and refuses another project to a member', async () => {
    const none = await api.request('GET', `/v2.1/os-simple-tenant-usage/nobody?${PERIOD}`, {
      token: 'nobody:nobody',
    });
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { tenant_usage: {} });
    const theirs = await api.request('GET', `/v2.1/os-simple-tenant-usage/demo?${PERIOD}`, {
      token: 'alice:other',
    });
    assert.equal(theirs.status, 403);
    assert.equal(
      theirs.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.",
    );
    // An empty tenant id is no tenant, not the list.
    const empty = await api.request('GET', `/v2.1/os-simple-tenant-usage/?${PERIOD}`, {
      token: 'admin:admin',
    });
    assert.equal(empty.status, 404);
  });

  it('lists every project for an admin; server usages only with detailed=1', async () => {
    const member = await api.request('GET', `/v2.1/os-simple-tenant-usage?${PERIOD}`);
    assert.equal(member.status, 403);
    const r = await api.request('GET', `/v2.1/os-simple-tenant-usage?${PERIOD}`, { token: ADMIN });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.tenant_usages.map((u: { tenant_id: string; total_hours: number }) => [
        u.tenant_id,
        u.total_hours,
      ]),
      [
        ['demo', 14],
        ['other', 1],
      ],
    );
    assert.equal(r.body.tenant_usages[0].server_usages, undefined);
    const detailed = await api.request('GET', `/v2.1/os-simple-tenant-usage?${PERIOD}&detailed=1`, {
      token: ADMIN,
    });
    assert.equal(detailed.body.tenant_usages[1].server_usages[0].name, 'theirs');
  });

  it('pages servers from 2.40 with limit and marker, and links the next page', async () => {
    const path = `/v2.1/os-simple-tenant-usage?${PERIOD}&detailed=1&limit=2`;
    const first = await api.request('GET', path, { token: ADMIN, version: '2.40' });
    assert.equal(first.status, 200);
    const firstIds = first.body.tenant_usages.flatMap(
      (u: { server_usages: { instance_id: string }[] }) =>
        u.server_usages.map((s) => s.instance_id),
    );
    assert.deepEqual(firstIds, [ids.all, ids.gone].sort());
    const [link] = first.body.tenant_usages_links;
    assert.equal(link.rel, 'next');
    const next = new URL(link.href);
    assert.equal(next.pathname, '/v2.1/os-simple-tenant-usage');
    assert.equal(next.searchParams.get('marker'), firstIds[1]);
    assert.equal(next.searchParams.get('limit'), '2');
    const second = await api.request('GET', next.pathname + next.search, {
      token: ADMIN,
      version: '2.40',
    });
    assert.deepEqual(
      second.body.tenant_usages.map((u: { tenant_id: string }) => u.tenant_id),
      ['other'],
    );
    assert.equal(second.body.tenant_usages_links, undefined);
    const show = await api.request('GET', `/v2.1/os-simple-tenant-usage/demo?${PERIOD}&limit=1`, {
      version: '2.40',
    });
    assert.match(show.body.tenant_usage_links[0].href, /\/os-simple-tenant-usage\/demo\?/);
    const bad = await api.request('GET', `/v2.1/os-simple-tenant-usage?${PERIOD}&marker=nope`, {
      token: ADMIN,
      version: '2.40',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'Marker nope could not be found.');
    // Before 2.40 the marker is no parameter: ignored.
    const old = await api.request('GET', `/v2.1/os-simple-tenant-usage?${PERIOD}&marker=nope`, {
      token: ADMIN,
    });
    assert.equal(old.status, 200);
  });

  it('answers Nova 400s for bad times, a period backwards and unknown parameters at 2.75', async () => {
    const zone = await api.request(
      'GET',
      `/v2.1/os-simple-tenant-usage/demo?start=2026-01-01T00:00:00Z`,
    );
    assert.equal(zone.status, 400);
    assert.equal(
      zone.body.badRequest.message,
      'Invalid datetime string: Datetime is in invalid format',
    );
    const backwards = await api.request(
      'GET',
      `/v2.1/os-simple-tenant-usage/demo?${query(START + HOUR, START)}`,
    );
    assert.equal(backwards.status, 400);
    assert.equal(
      backwards.body.badRequest.message,
      'Invalid start time. The start time cannot occur after the end time.',
    );
    // Both bounds default to now, read one after the other: a tiny period, not a 400.
    for (let n = 0; n < 20; n++)
      assert.equal((await api.request('GET', '/v2.1/os-simple-tenant-usage/demo')).status, 200);
    const unknown = `/v2.1/os-simple-tenant-usage/demo?${PERIOD}&foo=1`;
    assert.equal((await api.request('GET', unknown, { version: '2.74' })).status, 200);
    assert.equal((await api.request('GET', unknown, { version: '2.75' })).status, 400);
    const limit = `/v2.1/os-simple-tenant-usage/demo?${PERIOD}&limit=-1`;
    assert.equal((await api.request('GET', limit, { version: '2.40' })).status, 400);
  });

  it('parses the three formats Nova accepts and echoes microseconds', () => {
    const t = Date.UTC(2026, 1, 3, 4, 5, 6) * 1000;
    assert.equal(parseNovaTime('2026-02-03T04:05:06'), t);
    assert.equal(parseNovaTime('2026-2-3T4:5:6.5'), t + 500000);
    assert.equal(parseNovaTime('2026-02-03 04:05:06.000123'), t + 123);
    assert.equal(novaTime(t + 123), '2026-02-03T04:05:06.000123');
    for (const bad of ['2026-02-03 04:05:06', '2026-02-30T00:00:00', '2026-02-03T24:00:00', 'x'])
      assert.throws(() => parseNovaTime(bad), /Datetime is in invalid format/, bad);
  });
});
