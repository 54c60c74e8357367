import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher, NoSuchMethod, UnsupportedVersion } from './dispatcher';
import { failureOf } from './failures';
import { PYTHON_FAULTS } from '../testing/messaging/python-faults';
import { parseRequest } from './request';
import type { Endpoint, Incoming } from './transport';
import { versionIsCompatible } from './version';

function request(fields: Record<string, unknown>) {
  return parseRequest({ args: {}, ...fields });
}

const compute: Endpoint = {
  version: '6.1',
  methods: {
    stop_instance: (args) => ({ stopped: args.instance }),
    nothing: () => undefined,
    _private: () => 'secret',
  },
};
const computeV5: Endpoint = { version: '5.13', methods: { stop_instance: () => 'v5' } };
const baseapi: Endpoint = {
  version: '1.1',
  namespace: 'baseapi',
  methods: { ping: (args) => ({ service: 'berth', arg: args.arg }) },
};
const dispatcher = new Dispatcher([compute, computeV5, baseapi]);

test('oslo version compatibility: same major, requested minor (and revision) not newer', () => {
  const cases: [string, string, boolean][] = [
    ['6.1', '6.0', true],
    ['6.1', '6.1', true],
    ['6.1', '6.2', false],
    ['6.1', '5.0', false],
    ['6.1', '7.0', false],
    ['6.1', '6.1.1', false],
    ['6.1.2', '6.1.1', true],
    ['6.1', '6.0.9', true],
    ['1.0', '1.0', true],
  ];
  for (const [implemented, requested, expected] of cases) {
    assert.equal(
      versionIsCompatible(implemented, requested),
      expected,
      `${implemented} ${requested}`,
    );
  }
});

test('dispatches to the first compatible endpoint of the requested namespace', async () => {
  assert.deepEqual(
    await dispatcher.dispatch(
      request({ method: 'stop_instance', version: '6.0', args: { instance: 'i' } }),
    ),
    {
      stopped: 'i',
    },
  );
  assert.equal(
    await dispatcher.dispatch(request({ method: 'stop_instance', version: '5.11' })),
    'v5',
  );
  assert.deepEqual(
    await dispatcher.dispatch(
      request({ method: 'ping', namespace: 'baseapi', args: { arg: 'x' } }),
    ),
    { service: 'berth', arg: 'x' },
  );
});

test('a request without a version asks for 1.0', async () => {
  await assert.rejects(
    dispatcher.dispatch(request({ method: 'stop_instance' })),
    UnsupportedVersion,
  );
  const v1 = new Dispatcher([{ version: '1.3', methods: { m: () => 'ok' } }]);
  assert.equal(await v1.dispatch(request({ method: 'm' })), 'ok');
});

test('no namespace matches only endpoints without one', async () => {
  await assert.rejects(
    dispatcher.dispatch(request({ method: 'ping', version: '1.0' })),
    UnsupportedVersion,
  );
  await assert.rejects(
    dispatcher.dispatch(request({ method: 'stop_instance', version: '6.0', namespace: 'baseapi' })),
    UnsupportedVersion,
  );
});

test('UnsupportedVersion without a compatible endpoint, NoSuchMethod with one', async () => {
  await assert.rejects(
    dispatcher.dispatch(request({ method: 'stop_instance', version: '6.2' })),
    (err) => {
      assert.ok(err instanceof UnsupportedVersion);
      assert.equal(
        err.message,
        'Endpoint does not support RPC version 6.2. Attempted method: stop_instance',
      );
      const failure = failureOf(err, PYTHON_FAULTS);
      assert.deepEqual(
        [failure.class, failure.module, failure.kwargs],
        ['UnsupportedVersion', 'oslo_messaging.rpc.dispatcher', {}],
      );
      return true;
    },
  );
  await assert.rejects(
    dispatcher.dispatch(request({ method: 'reboot', version: '6.0' })),
    (err) => {
      assert.ok(err instanceof NoSuchMethod);
      assert.equal(err.message, 'Endpoint does not support RPC method reboot');
      assert.equal(failureOf(err, PYTHON_FAULTS).class, 'NoSuchMethod');
      assert.equal(failureOf(err, PYTHON_FAULTS).module, 'oslo_messaging.rpc.dispatcher');
      return true;
    },
  );
});

test('never dispatches private or inherited names', async () => {
  for (const method of ['_private', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    await assert.rejects(
      dispatcher.dispatch(request({ method, version: '6.0' })),
      NoSuchMethod,
      method,
    );
  }
});

test('passes context and call/cast to the method; undefined results become null', async () => {
  let seen: Incoming | undefined;
  const d = new Dispatcher([
    { version: '1.0', methods: { m: (_args, incoming) => void (seen = incoming) } },
  ]);
  const result = await d.dispatch(
    request({ method: 'm', _msg_id: 'i', _reply_q: 'q', _context_request_id: 'req-1' }),
  );
  assert.equal(result, null);
  assert.deepEqual(seen, { context: { request_id: 'req-1' }, method: 'm', expectsReply: true });
  await d.dispatch(request({ method: 'm' }));
  assert.equal(seen?.expectsReply, false);
});

test('errors of the method propagate, thrown synchronously or not', async () => {
  const d = new Dispatcher([
    {
      version: '1.0',
      methods: {
        sync: () => {
          throw new Error('sync');
        },
        async: async () => {
          throw new Error('async');
        },
      },
    },
  ]);
  await assert.rejects(d.dispatch(request({ method: 'sync' })), /sync/);
  await assert.rejects(d.dispatch(request({ method: 'async' })), /async/);
});

test('refuses endpoints with a malformed version', () => {
  assert.throws(() => new Dispatcher([{ version: 'six', methods: {} }]), /invalid version "six"/);
});
