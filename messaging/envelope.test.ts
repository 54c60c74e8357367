import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../common/errors';
import {
  MalformedMessageError,
  PUBLISH_PROPERTIES,
  decodeBody,
  encodeEnvelope,
  peekMessage,
} from './envelope';
import { PING_CALL_REQUEST } from '../testing/messaging/oslo-captured';

const json = { contentType: 'application/json', contentEncoding: 'utf-8' };

function body(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

test('encodes the message as a JSON string inside a 2.0 envelope', () => {
  const encoded = JSON.parse(encodeEnvelope({ method: 'ping', args: { a: 'é' } }).toString());
  assert.deepEqual(Object.keys(encoded), ['oslo.version', 'oslo.message']);
  assert.equal(encoded['oslo.version'], '2.0');
  assert.equal(typeof encoded['oslo.message'], 'string');
  assert.deepEqual(JSON.parse(encoded['oslo.message']), { method: 'ping', args: { a: 'é' } });
});

test('decodes what it encodes', () => {
  const message = { result: { nested: [1, null, 'x'] }, failure: null, ending: true };
  assert.deepEqual(decodeBody(encodeEnvelope(message), json), message);
});

test('decodes a double-encoded request captured from an oslo client', () => {
  const message = decodeBody(Buffer.from(PING_CALL_REQUEST), json);
  assert.equal(message.method, 'ping');
  assert.deepEqual(message.args, { arg: 'hello' });
  assert.equal(message.namespace, 'baseapi');
  assert.equal(message._reply_q, 'reply_5baa533f74624d83a8cae1f304abff8c');
  assert.equal(message._context_user_name, 'berth-test-user');
});

test('accepts a bare (1.0) dict, as oslo does', () => {
  const bare = { method: 'ping', args: {} };
  assert.deepEqual(decodeBody(body(bare), json), bare);
  // Only both envelope keys together make an envelope.
  assert.deepEqual(decodeBody(body({ 'oslo.version': '3.0', x: 1 }), json), {
    'oslo.version': '3.0',
    x: 1,
  });
});

test('accepts envelope 2.0, rejects versions oslo finds incompatible with it', () => {
  const inner = JSON.stringify({ method: 'm' });
  assert.equal(
    decodeBody(body({ 'oslo.version': '2.0', 'oslo.message': inner }), json).method,
    'm',
  );
  for (const version of ['3.0', '1.0', '2.1', '2.0.1', 'two', 2]) {
    assert.throws(
      () => decodeBody(body({ 'oslo.version': version, 'oslo.message': inner }), json),
      (err: unknown) =>
        err instanceof MalformedMessageError &&
        err instanceof InvalidArgumentError &&
        err.message === `unsupported envelope version ${JSON.stringify(version)}`,
    );
  }
});

test('rejects bodies that are not JSON objects', () => {
  for (const text of ['not json', '[1,2]', '"string"', 'null']) {
    assert.throws(() => decodeBody(Buffer.from(text), json), MalformedMessageError);
  }
  const notString = body({ 'oslo.version': '2.0', 'oslo.message': { method: 'm' } });
  assert.throws(() => decodeBody(notString, json), /oslo.message is not a string/);
  const innerList = body({ 'oslo.version': '2.0', 'oslo.message': '[1]' });
  assert.throws(() => decodeBody(innerList, json), /oslo.message is not a JSON object/);
});

test('reads only application/json in UTF-8, like an oslo server', () => {
  const ok = encodeEnvelope({ method: 'm' });
  assert.throws(
    () => decodeBody(ok, { contentType: 'application/octet-stream' }),
    /unsupported content type "application\/octet-stream"/,
  );
  assert.throws(() => decodeBody(ok, {}), /unsupported content type null/);
  assert.throws(
    () => decodeBody(ok, { contentType: 'application/json', contentEncoding: 'binary' }),
    /unsupported content encoding/,
  );
  assert.equal(decodeBody(ok, { contentType: 'application/json' }).method, 'm');
  assert.equal(
    decodeBody(ok, { contentType: 'application/json', contentEncoding: 'UTF8' }).method,
    'm',
  );
});

test('peeks into unreadable messages for a reply address when the body is JSON', () => {
  const inner = { method: 'm', _msg_id: 'id', _reply_q: 'reply_x' };
  const v3 = body({ 'oslo.version': '3.0', 'oslo.message': JSON.stringify(inner) });
  assert.deepEqual(peekMessage(v3), inner);
  assert.deepEqual(peekMessage(body(inner)), inner);
  assert.equal(peekMessage(Buffer.from('garbage')), undefined);
  assert.equal(peekMessage(body({ 'oslo.message': '{broken' })), undefined);
});

test('publishes with the AMQP properties kombu uses', () => {
  assert.deepEqual(PUBLISH_PROPERTIES, {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryMode: 2,
    priority: 0,
  });
});
