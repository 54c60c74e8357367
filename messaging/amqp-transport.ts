/**
 * The Transport on RabbitMQ (amqplib), wire-compatible with oslo.messaging
 * 14 peers: what it declares, publishes and reads is described in
 * topology.ts, envelope.ts, request.ts and notification.ts.
 */
import os from 'node:os';
import type { BerthConfig } from '../config/schema';
import { UnavailableError } from '../common/errors';
import {
  BrokerConnection,
  BrokerUnavailable,
  DEFAULT_RECONNECT,
  type ReconnectOptions,
} from './connection';
import { encodeEnvelope } from './envelope';
import type { FaultVocabulary } from './failures';
import { hexUuid } from './ids';
import { notificationMessage, notificationRoutingKey } from './notification';
import { Publisher, type Declaration } from './publisher';
import { ReplyQueue } from './reply-queue';
import { ReplyWaiter } from './reply-waiter';
import { requestMessage } from './request';
import { RpcServer } from './rpc-server';
import {
  FANOUT_EXCHANGE_OPTIONS,
  controlExchangeOptions,
  fanoutExchangeName,
  topicQueueOptions,
  type QueueFlags,
} from './topology';
import {
  MessagingTimeout,
  type CallOptions,
  type Endpoint,
  type FanoutOptions,
  type NotificationPriority,
  type RequestContext,
  type Server,
  type ServeOptions,
  type Target,
  type Transport,
} from './transport';
import { parseTransportUrl } from './url';

export interface AmqpTransportOptions {
  /** oslo's transport_url, e.g. rabbit://guest:guest@127.0.0.1:5672/ */
  transportUrl: string;
  controlExchange: string;
  /** the exceptions peers re-raise for what this process's servers throw */
  faults: FaultVocabulary;
  /** [oslo_messaging_rabbit] amqp_durable_queues of the deployment */
  durableQueues?: boolean;
  /** [oslo_messaging_rabbit] rabbit_quorum_queue of the deployment */
  quorumQueues?: boolean;
  /** unacknowledged requests per queue a server consumes: bounds the handlers running at once */
  prefetch?: number;
  /** seconds a call waits for its reply when the caller gives no timeout (oslo: 60) */
  callTimeout?: number;
  /** seconds casts, notifications and serve() wait for a broker connection */
  sendTimeout?: number;
  reconnect?: ReconnectOptions;
  connectionName?: string;
}

/** The broker half of the options; the caller names its fault vocabulary. */
export function transportOptionsFromConfig(
  config: BerthConfig,
): Omit<AmqpTransportOptions, 'faults'> {
  return {
    transportUrl: config.DEFAULT.transport_url,
    controlExchange: config.DEFAULT.control_exchange,
    durableQueues: config.oslo_messaging_rabbit.amqp_durable_queues,
    quorumQueues: config.oslo_messaging_rabbit.rabbit_quorum_queue,
    connectionName: `berth:${config.DEFAULT.host}:${process.pid}`,
  };
}

const DEFAULT_PREFETCH = 64;
const DEFAULT_TIMEOUT_S = 60;

export class AmqpTransport implements Transport {
  private readonly connection: BrokerConnection;
  private readonly publisher: Publisher;
  private readonly waiter = new ReplyWaiter();
  private readonly replies: ReplyQueue;
  private readonly servers = new Set<RpcServer>();
  private readonly flags: QueueFlags;
  private readonly controlExchange: Declaration;
  private closing?: Promise<void>;

