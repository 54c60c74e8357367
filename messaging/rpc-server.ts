/**
 * Serves `topic` and `topic.server` (and the topic's fanout exchange) with
 * oslo semantics, except that a request is acknowledged only once it was
 * handled and its reply published: a crash mid-handling means redelivery,
 * and handlers are idempotent. Prefetch bounds how many run at once.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { log } from '../common/log';
import { BerthError, InternalError } from '../common/errors';
import type { BrokerConnection } from './connection';
import { ConsumerChannel } from './consumer-channel';
import { Dispatcher } from './dispatcher';
import { DuplicateFilter } from './duplicate-filter';
import { decodeBody, encodeEnvelope, peekMessage, type OsloMessage } from './envelope';
import { encodeFailure, type FaultVocabulary } from './failures';
import { hexUuid } from './ids';
import type { Publisher } from './publisher';
import { parseRequest, replyAddressOf, type ReplyAddress, type RpcRequest } from './request';
import {
  FANOUT_EXCHANGE_OPTIONS,
  TRANSIENT_QUEUE_OPTIONS,
  controlExchangeOptions,
  fanoutExchangeName,
  fanoutQueueName,
  topicQueueOptions,
  type QueueFlags,
} from './topology';
import type { Endpoint, Server } from './transport';

// oslo's kombu_missing_consumer_retry_timeout: how long a reply may wait for the broker.
const REPLY_DEADLINE_MS = 60_000;

export interface RpcServerOptions {
  connection: BrokerConnection;
  publisher: Publisher;
  controlExchange: string;
  faults: FaultVocabulary;
  flags: QueueFlags;
  prefetch: number;
  topic: string;
  server: string;
  endpoints: Endpoint[];
  fanout: boolean;
}

type Outcome = { result: unknown } | { error: unknown };

export class RpcServer implements Server {
  private readonly dispatcher: Dispatcher;
  private readonly duplicates = new DuplicateFilter();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly fanoutQueue?: string;
  private readonly consumer: ConsumerChannel;
  private stopping?: Promise<void>;

  constructor(private readonly opts: RpcServerOptions) {
    this.dispatcher = new Dispatcher(opts.endpoints);
    // One name for the server's lifetime, as oslo keeps it across reconnects.
    this.fanoutQueue = opts.fanout ? fanoutQueueName(opts.topic) : undefined;
    this.consumer = new ConsumerChannel(
      opts.connection,
      `RPC server ${opts.topic}.${opts.server}`,
      (channel) => this.declareAndConsume(channel),
    );
  }

  start(deadline: number): Promise<void> {
    return this.consumer.start(deadline);
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    await this.consumer.cancel();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    // Nobody else can consume this server's fanout queue; don't leave it for x-expires.
    if (this.fanoutQueue)
      await this.consumer.channel?.deleteQueue(this.fanoutQueue).catch(() => undefined);
    await this.consumer.close();
  }

  private async declareAndConsume(channel: Channel): Promise<string[]> {
    const { controlExchange, flags, topic, server, prefetch } = this.opts;
    // Per consumer: RabbitMQ refuses global QoS on quorum queues, closing the connection (540).
    await channel.prefetch(prefetch);
    await channel.assertExchange(controlExchange, 'topic', controlExchangeOptions(flags));
    const queues = [topic, `${topic}.${server}`];
    for (const queue of queues) {
      await channel.assertQueue(queue, topicQueueOptions(flags));
      await channel.bindQueue(queue, controlExchange, queue);
    }
    if (this.fanoutQueue) {
      const exchange = fanoutExchangeName(topic);
      await channel.assertExchange(exchange, 'fanout', FANOUT_EXCHANGE_OPTIONS);
      await channel.assertQueue(this.fanoutQueue, TRANSIENT_QUEUE_OPTIONS);
      await channel.bindQueue(this.fanoutQueue, exchange, topic);
      queues.push(this.fanoutQueue);
    }
    const tags: string[] = [];
    for (const queue of queues) {
      const { consumerTag } = await channel.consume(queue, (msg) => this.receive(channel, msg));
      tags.push(consumerTag);
    }
    return tags;
  }

  private receive(channel: Channel, msg: ConsumeMessage | null): void {
    if (!msg) {
      this.consumer.consumerCancelled(channel);
      return;
    }
    const handling = this.handle(msg)
      .catch((err: unknown) => {
        log.error('RPC message handling failed', { error: err });
      })
      .finally(() => {
        this.inFlight.delete(handling);
        this.acknowledge(channel, msg);
      });
    this.inFlight.add(handling);
  }

  private acknowledge(channel: Channel, msg: ConsumeMessage): void {
    try {
      channel.ack(msg);
    } catch {
      // The channel died with the connection: the broker redelivers the request and
      // the duplicate filter recognises it.
      log.debug('could not acknowledge a request on a closed channel', {
        queue: msg.fields.routingKey,
      });
    }
  }

  private async handle(msg: ConsumeMessage): Promise<void> {
    let message: OsloMessage;
    try {
      message = decodeBody(msg.content, msg.properties);
    } catch (err) {
      return this.reject(peekMessage(msg.content), err, msg);
    }
    const uniqueId = message._unique_id;
    if (typeof uniqueId !== 'string') return this.execute(message, msg);
    const { duplicate, done } = this.duplicates.run(uniqueId, () => this.execute(message, msg));
    if (duplicate) {
      log.info('dropped a duplicate request', {
        unique_id: uniqueId,
        redelivered: msg.fields.redelivered,
      });
    }
    // A duplicate is acknowledged only once the original is done, so a crash
    // in between still leaves one copy on the broker.
    await done;
  }

  private async reject(message: OsloMessage | undefined, err: unknown, msg: ConsumeMessage) {
    const address = message && replyAddressOf(message);
    log.warn('rejected an RPC message', {
      routing_key: msg.fields.routingKey,
      reason: (err as Error).message,
      reply: address !== undefined,
    });
    if (address) await this.reply(address, { error: err });
  }

  private async execute(message: OsloMessage, msg: ConsumeMessage): Promise<void> {
    let request: RpcRequest;
    try {
      request = parseRequest(message);
    } catch (err) {
      return this.reject(message, err, msg);
    }
    const { reply, heartbeatMs } = request;
    const heartbeat =
      reply && heartbeatMs
        ? setInterval(() => this.heartbeat(reply, heartbeatMs), heartbeatMs)
        : undefined;
    let outcome: Outcome;
    try {
      outcome = { result: await this.dispatcher.dispatch(request) };
    } catch (error) {
      outcome = { error };
      logFailure(request, error);
    } finally {
      clearInterval(heartbeat);
    }
    if (reply) await this.reply(reply, outcome);
  }

  // A heartbeat that cannot go out before the next one is due is useless.
  private heartbeat(address: ReplyAddress, intervalMs: number): void {
    const content = encodeEnvelope(replyMessage(address, null, null, false));
    this.publishReply(address, content, Date.now() + intervalMs).catch((err: unknown) =>
      log.debug('call-monitor heartbeat not sent', { msg_id: address.msgId, error: err }),
    );
  }

  private async reply(address: ReplyAddress, outcome: Outcome): Promise<void> {
    let content: Buffer;
    try {
      content = encodeEnvelope(
        'error' in outcome
          ? replyMessage(address, null, encodeFailure(outcome.error, this.opts.faults), true)
          : replyMessage(address, outcome.result, null, true),
      );
    } catch (err) {
      const failure = new InternalError(`the result is not JSON: ${(err as Error).message}`);
      content = encodeEnvelope(
        replyMessage(address, null, encodeFailure(failure, this.opts.faults), true),
      );
    }
    try {
      await this.publishReply(address, content, Date.now() + REPLY_DEADLINE_MS);
    } catch (err) {
      log.warn('could not send a reply', { msg_id: address.msgId, error: err });
    }
  }

  private publishReply(address: ReplyAddress, content: Buffer, deadline: number): Promise<void> {
    return this.opts.publisher.publish('', address.replyQ, content, { deadline, mandatory: true });
  }
}

function replyMessage(
  address: ReplyAddress,
  result: unknown,
  failure: string | null,
  ending: boolean,
): OsloMessage {
  return { result, failure, ending, _msg_id: address.msgId, _unique_id: hexUuid() };
}

// A caller handles the failures of its calls; a cast's failure is seen only here.
function logFailure(request: RpcRequest, error: unknown): void {
  const fields = { method: request.method, request_id: request.context.request_id, error };
  if (!request.reply) log.error('RPC cast failed', fields);
  else if (error instanceof BerthError) log.debug('RPC call failed', fields);
  else log.error('RPC call failed unexpectedly', fields);
}
