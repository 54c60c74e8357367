/**
 * berth's Transport against the real RabbitMQ, with Debian's
 * python3-oslo.messaging as the peer on the other side: calls, casts,
 * failures, heartbeats and notifications in both directions, malformed
 * input, durable declarations, and reconnecting after the connection or the
 * broker goes away. Everything it declares carries this run's id and is
 * deleted at the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import winston from 'winston';
import { log } from '../common/log';
import { ConflictError, NotFoundError } from '../common/errors';
import { AmqpTransport, type AmqpTransportOptions } from '../messaging/amqp-transport';
import { NOVA_FAULTS } from '../nova/faults';
import { decodeBody, encodeEnvelope } from '../messaging/envelope';
import { MessagingTimeout, RemoteError, type Endpoint, type Server } from '../messaging/transport';
import { projectRoot, waitFor, runName } from './harness';

const BROKER = 'rabbit://guest:guest@127.0.0.1:5672/';
const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672/';
const PYTHON = '/usr/bin/python3';
const FIXTURES = path.join(projectRoot, 'integration-tests', 'fixtures');
const RUN = runName('messaging');
const JSON_PROPERTIES = { contentType: 'application/json', contentEncoding: 'utf-8' };

type Line = Record<string, unknown>;

/** waitFor, for a probe that returns undefined until the value is there. */
async function waitForValue<T>(what: string, probe: () => T | undefined, timeoutMs?: number) {
  return (await waitFor(what, probe, timeoutMs)) as T;
}

/** What the test declared (or made its peers declare), deleted in `after`. */
const declared = { queues: new Set<string>(), exchanges: new Set<string>([RUN]) };

function declaredTopic(topic: string, server: string, fanoutQueue?: unknown) {
  declared.queues.add(topic).add(`${topic}.${server}`);
  if (typeof fanoutQueue === 'string') declared.queues.add(fanoutQueue);
  declared.exchanges.add(`${topic}_fanout`);
}

function peerSpec(fields: Record<string, unknown>): string {
  return JSON.stringify({ url: BROKER, exchange: RUN, ...fields });
}

function parseLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Runs an oslo peer to completion; its JSON lines, or an error with its stderr. */
async function runPeer(script: string, fields: Record<string, unknown>): Promise<Line[]> {
  const child = spawn(PYTHON, [path.join(FIXTURES, script), peerSpec(fields)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, `${script} failed:\n${stderr}`);
  const lines = parseLines(stdout);
  for (const line of lines) {
    if (typeof line.reply_q === 'string') declared.queues.add(line.reply_q);
  }
  return lines;
}

/** The outcome line of an oslo client run: {result} or {error}. */
async function osloClient(fields: Record<string, unknown>): Promise<Line> {
  const lines = await runPeer('oslo_rpc_client.py', fields);
  const outcome = lines.find((l) => 'result' in l || 'error' in l);
  assert.ok(outcome, `no outcome from the oslo client: ${JSON.stringify(lines)}`);
  return outcome;
}

/** A long-running oslo peer (server or listener) whose JSON lines are collected as they come. */
class Peer {
  readonly lines: Line[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private readonly exited: Promise<unknown>;

  constructor(script: string, fields: Record<string, unknown>) {
    this.child = spawn(PYTHON, [path.join(FIXTURES, script), peerSpec(fields)]);
    this.exited = once(this.child, 'close');
    let pending = '';
    this.child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const end = pending.lastIndexOf('\n');
      if (end < 0) return;
      this.lines.push(...parseLines(pending.slice(0, end)));
      pending = pending.slice(end + 1);
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  async line(what: string, match: (line: Line) => boolean, timeoutMs = 20_000): Promise<Line> {
    return waitForValue(
      what,
      () => {
        const found = this.lines.find(match);
        if (!found && this.child.exitCode !== null) {
          assert.fail(`the peer exited (${this.child.exitCode}) before ${what}:\n${this.stderr}`);
        }
        return found;
      },
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

async function startOsloServer(topic: string, server: string, durable = false): Promise<Peer> {
  const peer = new Peer('oslo_rpc_server.py', { topic, server, durable });
  const ready = await peer.line('the oslo server to start', (l) => l.ready === true);
  declaredTopic(topic, server, ready.fanout_queue);
  return peer;
}

/** What berth logs while the tests run. */
const logged: Line[] = [];
const logCapture = new winston.transports.Stream({
  level: 'info',
  stream: new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(...parseLines(chunk.toString()));
      done();
    },
  }),
});

function rabbitmqctl(...args: string[]) {
  return spawnSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 120_000 });
}

const rabbitmqctlUsable = (() => {
  const r = spawnSync('rabbitmqctl', ['-q', 'status'], { timeout: 30_000 });
  return r.status === 0 ? undefined : 'rabbitmqctl cannot reach the broker (needs root)';
})();

/** A TCP hop between berth and RabbitMQ that the test can cut and restore. */
class CuttableProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly sockets = new Set<net.Socket>();
  private open = true;

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket): void {
    if (!this.open) return void client.destroy();
    const upstream = net.connect(5672, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
  }
}

