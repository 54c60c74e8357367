import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotFoundError } from '../../common/errors';
import { FakeTransport } from './fake-transport';
import { MessagingTimeout, RemoteError, type Endpoint } from '../../messaging/transport';

function computeEndpoint(log: unknown[] = []): Endpoint {
  return {
    version: '6.1',
    methods: {
      echo: (args, incoming) => ({ args, request_id: incoming.context.request_id }),
      when: () => new Date(Date.UTC(2024, 0, 1)),
      get_instance: (args) => {
        throw Object.assign(
          new NotFoundError(`Instance ${String(args.uuid)} could not be found.`),
          {
            instanceId: args.uuid,
          },
        );
      },
      record: (args) => void log.push(args),
      slow: () => new Promise((resolve) => setTimeout(resolve, 200)),
    },
  };
}

test('call round trip: arguments and results travel as JSON', async () => {
  const transport = new FakeTransport();
  await transport.serve({ topic: 'compute', server: 'node-1' }, [computeEndpoint()]);
  const result = await transport.call(
    { topic: 'compute', server: 'node-1', version: '6.0' },
    'echo',
    { n: 1, skipped: undefined },
    { context: { request_id: 'req-1' } },
  );
  assert.deepEqual(result, { args: { n: 1 }, request_id: 'req-1' });
  assert.equal(
    await transport.call({ topic: 'compute', version: '6.0' }, 'when', {}),
    '2024-01-01T00:00:00.000Z',
  );
  await transport.close();
  assert.equal(transport.connected, false);
});

test('failures arrive as RemoteError with the nova class, like over RabbitMQ', async () => {
  const transport = new FakeTransport();
  await transport.serve({ topic: 'compute', server: 'node-1' }, [computeEndpoint()]);
  const target = { topic: 'compute', server: 'node-1', version: '6.0' };
  await assert.rejects(transport.call(target, 'get_instance', { uuid: 'u-1' }), (err) => {
    assert.ok(err instanceof RemoteError);
    assert.deepEqual(
      [err.exceptionClass, err.module, err.kwargs],
      ['InstanceNotFound', 'nova.exception', { instance_id: 'u-1', code: 404 }],
    );
    return true;
  });
  await assert.rejects(transport.call(target, 'reboot', {}), { exceptionClass: 'NoSuchMethod' });
  await assert.rejects(transport.call({ ...target, version: '7.0' }, 'echo', {}), {
    exceptionClass: 'UnsupportedVersion',
  });
  await assert.rejects(transport.call({ ...target, namespace: 'baseapi' }, 'echo', {}), {
    exceptionClass: 'UnsupportedVersion',
  });
  await assert.rejects(
    transport.call({ ...target, server: 'node-2' }, 'echo', {}),
    MessagingTimeout,
  );
  await assert.rejects(transport.call(target, 'slow', {}, { timeout: 0.05 }), MessagingTimeout);
  await transport.close();
});

test('casts run asynchronously; settle() waits for them; failures are only logged', async () => {
  const transport = new FakeTransport();
  const log: unknown[] = [];
  await transport.serve({ topic: 'compute', server: 'node-1' }, [computeEndpoint(log)]);
  await transport.cast({ topic: 'compute', server: 'node-1', version: '6.0' }, 'record', { n: 1 });
  assert.deepEqual(log, []);
  await transport.cast({ topic: 'compute', server: 'node-1', version: '6.0' }, 'get_instance', {});
  await transport.cast({ topic: 'nobody' }, 'record', {});
  await transport.settle();
  assert.deepEqual(log, [{ n: 1 }]);
  await transport.close();
});

test('a bare topic goes round-robin; fanout reaches every fanout server', async () => {
  const transport = new FakeTransport();
  const hits: string[] = [];
  for (const server of ['a', 'b']) {
    await transport.serve(
      { topic: 'scheduler', server },
      [{ version: '1.0', methods: { who: () => server, note: () => void hits.push(server) } }],
      { fanout: true },
    );
  }
  const who = [];
  for (let i = 0; i < 4; i++) who.push(await transport.call({ topic: 'scheduler' }, 'who', {}));
  assert.deepEqual(who, ['a', 'b', 'a', 'b']);
  await transport.fanoutCast('scheduler', 'note', {});
  await transport.fanoutCast('scheduler', 'note', {}, { version: '2.0' });
  await transport.settle();
  assert.deepEqual(hits.sort(), ['a', 'b'], 'servers still check the version of a fanout');
  await transport.close();
});

test('a stopped server no longer receives anything', async () => {
  const transport = new FakeTransport();
  const server = await transport.serve({ topic: 'compute', server: 'n' }, [computeEndpoint()]);
  await server.stop();
  await assert.rejects(
    transport.call({ topic: 'compute', server: 'n', version: '6.0' }, 'echo', {}),
    MessagingTimeout,
  );
});

test('records notifications as they would be published, context filtered', async () => {
  const transport = new FakeTransport();
  await transport.notify(
    'versioned_notifications',
    'nova-compute:node-1',
    'instance.power_off.start',
    { 'nova_object.name': 'InstanceActionPayload' },
    undefined,
    { request_id: 'req-1', auth_token: 'secret' },
  );
  await transport.notify(
    'versioned_notifications',
    'nova-compute:node-1',
    'compute.exception',
    {},
    'ERROR',
  );
  assert.deepEqual(transport.notifications[0], {
    topic: 'versioned_notifications',
    routingKey: 'versioned_notifications.info',
    publisherId: 'nova-compute:node-1',
    eventType: 'instance.power_off.start',
    priority: 'INFO',
    payload: { 'nova_object.name': 'InstanceActionPayload' },
    context: { request_id: 'req-1' },
  });
  assert.equal(transport.notifications[1].routingKey, 'versioned_notifications.error');
  await transport.close();
  await assert.rejects(transport.notify('t', 'p', 'e', {}), /closed/);
});
