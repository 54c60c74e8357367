// Versioned notifications about a benchmark's instances, on a queue of its own,
// so that a benchmark learns that a build or delete is done when the compute
// says so instead of polling for it.

import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { NOTIFICATION_TOPIC } from '../driver/compute/notifications';
import { decodeBody, type OsloMessage } from '../messaging/envelope';
import { notificationRoutingKey } from '../messaging/notification';
import { controlExchangeOptions } from '../messaging/topology';

/** where the benchmarks' berth processes (Nova's default control_exchange) send them */
export const CONTROL_EXCHANGE = 'nova';
// Matches berth's declarations: the benchmarks never set amqp_durable_queues.
const QUEUE_FLAGS = { durableQueues: false, quorumQueues: false };
// Generous: with many builds in flight on 2 cores, one instance can queue for a while.
const EVENT_TIMEOUT_MS = 120_000;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Versioned notifications about the benchmark's instances, on a queue of its
 * own: berth's Transport sends notifications but has no listener.
 */
export class NotificationWaiter {
  private readonly waiters = new Map<string, Waiter>();
  /**
   * Outcomes that came before anyone waited for them: a client learns a
   * server's id only from the POST's answer, and the build may be done first.
   */
  private readonly early = new Map<string, unknown>();
  private failure?: unknown;
  private readonly onAbort = () => this.failAll(this.signal.reason);

  private constructor(
    private readonly conn: ChannelModel,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', this.onAbort);
  }

  static async open(amqpUrl: string, signal: AbortSignal): Promise<NotificationWaiter> {
    const conn = await amqp.connect(amqpUrl);
    const waiter = new NotificationWaiter(conn, signal);
    try {
      await waiter.consume(await conn.createChannel());
    } catch (err) {
      await waiter.close();
      throw err;
    }
    return waiter;
  }

  /** Resolves when `event` arrives for `uuid`; rejects if the operation reports an error. */
  wait(uuid: string, event: string): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const key = `${event} ${uuid}`;
    if (this.early.has(key)) {
      const err = this.early.get(key);
      this.early.delete(key);
      return err === undefined ? Promise.resolve() : Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle(key, new Error(`no ${event} for instance ${uuid}`)),
        EVENT_TIMEOUT_MS,
      );
      this.waiters.set(key, { resolve, reject, timer });
    });
  }

  failAll(err: unknown): void {
    this.failure ??= err;
    for (const key of [...this.waiters.keys()]) this.settle(key, err);
  }

  async close(): Promise<void> {
    this.signal.removeEventListener('abort', this.onAbort);
    this.failAll(new Error('the notification listener was closed'));
    await this.conn.close();
  }

  private async consume(channel: Channel): Promise<void> {
    await channel.assertExchange(CONTROL_EXCHANGE, 'topic', controlExchangeOptions(QUEUE_FLAGS));
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    for (const priority of ['INFO', 'ERROR'] as const) {
      await channel.bindQueue(
        queue,
        CONTROL_EXCHANGE,
        notificationRoutingKey(NOTIFICATION_TOPIC, priority),
      );
    }
    await channel.consume(
      queue,
      (msg) => {
        if (!msg) return this.failAll(new Error('the notification queue was cancelled'));
        try {
          this.deliver(decodeBody(msg.content, msg.properties));
        } catch (err) {
          this.failAll(err);
        }
      },
      { noAck: true },
    );
  }

  private deliver(message: OsloMessage): void {
    const eventType = String(message.event_type);
    const data = (message.payload as { 'nova_object.data'?: Record<string, unknown> } | null)?.[
      'nova_object.data'
    ];
    const uuid = String(data?.uuid);
    // instance.create.error answers whoever waits for instance.create.end.
    const failed = eventType.endsWith('.error');
    const key = `${failed ? eventType.replace(/\.error$/, '.end') : eventType} ${uuid}`;
    const fault = (data?.fault as { 'nova_object.data'?: { exception_message?: string } } | null)?.[
      'nova_object.data'
    ];
    if (failed) {
      this.settle(key, new Error(`${eventType} for ${uuid}: ${fault?.exception_message}`));
    } else if (eventType === 'instance.create.end' && data?.power_state !== 'running') {
      // The build is timed until the workload runs, not merely until berth answers.
      this.settle(key, new Error(`instance ${uuid} built but ${data?.power_state}`));
    } else {
      this.settle(key);
    }
  }

  private settle(key: string, err?: unknown): void {
    const waiter = this.waiters.get(key);
    if (!waiter) {
      // Only outcomes (an .error is keyed as its .end); a .start answers nobody.
      if (this.failure === undefined && key.split(' ')[0].endsWith('.end'))
        this.early.set(key, err);
      return;
    }
    this.waiters.delete(key);
    clearTimeout(waiter.timer);
    if (err === undefined) waiter.resolve();
    else waiter.reject(err);
  }
}
