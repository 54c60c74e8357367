import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, beforeEach, describe, it } from 'node:test';
import { reportService } from '../db/services';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';
import { lastCompletedMonth, parseAuditTime } from './instance-usage-audit-log';

const ADMIN = 'admin:admin';
const V242 = { token: ADMIN, version: '2.42' };
const flavor = { name: 'm1.small', memory_mb: 2048, vcpus: 2, root_gb: 20, ephemeral_gb: 1 };

describeEachDatabase('os-hosts and os-instance_usage_audit_log API', (database) => {
  let api: TestApi;
  beforeEach(async () => {
    await api?.close();
    api = await startTestApi({ database });
    const db = api.deps.db;
    await reportService(db, {
      host: 'ctl',
      binary: 'nova-conductor',
      topic: 'conductor',
      availability_zone: 'internal',
    });
    for (const host of ['node-1', 'node-2'])
      await reportService(db, {
        host,
        binary: 'nova-compute',
        topic: 'compute',
        availability_zone: 'nova',
      });
    await db('compute_nodes').insert({
      uuid: randomUUID(),
      host: 'node-1',
      hypervisor_hostname: 'node-1',
      hypervisor_type: 'berth',
      vcpus: 4,
      memory_mb: 4096,
      local_gb: 40,
      vcpus_used: 4,
      memory_mb_used: 4096,
      local_gb_used: 42,
      created_at: new Date().toISOString(),
    });
    for (const project of ['demo', 'demo', 'other'])
      await db('instances').insert({
        uuid: randomUUID(),
        project_id: project,
        user_id: project,
        display_name: 'vm',
        hostname: 'vm',
        host: 'node-1',
        flavorid: '2',
        flavor: JSON.stringify(flavor),
        image_ref: 'i',
        vm_state: 'active',
        reservation_id: 'r',
        created_at: new Date().toISOString(),
      });
  });
  after(() => api.close());

  const hosts = async (query = '') => {
    const r = await api.request('GET', `/v2.1/os-hosts${query}`, V242);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.hosts as { host_name: string; service: string; zone: string }[];
  };

  it('lists the hosts of every enabled service with its topic and zone, by zone if asked', async () => {
    const conductor = { host_name: 'ctl', service: 'conductor', zone: 'internal' };
    const node1 = { host_name: 'node-1', service: 'compute', zone: 'nova' };
    const node2 = { host_name: 'node-2', service: 'compute', zone: 'nova' };
    assert.deepEqual(await hosts(), [conductor, node1, node2]);
    assert.deepEqual(await hosts('?zone='), [conductor, node1, node2]);
    assert.deepEqual(await hosts('?zone=nova'), [node1, node2]);
    assert.deepEqual(await hosts('?zone=xxx'), []);
    await api.deps.db('services').where({ host: 'node-2' }).update({ disabled: true });
    assert.deepEqual(await hosts(), [conductor, node1]);
  });

  it('is admin only, and gone from 2.43', async () => {
    const member = await api.request('GET', '/v2.1/os-hosts', { version: '2.42' });
    assert.equal(member.status, 403);
    assert.match(member.body.forbidden.message, /os_compute_api:os-hosts:list/);
    const gone = await api.request('GET', '/v2.1/os-hosts', { token: ADMIN, version: '2.43' });
    assert.equal(gone.status, 404);
  });

  it("shows a compute host's total, used and per-project resources", async () => {
    const r = await api.request('GET', '/v2.1/os-hosts/node-1', V242);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const resources = (r.body.host as { resource: Record<string, unknown> }[]).map(
      (h) => h.resource,
    );
    const row = (project: string, cpu: number, memory_mb: number, disk_gb: number) => ({
      host: 'node-1',
      project,
      cpu,
      memory_mb,
      disk_gb,
    });
    assert.deepEqual(resources, [
      row('(total)', 4, 4096, 40),
      row('(used_now)', 4, 4096, 42),
      row('(used_max)', 6, 6144, 63),
      row('demo', 4, 4096, 42),
      row('other', 2, 2048, 21),
    ]);
    const missing = await api.request('GET', '/v2.1/os-hosts/nowhere', V242);
    assert.equal(missing.status, 404);
    assert.match(missing.body.itemNotFound.message, /Compute host nowhere could not be found/);
  });

  it("enables and disables a host's compute service, and maintenance mode disables it", async () => {
    const put = (body: unknown, host = 'node-1') =>
      api.request('PUT', `/v2.1/os-hosts/${host}`, { ...V242, body });
    const service = () =>
      api.deps.db('services').where({ host: 'node-1', binary: 'nova-compute' }).first();

    let r = await put({ status: 'Disable' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { host: 'node-1', status: 'disabled' });
    assert.equal(Boolean((await service()).disabled), true);

    r = await put({ maintenance_mode: 'enable' });
    assert.deepEqual(r.body, { host: 'node-1', maintenance_mode: 'on_maintenance' });
    assert.equal((await service()).disabled_reason, 'maintenance');

    r = await put({ status: 'enable', maintenance_mode: 'disable' });
    assert.deepEqual(r.body, {
      host: 'node-1',
      status: 'enabled',
      maintenance_mode: 'off_maintenance',
    });
    const enabled = await service();
    assert.equal(Boolean(enabled.disabled), false);
    assert.equal(enabled.disabled_reason, null);

    for (const bad of [{ status: 'invalid' }, { maintenance_mode: 'on' }, {}, { other: 1 }]) {
      const refused = await put(bad);
      assert.equal(refused.status, 400, JSON.stringify(bad));
    }
    const both = await put({ status: 'enable', maintenance_mode: 'enable' });
    assert.equal(both.status, 400);
    assert.equal((await put({ status: 'enable' }, 'nowhere')).status, 404);
  });

  it("refuses to power a host on or off, which is not berth's to do", async () => {
    for (const action of ['startup', 'shutdown', 'reboot']) {
      const r = await api.request('GET', `/v2.1/os-hosts/node-1/${action}`, V242);
      assert.equal(r.status, 400, action);
      assert.match(r.body.badRequest.message, /operator's/);
      const missing = await api.request('GET', `/v2.1/os-hosts/nowhere/${action}`, V242);
      assert.equal(missing.status, 404, action);
    }
  });

  it('reports the usage audit of the last month as not run on any compute host', async () => {
    const r = await api.request('GET', '/v2.1/os-instance_usage_audit_log/2026-03-10 08:00:00', {
      token: ADMIN,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.instance_usage_audit_log, {
      period_beginning: '2026-02-01 00:00:00',
      period_ending: '2026-03-01 00:00:00',
      num_hosts: 2,
      num_hosts_done: 0,
      num_hosts_running: 0,
      hosts_not_run: ['node-1', 'node-2'],
      num_hosts_not_run: 2,
      total_instances: 0,
      total_errors: 0,
      overall_status: '0 of 2 hosts done. 0 errors.',
      log: {},
    });
    const list = await api.request('GET', '/v2.1/os-instance_usage_audit_log', { token: ADMIN });
    assert.equal(list.status, 200);
    assert.equal(list.body.instance_usage_audit_logs.num_hosts, 2);
    const bad = await api.request('GET', '/v2.1/os-instance_usage_audit_log/yesterday', {
      token: ADMIN,
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /Invalid timestamp for date yesterday/);
    const member = await api.request('GET', '/v2.1/os-instance_usage_audit_log');
    assert.equal(member.status, 403);
  });
});

describe('the usage audit period', () => {
  it('is the last whole month before the time, as Nova counts it', () => {
    const at = (text: string) => {
      const { begin, end } = lastCompletedMonth(new Date(text));
      return [begin.toISOString().slice(0, 10), end.toISOString().slice(0, 10)];
    };
    assert.deepEqual(at('2026-03-10T08:00:00Z'), ['2026-02-01', '2026-03-01']);
    // At the first instant of a month that month has not completed one.
    assert.deepEqual(at('2026-03-01T00:00:00Z'), ['2026-01-01', '2026-02-01']);
    assert.deepEqual(at('2026-01-15T00:00:00Z'), ['2025-12-01', '2026-01-01']);
  });

  it("takes the time as Nova's strptime does, and nothing else", () => {
    assert.equal(parseAuditTime('2026-03-10 08:00:00')?.toISOString(), '2026-03-10T08:00:00.000Z');
    assert.equal(
      parseAuditTime('2026-03-10 08:00:00.250000')?.toISOString(),
      '2026-03-10T08:00:00.250Z',
    );
    for (const bad of ['2026-02-30 00:00:00', '2026-03-10T08:00:00', '2026-03-10', 'x'])
      assert.equal(parseAuditTime(bad), undefined, bad);
  });
});
