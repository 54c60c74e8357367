import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBody } from './envelope';
import { VERSIONED_NOTIFICATION } from '../testing/messaging/oslo-captured';
import {
  notificationMessage,
  notificationRoutingKey,
  notificationTimestamp,
  sanitizeContext,
} from './notification';

test('timestamps look like Python str(datetime): UTC, microseconds, no zone', () => {
  assert.equal(
    notificationTimestamp(new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123))),
    '2024-05-01 12:00:00.123000',
  );
  assert.equal(
    notificationTimestamp(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))),
    '2024-01-02 03:04:05.000000',
  );
});

test('routing key is topic.priority in lower case', () => {
  assert.equal(
    notificationRoutingKey('versioned_notifications', 'INFO'),
    'versioned_notifications.info',
  );
  assert.equal(notificationRoutingKey('notifications', 'ERROR'), 'notifications.error');
});

test('context is filtered to what oslo lets onto the notification bus', () => {
  const context = {
    request_id: 'req-1',
    global_request_id: null,
    user_id: 'u',
    project_id: 'p',
    is_admin: true,
    roles: ['admin'],
    auth_token: 'secret',
    service_catalog: [{ type: 'image' }],
    user_identity: 'u p - - -',
    remote_address: '127.0.0.1',
  };
  assert.deepEqual(sanitizeContext(context), {
    request_id: 'req-1',
    global_request_id: null,
    user_id: 'u',
    project_id: 'p',
    is_admin: true,
    roles: ['admin'],
  });
  assert.deepEqual(sanitizeContext(undefined), {});
});

test('has the shape of a notification captured from an oslo Notifier', () => {
  const captured = decodeBody(Buffer.from(VERSIONED_NOTIFICATION), {
    contentType: 'application/json',
  });
  const message = notificationMessage(
    {
      publisherId: 'nova-compute:berth-sample-host',
      eventType: 'instance.create.end',
      payload: captured.payload,
      priority: 'INFO',
      context: {
        request_id: 'req-berth-notify-test',
        user_id: 'berth-test-user',
        project_id: 'berth-test-project',
        is_admin: true,
        auth_token: 't',
      },
    },
    new Date(Date.UTC(2026, 10, 22, 4, 41, 18, 921)),
  );
  assert.deepEqual(Object.keys(message), Object.keys(captured));
  assert.match(
    message.message_id as string,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );
  assert.match(message._unique_id as string, /^[0-9a-f]{32}$/);
  const stable = (m: Record<string, unknown>) => ({
    ...m,
    message_id: 0,
    _unique_id: 0,
    timestamp: 0,
  });
  assert.deepEqual(stable(message), stable(captured));
  assert.equal(message.timestamp, '2026-11-22 04:41:18.921000');
});
