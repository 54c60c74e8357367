import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../common/errors';
import { parseTransportUrl, redact } from './url';

test('parses the default transport_url', () => {
  assert.deepEqual(parseTransportUrl('rabbit://guest:guest@127.0.0.1:5672/'), {
    hosts: [{ hostname: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' }],
    vhost: '/',
  });
});

test('parses several hosts, each with its own credentials, and a virtual host', () => {
  const url = parseTransportUrl('rabbit://nova:s%40cret@mq1:5673,other:pw@[fd00::2]/cell1?ssl=0');
  assert.deepEqual(url, {
    hosts: [
      { hostname: 'mq1', port: 5673, username: 'nova', password: 's@cret' },
      { hostname: 'fd00::2', port: 5672, username: 'other', password: 'pw' },
    ],
    vhost: 'cell1',
  });
});

test('defaults: port 5672, guest credentials, vhost "/" (also spelt %2F)', () => {
  assert.deepEqual(parseTransportUrl('rabbit://mq'), {
    hosts: [{ hostname: 'mq', port: 5672, username: 'guest', password: 'guest' }],
    vhost: '/',
  });
  assert.equal(parseTransportUrl('rabbit://mq/%2F').vhost, '/');
  assert.equal(parseTransportUrl('rabbit://user@mq/').hosts[0].password, '');
});

test('refuses what is not a rabbit URL', () => {
  for (const url of [
    'amqp://mq/',
    'rabbit://',
    'rabbit://mq:99999/',
    'rabbit://mq:x/',
    'rabbit://u:p@/',
  ]) {
    assert.throws(() => parseTransportUrl(url), InvalidArgumentError, url);
  }
});

test('error messages and logs never show passwords', () => {
  assert.equal(
    redact('rabbit://nova:secret@mq1:5672,other:pw@mq2/cell1'),
    'rabbit://nova:***@mq1:5672,other:***@mq2/cell1',
  );
  assert.throws(
    () => parseTransportUrl('rabbit://nova:secret@mq:0/'),
    (err: Error) => !err.message.includes('secret'),
  );
});
