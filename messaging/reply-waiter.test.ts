import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { ReplyWaiter } from './reply-waiter';
import { MessagingTimeout, RemoteError } from './transport';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

function reply(msgId: string, fields: Record<string, unknown>) {
  return { result: null, failure: null, ending: false, _msg_id: msgId, _unique_id: 'u', ...fields };
}

test('resolves on the ending reply with its result', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 1000 });
  waiter.deliver(reply('m1', { result: { ok: true }, ending: true }));
  assert.deepEqual(await pending, { ok: true });
  assert.equal(waiter.size, 0);
});

test('keeps waiting until ending: true, remembering the last non-null result', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 1000 });
  waiter.deliver(reply('m1', { result: 'from a pre-Newton server' }));
  assert.equal(waiter.size, 1);
  waiter.deliver(reply('m1', { ending: true }));
  assert.equal(await pending, 'from a pre-Newton server');
  const nothing = waiter.wait('m2', { timeoutMs: 1000 });
  waiter.deliver(reply('m2', { ending: true }));
  assert.equal(await nothing, null);
});

test('rejects with a RemoteError built from the failure', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 1000 });
  const failure = JSON.stringify({
    class: 'ValueError',
    module: 'builtins',
    message: 'bad',
    tb: [],
    args: ['bad'],
    kwargs: {},
  });
  waiter.deliver(reply('m1', { failure, ending: true }));
  await assert.rejects(pending, (err) => {
    assert.ok(err instanceof RemoteError);
    assert.deepEqual(
      [err.exceptionClass, err.module, err.message],
      ['ValueError', 'builtins', 'bad'],
    );
    return true;
  });
});

test('times out with MessagingTimeout when no ending reply comes', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 1000 });
  mock.timers.tick(999);
  assert.equal(waiter.size, 1);
  mock.timers.tick(1);
  await assert.rejects(pending, (err) => {
    assert.ok(err instanceof MessagingTimeout);
    assert.equal(err.message, 'Timed out waiting for a reply to message ID m1');
    return true;
  });
  assert.equal(waiter.size, 0);
});

test('heartbeats restart the call monitor, which fails a silent call early', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 10_000, monitorMs: 2000 });
  for (let i = 0; i < 4; i++) {
    mock.timers.tick(1000);
    waiter.deliver(reply('m1', {}));
  }
  mock.timers.tick(1999);
  assert.equal(waiter.size, 1, 'alive 6 s into a call with a 2 s monitor');
  waiter.deliver(reply('m1', { result: 'done', ending: true }));
  assert.equal(await pending, 'done');

  const silent = waiter.wait('m2', { timeoutMs: 10_000, monitorMs: 2000 });
  mock.timers.tick(2000);
  await assert.rejects(silent, MessagingTimeout);
});

test('the overall timeout holds even with heartbeats', async () => {
  const waiter = new ReplyWaiter();
  const pending = waiter.wait('m1', { timeoutMs: 3000, monitorMs: 2000 });
  for (let i = 0; i < 3; i++) {
    mock.timers.tick(1000);
    waiter.deliver(reply('m1', {}));
  }
  await assert.rejects(pending, MessagingTimeout);
});

test('drops replies nobody waits for, and cancelled calls never settle', async () => {
  const waiter = new ReplyWaiter();
  waiter.deliver(reply('unknown', { result: 1, ending: true }));
  waiter.deliver({ result: 1 });
  let settled = false;
  void waiter.wait('m1', { timeoutMs: 1000 }).finally(() => (settled = true));
  waiter.cancel('m1');
  mock.timers.tick(5000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false);
  assert.equal(waiter.size, 0);
});

test('failAll rejects every pending call', async () => {
  const waiter = new ReplyWaiter();
  const calls = [waiter.wait('a', { timeoutMs: 1000 }), waiter.wait('b', { timeoutMs: 1000 })];
  waiter.failAll(new Error('closed'));
  for (const call of calls) await assert.rejects(call, /closed/);
});
