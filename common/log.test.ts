import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { transports } from 'winston';
import { Logger, createLogger, forInstance } from './log';

// Swaps the stderr transport for one that records lines, so tests stay quiet.
function capture(logger: Logger): string[] {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).trimEnd().split('\n'));
      done();
    },
  });
  logger.clear().add(new transports.Stream({ stream }));
  return lines;
}

// Transports receive entries through stream piping, which may finish a tick later.
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('child loggers add instance_uuid and request_id to JSON lines', async () => {
  const logger = createLogger({ level: 'debug', json: true });
  const lines = capture(logger);
  const uuid = '5f0c7c1e-6f3a-4b53-9d1e-0c2a4f7b9a10';

  forInstance(logger, uuid, 'req-1234').info('instance started', { pid: 42 });
  await settle();

  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, 'info');
  assert.equal(entry.message, 'instance started');
  assert.equal(entry.instance_uuid, uuid);
  assert.equal(entry.request_id, 'req-1234');
  assert.equal(entry.pid, 42);
  assert.ok(!Number.isNaN(Date.parse(entry.timestamp)));
});

test('request_id is omitted when there is none', async () => {
  const logger = createLogger({ json: true });
  const lines = capture(logger);

  forInstance(logger, 'abc').warn('no request');
  await settle();

  const entry = JSON.parse(lines[0]);
  assert.equal(entry.instance_uuid, 'abc');
  assert.ok(!('request_id' in entry));
});

test('human-readable lines are "level message key=value"', async () => {
  const logger = createLogger({ json: false });
  const lines = capture(logger);

  forInstance(logger, 'abc', 'req-1').info('stopping', { reason: 'user request', force: true });
  await settle();

  assert.deepEqual(lines, [
    'info stopping instance_uuid=abc request_id=req-1 reason="user request" force=true',
  ]);
});

test('errors keep their message and stack in JSON output', async () => {
  const logger = createLogger({ json: true });
  const lines = capture(logger);

  logger.error('spawn failed', { error: new Error('ENOSPC') });
  await settle();

  const entry = JSON.parse(lines[0]);
  assert.equal(entry.error.message, 'ENOSPC');
  assert.match(entry.error.stack, /^Error: ENOSPC/);
});

test('levels below the threshold are dropped and unknown levels are refused', async () => {
  const logger = createLogger({ level: 'WARN', json: true });
  const lines = capture(logger);

  logger.info('hidden');
  logger.warn('shown');
  await settle();

  assert.deepEqual(
    lines.map((line) => JSON.parse(line).message),
    ['shown'],
  );
  assert.throws(() => createLogger({ level: 'verbose' }), /unknown log level "verbose"/);
});
