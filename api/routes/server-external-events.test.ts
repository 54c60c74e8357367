import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const ADMIN = 'admin:admin';

describeEachDatabase('os-server-external-events API', (database) => {
  let api: TestApi;
  const onHost = randomUUID();
  const noHost = randomUUID();
  const post = (events: unknown[], o: { token?: string; version?: string } = {}) =>
    api.request('POST', '/v2.1/os-server-external-events', {
      token: ADMIN,
      body: { events },
      ...o,
    });
  before(async () => {
    api = await startTestApi({ database });
    for (const [uuid, host] of [
      [onHost, 'node-1'],
      [noHost, null],
    ] as const)
      await api.deps.db('instances').insert({
        uuid,
        project_id: 'demo',
        user_id: 'demo',
        display_name: 'vm',
        hostname: 'vm',
        host,
        flavorid: '1',
        flavor: '{}',
        image_ref: 'i',
        vm_state: host ? 'active' : 'building',
        reservation_id: 'r',
        created_at: new Date().toISOString(),
      });
  });
  after(() => api.close());

  it('accepts events for known servers on a host with 200', async () => {
    const r = await post([{ name: 'network-vif-plugged', server_uuid: onHost, tag: 'port' }]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      events: [
        {
          name: 'network-vif-plugged',
          server_uuid: onHost,
          tag: 'port',
          status: 'completed',
          code: 200,
        },
      ],
    });
  });

  it('answers 207 with a code per event when any fails', async () => {
    const unknown = randomUUID();
    const r = await post(
      [
        { name: 'network-changed', server_uuid: onHost },
        { name: 'network-changed', server_uuid: unknown },
        { name: 'network-changed', server_uuid: noHost },
        { name: 'power-update', server_uuid: onHost },
      ],
      { version: '2.76' },
    );
    assert.equal(r.status, 207);
    assert.deepEqual(
      r.body.events.map((e: { code: number; status: string }) => [e.code, e.status]),
      [
        [200, 'completed'],
        [404, 'failed'],
        [422, 'failed'],
        [400, 'failed'],
      ],
    );
  });

  it('refuses members, events of later microversions and malformed bodies', async () => {
    const member = await post([{ name: 'network-changed', server_uuid: onHost }], {
      token: 'demo:demo',
    });
    assert.equal(member.status, 403);
    assert.equal(
      member.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-server-external-events:create to be performed.",
    );
    assert.equal(
      (await post([{ name: 'power-update', server_uuid: onHost, tag: '1' }])).status,
      400,
    );
    assert.equal((await post([])).status, 400);
    assert.equal((await post([{ name: 'network-changed', server_uuid: 'x' }])).status, 400);
    assert.equal(
      (await post([{ name: 'network-changed', server_uuid: onHost, extra: 1 }])).status,
      400,
    );
  });
});