/**
 * Every transport a test opens is closed in `after`, even when the test
 * failed midway; each speaks as nova-compute does.
 */
const transports: AmqpTransport[] = [];

function openTransport(opts: Omit<AmqpTransportOptions, 'faults'>): AmqpTransport {
  const transport = new AmqpTransport({ ...opts, faults: NOVA_FAULTS });
  transports.push(transport);
  return transport;
}

interface Recorder {
  notes: unknown[];
  started: string[];
}

function newRecorder(): Recorder {
  return { notes: [], started: [] };
}

function computeEndpoints(recorder: Recorder): Endpoint[] {
  return [
    {
      version: '6.1',
      methods: {
        echo: (args, incoming) => ({ args, context: incoming.context }),
        get_instance: (args) => {
          throw Object.assign(
            new NotFoundError(`Instance ${String(args.uuid)} could not be found.`),
            {
              instanceId: args.uuid,
            },
          );
        },
        pause_instance: () => {
          throw new ConflictError('Instance is stopped; cannot pause it.');
        },
        slow: async (args) => {
          recorder.started.push('slow');
          await sleep(Number(args.seconds) * 1000);
          return 'done';
        },
        note: (args, incoming) => {
          recorder.notes.push({ ...args, request_id: incoming.context.request_id });
        },
      },
    },
    {
      version: '1.1',
      namespace: 'baseapi',
      methods: { ping: (args) => ({ service: 'berth', arg: args.arg }) },
    },
  ];
}