  constructor(private readonly opts: AmqpTransportOptions) {
    this.flags = {
      durableQueues: opts.durableQueues ?? false,
      quorumQueues: opts.quorumQueues ?? false,
    };
    const url = parseTransportUrl(opts.transportUrl);
    this.connection = new BrokerConnection(url, {
      reconnect: opts.reconnect ?? DEFAULT_RECONNECT,
      connectionName: opts.connectionName ?? `berth:${os.hostname()}:${process.pid}`,
    });
    this.publisher = new Publisher(this.connection);
    this.replies = new ReplyQueue(this.connection, this.waiter);
    this.controlExchange = {
      key: `exchange ${opts.controlExchange}`,
      declare: (channel) =>
        channel.assertExchange(opts.controlExchange, 'topic', controlExchangeOptions(this.flags)),
    };
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  async call(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts: CallOptions = {},
  ): Promise<unknown> {
    if (this.closing) throw new UnavailableError('the transport is closed');
    const timeoutMs = (opts.timeout ?? this.opts.callTimeout ?? DEFAULT_TIMEOUT_S) * 1000;
    const deadline = Date.now() + timeoutMs;
    const monitor = opts.callMonitorTimeout;
    const msgId = hexUuid();
    const reply = this.waiter.wait(msgId, {
      timeoutMs,
      monitorMs: monitor === undefined ? undefined : monitor * 1000,
    });
    // The reply can time out while the request still waits for the broker; the
    // caller sees that rejection below, so it must not count as unhandled meanwhile.
    reply.catch(() => undefined);
    try {
      const replyQ = await this.replies.ready(deadline);
      const request = requestMessage({
        method,
        args,
        version: target.version,
        namespace: target.namespace,
        reply: { msgId, replyQ, callMonitorTimeout: monitor ?? null },
        context: opts.context,
      });
      await this.publisher.publish(
        this.opts.controlExchange,
        routingKey(target),
        encodeEnvelope(request),
        {
          deadline,
          // RabbitMQ drops a request nobody took before the caller gave up on it.
          expiration: String(timeoutMs),
          declare: this.controlExchange,
        },
      );
    } catch (err) {
      this.waiter.cancel(msgId);
      if (err instanceof BrokerUnavailable) {
        throw new MessagingTimeout(
          `Timed out sending ${method} to ${routingKey(target)}: ${err.message}`,
        );
      }
      throw err;
    }
    return reply;
  }

  async cast(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts: { context?: RequestContext } = {},
  ): Promise<void> {
    const request = requestMessage({
      method,
      args,
      version: target.version,
      namespace: target.namespace,
      context: opts.context,
    });
    await this.publisher.publish(
      this.opts.controlExchange,
      routingKey(target),
      encodeEnvelope(request),
      {
        deadline: this.sendDeadline(),
        declare: this.controlExchange,
      },
    );
  }

  async fanoutCast(
    topic: string,
    method: string,
    args: Record<string, unknown>,
    opts: FanoutOptions = {},
  ): Promise<void> {
    const exchange = fanoutExchangeName(topic);
    const { version, namespace, context } = opts;
    const request = requestMessage({ method, args, version, namespace, context });
    await this.publisher.publish(exchange, '', encodeEnvelope(request), {
      deadline: this.sendDeadline(),
      declare: {
        key: `exchange ${exchange}`,
        declare: (channel) => channel.assertExchange(exchange, 'fanout', FANOUT_EXCHANGE_OPTIONS),
      },
    });
  }

  async serve(
    target: { topic: string; server: string },
    endpoints: Endpoint[],
    opts: ServeOptions = {},
  ): Promise<Server> {
    if (this.closing) throw new UnavailableError('the transport is closed');
    const server = new RpcServer({
      connection: this.connection,
      publisher: this.publisher,
      controlExchange: this.opts.controlExchange,
      faults: this.opts.faults,
      flags: this.flags,
      prefetch: this.opts.prefetch ?? DEFAULT_PREFETCH,
      topic: target.topic,
      server: target.server,
      endpoints,
      fanout: opts.fanout ?? false,
    });
    await server.start(this.sendDeadline());
    this.servers.add(server);
    return {
      stop: async () => {
        await server.stop();
        this.servers.delete(server);
      },
    };
  }

  async notify(
    topic: string,
    publisherId: string,
    eventType: string,
    payload: unknown,
    priority: NotificationPriority = 'INFO',
    context?: RequestContext,
  ): Promise<void> {
    const { controlExchange } = this.opts;
    const key = notificationRoutingKey(topic, priority);
    const message = notificationMessage({ publisherId, eventType, payload, priority, context });
    await this.publisher.publish(controlExchange, key, encodeEnvelope(message), {
      deadline: this.sendDeadline(),
      // Like oslo: a queue per topic and priority keeps notifications until someone consumes them.
      declare: {
        key: `notification queue ${key}`,
        declare: async (channel) => {
          await channel.assertExchange(
            controlExchange,
            'topic',
            controlExchangeOptions(this.flags),
          );
          await channel.assertQueue(key, topicQueueOptions(this.flags));
          await channel.bindQueue(key, controlExchange, key);
        },
      },
    });
  }

  /** Stops the servers gracefully, fails pending calls, deletes the reply queue, disconnects. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await Promise.all([...this.servers].map((server) => server.stop()));
    this.waiter.failAll(new UnavailableError('the transport was closed before the reply came'));
    await this.replies.delete();
    await this.publisher.close();
    await this.connection.close();
  }

  private sendDeadline(): number {
    return Date.now() + (this.opts.sendTimeout ?? DEFAULT_TIMEOUT_S) * 1000;
  }
}

function routingKey(target: Target): string {
  return target.server ? `${target.topic}.${target.server}` : target.topic;
}
