import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MalformedMessageError, decodeBody } from './envelope';
import { PING_CALL_REQUEST } from '../testing/messaging/oslo-captured';
import { packContext, parseRequest, requestMessage, unpackContext } from './request';

const json = { contentType: 'application/json', contentEncoding: 'utf-8' };

test('parses a call captured from an oslo client', () => {
  const request = parseRequest(decodeBody(Buffer.from(PING_CALL_REQUEST), json));
  assert.equal(request.method, 'ping');
  assert.deepEqual(request.args, { arg: 'hello' });
  assert.equal(request.version, '1.0');
  assert.equal(request.namespace, 'baseapi');
  assert.deepEqual(request.reply, {
    msgId: 'c1cf18c143754ccea885157583ad8ae5',
    replyQ: 'reply_5baa533f74624d83a8cae1f304abff8c',
  });
  assert.equal(request.heartbeatMs, undefined, '_timeout null: never heartbeat');
  assert.equal(request.uniqueId, '8df36b638811427c821ed13e4ab02fed');
  assert.equal(request.context.request_id, 'req-808729cf-9fad-423c-9b76-8c26f1c2c69c');
  assert.deepEqual(request.context.roles, ['admin', 'member', 'reader']);
  assert.equal(Object.keys(request.context).length, 26);
});

test('defaults: version 1.0, no args, no namespace, a cast without reply address', () => {
  const request = parseRequest({ method: 'm', _msg_id: 'only-id', namespace: null });
  assert.equal(request.version, '1.0');
  assert.deepEqual(request.args, {});
  assert.equal(request.namespace, undefined);
  assert.equal(request.reply, undefined);
});

test('heartbeats every int(_timeout)/2 seconds, only for calls and at least every second', () => {
  const call = { method: 'm', _msg_id: 'i', _reply_q: 'q' };
  const interval = (timeout: unknown) => parseRequest({ ...call, _timeout: timeout }).heartbeatMs;
  assert.equal(interval(2), 1000);
  assert.equal(interval(60), 30000);
  assert.equal(interval(3.9), 1500);
  assert.equal(interval(1), undefined);
  assert.equal(interval(null), undefined);
  assert.equal(interval('60'), undefined);
  assert.equal(parseRequest({ method: 'm', _timeout: 60 }).heartbeatMs, undefined);
});

test('rejects requests it cannot dispatch', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ args: {} }, /no method/],
    [{ method: '' }, /no method/],
    [{ method: 7 }, /no method/],
    [{ method: 'm', args: [1] }, /args of m is not an object/],
    [{ method: 'm', args: 'x' }, /args of m is not an object/],
    [{ method: 'm', version: 6 }, /version is not a string/],
    [{ method: 'm', version: 'six' }, /invalid version "six"/],
    [{ method: 'm', namespace: {} }, /namespace is not a string/],
  ];
  for (const [message, reason] of cases) {
    assert.throws(
      () => parseRequest(message),
      (err: unknown) => {
        assert.ok(err instanceof MalformedMessageError);
        assert.match(err.message, reason);
        return true;
      },
    );
  }
});

test('writes requests in oslo field order with a fresh _unique_id and the context', () => {
  const call = requestMessage({
    method: 'stop_instance',
    args: { clean_shutdown: true },
    version: '6.0',
    reply: { msgId: 'a1', replyQ: 'reply_b2', callMonitorTimeout: null },
    context: { request_id: 'req-1', is_admin: false },
  });
  assert.deepEqual(Object.keys(call), [
    'method',
    'args',
    'version',
    '_msg_id',
    '_reply_q',
    '_timeout',
    '_unique_id',
    '_context_request_id',
    '_context_is_admin',
  ]);
  assert.equal(call._timeout, null);
  assert.match(call._unique_id as string, /^[0-9a-f]{32}$/);
  const cast = requestMessage({ method: 'm', args: {}, namespace: 'baseapi' });
  assert.deepEqual(Object.keys(cast), ['method', 'args', 'namespace', '_unique_id']);
  assert.notEqual(cast._unique_id, requestMessage({ method: 'm', args: {} })._unique_id);
});

test('context travels as _context_ keys and back', () => {
  const context = { request_id: 'req-1', roles: ['admin'], auth_token: null };
  assert.deepEqual(packContext(context), {
    _context_request_id: 'req-1',
    _context_roles: ['admin'],
    _context_auth_token: null,
  });
  assert.deepEqual(unpackContext({ method: 'm', ...packContext(context) }), context);
});