describe('messaging against RabbitMQ and oslo.messaging', { timeout: 300_000 }, () => {
  const compute = `${RUN}-compute`;
  const recorder = newRecorder();
  let transport: AmqpTransport;
  let server: Server;

  before(async () => {
    log.add(logCapture);
    transport = openTransport({
      transportUrl: BROKER,
      controlExchange: RUN,
      connectionName: RUN,
    });
    server = await transport.serve(
      { topic: compute, server: 'node-1' },
      computeEndpoints(recorder),
      {
        fanout: true,
      },
    );
    declaredTopic(compute, 'node-1');
  });

  after(async () => {
    await server?.stop();
    await Promise.all(transports.map((t) => t.close()));
    log.remove(logCapture);
    await deleteDeclared();
  });

  test('an oslo client calls berth: result, context, version and namespace', async () => {
    const context = { request_id: 'req-it-1', user_id: 'u-1', is_admin: true, roles: ['admin'] };
    const outcome = await osloClient({
      action: 'call',
      topic: compute,
      server: 'node-1',
      version: '6.0',
      method: 'echo',
      args: { instance: { uuid: 'i-1' }, reboot_type: 'SOFT' },
      context,
    });
    assert.deepEqual(outcome.result, {
      args: { instance: { uuid: 'i-1' }, reboot_type: 'SOFT' },
      context,
    });
    const ping = await osloClient({
      action: 'call',
      topic: compute,
      server: 'node-1',
      namespace: 'baseapi',
      version: '1.0',
      method: 'ping',
      args: { arg: 'hello' },
    });
    assert.deepEqual(ping.result, { service: 'berth', arg: 'hello' });
  });

  test('an oslo server declares the same topic queues berth did (no 406)', async () => {
    const peer = await startOsloServer(compute, 'node-1');
    await peer.stop();
  });

  test('berth failures re-raise on the oslo side as nova.exception classes', async () => {
    const call = (method: string, version = '6.0', args = {}) =>
      osloClient({ action: 'call', topic: compute, server: 'node-1', version, method, args });
    const notFound = await call('get_instance', '6.0', { uuid: 'i-404' });
    assert.deepEqual(notFound.error, {
      type: 'InstanceNotFound',
      module: 'nova.exception',
      remote_error_class: null,
      args: ['Instance i-404 could not be found.'],
      kwargs: { instance_id: 'i-404', code: 404 },
    });
    const invalid = (await call('pause_instance')).error as Line;
    assert.deepEqual([invalid.type, invalid.module], ['InstanceInvalidState', 'nova.exception']);
    // oslo's own dispatcher classes are not in allowed_remote_exmods: a RemoteError names them.
    assert.equal(((await call('reboot')).error as Line).remote_error_class, 'NoSuchMethod');
    assert.equal(
      ((await call('echo', '7.0')).error as Line).remote_error_class,
      'UnsupportedVersion',
    );
    assert.equal(((await call('_private')).error as Line).remote_error_class, 'NoSuchMethod');
  });

  test('an oslo cast reaches berth', async () => {
    await osloClient({
      action: 'cast',
      topic: compute,
      server: 'node-1',
      version: '6.0',
      method: 'note',
      args: { from: 'oslo' },
      context: { request_id: 'req-cast' },
    });
    await waitFor('the cast', () =>
      recorder.notes.some((n) => JSON.stringify(n) === '{"from":"oslo","request_id":"req-cast"}'),
    );
  });

  test('berth heartbeats a slow call for an oslo client with a call monitor', async () => {
    const outcome = await osloClient({
      action: 'call',
      topic: compute,
      server: 'node-1',
      version: '6.0',
      method: 'slow',
      args: { seconds: 3 },
      timeout: 10,
      call_monitor_timeout: 2,
    });
    assert.deepEqual(outcome, { result: 'done' });
  });

  test('berth calls berth: heartbeats keep a monitored call alive, fanout reaches the server', async () => {
    const target = { topic: compute, server: 'node-1', version: '6.0' };
    const result = await transport.call(
      target,
      'slow',
      { seconds: 3 },
      { timeout: 10, callMonitorTimeout: 2 },
    );
    assert.equal(result, 'done');
    await transport.fanoutCast(compute, 'note', { from: 'fanout' }, { version: '6.0' });
    await waitFor('the fanout cast', () =>
      recorder.notes.some((n) => (n as Line).from === 'fanout'),
    );
    await assert.rejects(
      transport.call({ ...target, server: 'nobody' }, 'echo', {}, { timeout: 1 }),
      MessagingTimeout,
    );
  });

  test('a fanout exchange gone with its last queue is declared again, and casts beside it still go', async () => {
    const topic = `${RUN}-gone`;
    declared.exchanges.add(`${topic}_fanout`);
    // Declared (and cached as declared) by the first cast; then deleted, as
    // RabbitMQ deletes an auto-delete exchange when its last queue goes.
    await transport.fanoutCast(topic, 'note', { n: 1 });
    const conn = await amqp.connect(AMQP_URL);
    try {
      const channel = await conn.createChannel();
      await channel.deleteExchange(`${topic}_fanout`);
    } finally {
      await conn.close();
    }
    const target = { topic: compute, server: 'node-1', version: '6.0' };
    await Promise.all([
      transport.fanoutCast(topic, 'note', { n: 2 }),
      transport.cast(target, 'note', { beside: 'the gone exchange' }),
    ]);
    await waitFor('the cast beside it', () =>
      recorder.notes.some((n) => (n as Line).beside === 'the gone exchange'),
    );
  });

  test('stop() waits for in-flight handlers and their replies', async () => {
    const local = newRecorder();
    const topic = `${RUN}-stop`;
    const stopping = await transport.serve({ topic, server: 's' }, computeEndpoints(local));
    declaredTopic(topic, 's');
    const call = transport.call({ topic, server: 's', version: '6.0' }, 'slow', { seconds: 1 });
    await waitFor('the handler to start', () => local.started.length === 1);
    await stopping.stop();
    assert.equal(await call, 'done');
    await assert.rejects(
      transport.call({ topic, server: 's', version: '6.0' }, 'echo', {}, { timeout: 1 }),
      MessagingTimeout,
    );
  });

  test('berth calls and casts an oslo server', async () => {
    const topic = `${RUN}-py`;
    const peer = await startOsloServer(topic, 'py-1');
    try {
      const target = { topic, server: 'py-1', version: '1.2' };
      const context = { request_id: 'req-to-oslo', user_id: 'u-1' };
      // oslo adds the call-monitor timeout to the context it hands endpoints.
      assert.deepEqual(await transport.call(target, 'echo', { a: [1, 'b'] }, { context }), {
        args: { a: [1, 'b'] },
        context: { ...context, client_timeout: null },
      });
      await assert.rejects(transport.call(target, 'fail', { message: 'bad value' }), (err) => {
        assert.ok(err instanceof RemoteError);
        assert.deepEqual(
          [err.exceptionClass, err.module, err.message],
          ['ValueError', 'builtins', 'bad value'],
        );
        assert.match(err.traceback.join(''), /raise ValueError\(message\)/);
        return true;
      });
      await assert.rejects(transport.call({ ...target, version: '2.0' }, 'echo', {}), {
        exceptionClass: 'UnsupportedVersion',
        module: 'oslo_messaging.rpc.dispatcher',
      });
      await transport.cast(target, 'note', { n: 1 }, { context: { request_id: 'req-cast-py' } });
      await peer.line('the cast', (l) => l.called === 'note' && l.request_id === 'req-cast-py');
      await transport.fanoutCast(topic, 'note', { n: 2 });
      await peer.line('the fanout cast', (l) => l.called === 'note' && (l.args as Line).n === 2);
      // the bare topic: any server of it
      assert.deepEqual(await transport.call({ topic, version: '1.0' }, 'echo', {}), {
        args: {},
        context: { client_timeout: null },
      });
    } finally {
      await peer.stop();
    }
  });

  test('an oslo notification listener receives berth notifications', async () => {
    const topic = `${RUN}-notifications`;
    declared.queues.add(`${topic}.info`).add(`${topic}.error`);
    const listener = new Peer('oslo_notification_listener.py', { topic, count: 2 });
    try {
      await listener.line('the listener to start', (l) => l.ready === true);
      const payload = {
        'nova_object.name': 'InstanceActionPayload',
        'nova_object.namespace': 'nova',
        'nova_object.version': '1.8',
        'nova_object.data': { uuid: 'i-1', state: 'active' },
      };
      const context = {
        request_id: 'req-n',
        user_id: 'u-1',
        auth_token: 'secret',
        service_catalog: [],
      };
      await transport.notify(
        topic,
        'nova-compute:node-1',
        'instance.power_on.end',
        payload,
        'INFO',
        context,
      );
      await transport.notify(topic, 'nova-compute:node-1', 'compute.exception', { x: 1 }, 'ERROR');
      const info = await listener.line('the INFO notification', (l) => l.priority === 'INFO');
      assert.equal(info.publisher_id, 'nova-compute:node-1');
      assert.equal(info.event_type, 'instance.power_on.end');
      assert.deepEqual(info.payload, payload);
      assert.deepEqual(info.ctxt, { request_id: 'req-n', user_id: 'u-1', client_timeout: null });
      const metadata = info.metadata as Line;
      assert.match(
        String(metadata.message_id),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      assert.match(String(metadata.timestamp), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      const error = await listener.line('the ERROR notification', (l) => l.priority === 'ERROR');
      assert.equal(error.event_type, 'compute.exception');
    } finally {
      await listener.stop();
    }
  });

  describe('malformed input', () => {
    let conn: ChannelModel;
    let channel: Channel;
    let replyQueue: string;
    const replies: Line[] = [];

    before(async () => {
      conn = await amqp.connect(AMQP_URL);
      channel = await conn.createChannel();
      replyQueue = (await channel.assertQueue('', { exclusive: true })).queue;
      await channel.consume(
        replyQueue,
        (msg: ConsumeMessage | null) =>
          msg && replies.push(decodeBody(msg.content, msg.properties)),
        { noAck: true },
      );
    });

    after(() => conn.close());

    function publish(body: Buffer | Line, properties: Record<string, unknown> = JSON_PROPERTIES) {
      const content = Buffer.isBuffer(body) ? body : encodeEnvelope(body);
      channel.publish(RUN, `${compute}.node-1`, content, properties);
    }

    function callFields(msgId: string) {
      return { _msg_id: msgId, _reply_q: replyQueue, _timeout: null, _unique_id: msgId };
    }

    async function failureOf(msgId: string): Promise<Line> {
      const reply = await waitForValue(`the reply to ${msgId}`, () =>
        replies.find((r) => r._msg_id === msgId),
      );
      assert.equal(reply.ending, true);
      assert.equal(reply.result, null);
      return JSON.parse(reply.failure as string) as Line;
    }

    test('calls get a failure reply saying what was wrong', async () => {
      publish(
        encodeEnvelope({ method: 'echo', args: {}, version: '6.0', ...callFields('octet') }),
        {
          contentType: 'application/octet-stream',
        },
      );
      publish({ method: 'reboot', args: {}, version: '6.0', ...callFields('unknown') });
      publish({ method: 'echo', args: [1, 2], version: '6.0', ...callFields('args') });
      publish({ args: {}, ...callFields('no-method') });
      const v3 = JSON.stringify({ method: 'echo', args: {}, ...callFields('v3') });
      publish(Buffer.from(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': v3 })));

      const expectations: [string, string, RegExp][] = [
        ['octet', 'InvalidInput', /unsupported content type "application\/octet-stream"/],
        ['unknown', 'NoSuchMethod', /Endpoint does not support RPC method reboot/],
        ['args', 'InvalidInput', /args of echo is not an object/],
        ['no-method', 'InvalidInput', /request has no method/],
        ['v3', 'InvalidInput', /unsupported envelope version "3.0"/],
      ];
      for (const [msgId, className, message] of expectations) {
        const failure = await failureOf(msgId);
        assert.equal(failure.class, className, msgId);
        assert.match(String(failure.message), message);
      }
    });

    test('casts are logged and acknowledged, and the server keeps serving', async () => {
      const before = logged.length;
      publish(Buffer.from('this is not JSON'));
      publish({ method: 'echo', args: 'not an object', version: '6.0', _unique_id: 'c-args' });
      publish(Buffer.from(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' })));
      publish(encodeEnvelope({ method: 'note', args: {} }), { contentType: 'text/plain' });
      const rejections = () =>
        logged.slice(before).filter((l) => l.message === 'rejected an RPC message');
      // A message put back on the queue returns to its head: once the call
      // published after them is answered, a redelivered one would have been seen.
      publish({ method: 'echo', args: { ok: 1 }, version: '6.0', ...callFields('good') });
      const good = await waitForValue('the good reply', () =>
        replies.find((r) => r._msg_id === 'good'),
      );
      assert.deepEqual([good.failure, (good.result as Line).args], [null, { ok: 1 }]);
      await waitFor('four rejections', () => rejections().length >= 4);
      const reasons = rejections().map((l) => String(l.reason));
      assert.equal(reasons.length, 4, 'each rejected once: acknowledged, not redelivered');
      assert.match(reasons[0], /^message body is not JSON: /);
      assert.deepEqual(reasons.slice(1), [
        'args of echo is not an object',
        'unsupported envelope version "3.0"',
        'unsupported content type "text/plain"',
      ]);
      assert.deepEqual(await transport.call({ topic: compute, version: '6.0' }, 'echo', {}), {
        args: {},
        context: {},
      });
    });

    test('a duplicate _unique_id is handled once', async () => {
      const count = recorder.notes.length;
      const cast = {
        method: 'note',
        args: { dup: true },
        version: '6.0',
        _unique_id: `${RUN}-dup`,
      };
      publish(cast);
      publish(cast);
      publish({ method: 'echo', args: {}, version: '6.0', ...callFields('after-dup') });
      // Both copies were delivered before the call published after them.
      await waitFor('the call after the duplicates', () =>
        replies.find((r) => r._msg_id === 'after-dup'),
      );
      await waitFor('the cast handled', () => recorder.notes.length > count);
      assert.equal(recorder.notes.length, count + 1);
    });
  });

  test('serve() fails at once with the refusal when the flags do not match the deployment', async () => {
    const mismatched = openTransport({
      transportUrl: BROKER,
      controlExchange: RUN,
      durableQueues: true,
    });
    try {
      const started = Date.now();
      await assert.rejects(
        mismatched.serve({ topic: compute, server: 'node-1' }, []),
        /PRECONDITION_FAILED - inequivalent arg 'durable' for exchange/,
      );
      assert.ok(Date.now() - started < 5000);
      assert.equal(mismatched.connected, true);
    } finally {
      await mismatched.close();
    }
  });

  for (const mode of ['durable', 'quorum'] as const) {
    test(`${mode} queues: declared with the flags oslo uses in that mode`, async () => {
      const exchange = `${RUN}-${mode}`;
      const topic = `${RUN}-${mode}`;
      declared.exchanges.add(exchange);
      declaredTopic(topic, 'd1');
      const flags = { durable: mode === 'durable', quorum: mode === 'quorum' };
      const berth = openTransport({
        transportUrl: BROKER,
        controlExchange: exchange,
        durableQueues: flags.durable,
        quorumQueues: flags.quorum,
      });
      try {
        await berth.serve({ topic, server: 'd1' }, computeEndpoints(newRecorder()));
        // A transient, classic redeclaration of berth's queue is refused.
        const conn = await amqp.connect(AMQP_URL);
        const channel = await conn.createChannel();
        channel.on('error', () => undefined);
        await assert.rejects(channel.assertQueue(topic, { durable: false }), /PRECONDITION_FAILED/);
        await conn.close();
        // An oslo server configured the same way declares the same exchange and queues.
        const peer = new Peer('oslo_rpc_server.py', { exchange, topic, server: 'd1', ...flags });
        const ready = await peer.line(`the ${mode} oslo server`, (l) => l.ready === true);
        declaredTopic(topic, 'd1', ready.fanout_queue);
        await peer.stop();
        const outcome = await osloClient({
          exchange,
          ...flags,
          action: 'call',
          topic,
          server: 'd1',
          version: '6.0',
          method: 'echo',
          args: { mode },
        });
        assert.deepEqual((outcome.result as Line).args, { mode });
      } finally {
        await berth.close();
      }
    });
  }

  test('reconnects after losing the connection; casts sent meanwhile are not lost', async () => {
    const proxy = new CuttableProxy();
    const port = await proxy.listen();
    const topic = `${RUN}-proxied`;
    const local = newRecorder();
    // The first host refuses connections: berth moves on to the next one.
    const proxied = openTransport({
      transportUrl: `rabbit://guest:guest@127.0.0.1:1,guest:guest@127.0.0.1:${port}/`,
      controlExchange: RUN,
      reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    });
    try {
      const served = await proxied.serve({ topic, server: 'p1' }, computeEndpoints(local));
      declaredTopic(topic, 'p1');
      const target = { topic, server: 'p1', version: '6.0' };
      assert.deepEqual(await proxied.call(target, 'echo', { n: 1 }), {
        args: { n: 1 },
        context: {},
      });

      proxy.cut();
      await waitFor('the connection loss to be noticed', () => !proxied.connected);
      const cast = proxied.cast(target, 'note', { sent: 'while disconnected' });
      const call = proxied.call(target, 'echo', { n: 2 }, { timeout: 20 });
      await sleep(1000);
      assert.deepEqual(local.notes, []);
      proxy.restore();

      await cast;
      assert.deepEqual(await call, { args: { n: 2 }, context: {} });
      await waitFor('the cast sent while disconnected', () => local.notes.length === 1);
      assert.equal(proxied.connected, true);

      // A request whose handler outlives the connection is redelivered (it was not acknowledged)
      // and recognised as a duplicate: handled once, answered once.
      const slow = proxied.call(target, 'slow', { seconds: 1.5 }, { timeout: 20 });
      await waitFor('the slow handler to start', () => local.started.length === 1);
      proxy.cut();
      await waitFor('the connection loss to be noticed', () => !proxied.connected);
      proxy.restore();
      assert.equal(await slow, 'done');
      await waitFor('the redelivered request to be dropped', () =>
        logged.some((l) => l.message === 'dropped a duplicate request' && l.redelivered === true),
      );
      assert.equal(local.started.length, 1);
      await served.stop();
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  test(
    'survives a broker restart (rabbitmqctl stop_app / start_app)',
    { skip: rabbitmqctlUsable },
    async () => {
      const topic = `${RUN}-restart`;
      const local = newRecorder();
      const restarted = openTransport({
        transportUrl: BROKER,
        controlExchange: RUN,
        reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      });
      try {
        const served = await restarted.serve({ topic, server: 'r1' }, computeEndpoints(local));
        declaredTopic(topic, 'r1');
        const target = { topic, server: 'r1', version: '6.0' };
        assert.deepEqual(await restarted.call(target, 'echo', {}), { args: {}, context: {} });
        try {
          assert.equal(rabbitmqctl('stop_app').status, 0);
          await waitFor('the broker loss to be noticed', () => !restarted.connected);
        } finally {
          assert.equal(rabbitmqctl('start_app').status, 0);
        }
        await waitFor('the reconnect', () => restarted.connected && transport.connected, 60_000);
        // Transient queues died with the broker: berth declared them again and consumes.
        assert.deepEqual(
          await restarted.call(target, 'echo', { after: 'restart' }, { timeout: 20 }),
          {
            args: { after: 'restart' },
            context: {},
          },
        );
        await restarted.cast(target, 'note', {});
        await waitFor('a cast after the restart', () => local.notes.length === 1);
        assert.deepEqual(
          await transport.call(
            { topic: compute, server: 'node-1', version: '6.0' },
            'echo',
            {},
            { timeout: 20 },
          ),
          {
            args: {},
            context: {},
          },
        );
        await served.stop();
      } finally {
        await restarted.close();
      }
    },
  );
});

/** Deletes everything the run declared, then checks the broker holds nothing of it. */
async function deleteDeclared(): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const channel = await conn.createChannel();
    for (const queue of declared.queues) await channel.deleteQueue(queue);
    for (const exchange of declared.exchanges) await channel.deleteExchange(exchange);
    await channel.close();
    for (const queue of declared.queues) {
      const probe = await conn.createChannel();
      probe.on('error', () => undefined);
      await assert.rejects(probe.checkQueue(queue), /NOT_FOUND/, `queue ${queue} left behind`);
    }
  } finally {
    await conn.close();
  }
  if (!rabbitmqctlUsable) {
    const queues = rabbitmqctl('-q', 'list_queues', 'name').stdout;
    const exchanges = rabbitmqctl('-q', 'list_exchanges', 'name').stdout;
    assert.ok(
      !`${queues}\n${exchanges}`.includes(RUN),
      `left on the broker:\n${queues}\n${exchanges}`,
    );
  }
}
