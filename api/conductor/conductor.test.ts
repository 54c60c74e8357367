import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RemoteError } from '../../messaging/transport';
import { instancePrimitive } from '../../nova/instance-object';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

let cloud: TestCloud;
before(async () => {
  cloud = await startTestCloud({ hosts: ['node-1'], config: { DEFAULT: { report_interval: 1 } } });
});
after(() => cloud.close());

const CONDUCTOR = { topic: 'conductor', version: '3.0' };

async function activeServer(): Promise<string> {
  const r = await cloud.request('POST', '/v2.1/servers', {
    body: { server: { name: 'c', imageRef: cloud.image.id, flavorRef: '1' } },
  });
  await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
  return r.body.server.id;
}

const save = (uuid: string, data: Record<string, unknown>, kwargs: Record<string, unknown>) =>
  cloud.transport.call(CONDUCTOR, 'object_action', {
    objinst: instancePrimitive({ uuid, ...data }, Object.keys(data)),
    objmethod: 'save',
    args: [],
    kwargs,
  });

test('a save whose expected_task_state does not match is refused and changes nothing', async () => {
  const id = await activeServer();
  await assert.rejects(
    save(id, { vm_state: 'stopped' }, { expected_task_state: 'powering-off' }),
    (err: RemoteError) => err.exceptionClass === 'UnexpectedTaskStateError',
  );
  const row = await cloud.api.deps.db('instances').where({ uuid: id }).first();
  assert.equal(row.vm_state, 'active');
});

test('a save for an unknown or deleted instance is InstanceNotFound', async () => {
  await assert.rejects(
    save('00000000-0000-4000-8000-000000000000', { vm_state: 'active' }, {}),
    (err: RemoteError) => err.exceptionClass === 'InstanceNotFound',
  );
});

test('a save while a delete is under way is UnexpectedDeletingTaskStateError', async () => {
  const id = await activeServer();
  await cloud.api.deps.db('instances').where({ uuid: id }).update({ task_state: 'deleting' });
  await assert.rejects(
    save(id, { vm_state: 'active', task_state: null }, { expected_task_state: 'spawning' }),
    (err: RemoteError) => err.exceptionClass === 'UnexpectedDeletingTaskStateError',
  );
  await cloud.api.deps.db('instances').where({ uuid: id }).update({ task_state: null });
});

test('heartbeats keep the service up; a silent compute is down within two intervals', async () => {
  const up = await cloud.request('GET', '/v2.1/os-services', { token: 'admin:admin' });
  const svc = up.body.services.find((s: { host: string }) => s.host === 'node-1');
  assert.equal(svc.state, 'up');
  await cloud.stopCompute('node-1');
  const stopped = Date.now();
  let state = 'up';
  while (state === 'up' && Date.now() - stopped < 10000) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await cloud.request('GET', '/v2.1/os-services', { token: 'admin:admin' });
    state = r.body.services.find((s: { host: string }) => s.host === 'node-1').state;
  }
  assert.equal(state, 'down');
  // Two intervals, plus what one poll may lag on a busy host: a compute
  // still "up" long after that is the defect this catches.
  assert.ok(Date.now() - stopped <= 2000 + 2500, `down after ${Date.now() - stopped} ms`);
});
