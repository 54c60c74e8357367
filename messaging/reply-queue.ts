/**
 * The per-process reply queue `reply_<uuid hex>` of calls: declared on the
 * first call, consumed without acknowledgements (a reply is worthless to a
 * process that died), and declared again under the same name after every
 * reconnect, so a server still working on a call across a broker restart
 * can deliver its reply.
 */
import { log } from '../common/log';
import type { BrokerConnection } from './connection';
import { ConsumerChannel } from './consumer-channel';
import { decodeBody } from './envelope';
import type { ReplyWaiter } from './reply-waiter';
import { TRANSIENT_QUEUE_OPTIONS, replyQueueName } from './topology';

export class ReplyQueue {
  readonly name = replyQueueName();
  private readonly consumer: ConsumerChannel;
  private started?: Promise<void>;

  constructor(connection: BrokerConnection, waiter: ReplyWaiter) {
    this.consumer = new ConsumerChannel(connection, `reply queue ${this.name}`, async (channel) => {
      await channel.assertQueue(this.name, TRANSIENT_QUEUE_OPTIONS);
      const consumer = await channel.consume(
        this.name,
        (msg) => {
          if (!msg) return this.consumer.consumerCancelled(channel);
          try {
            waiter.deliver(decodeBody(msg.content, msg.properties));
          } catch (err) {
            log.warn('dropped an unreadable reply', { reason: (err as Error).message });
          }
        },
        { noAck: true },
      );
      return [consumer.consumerTag];
    });
  }

  /** Consuming before the first request goes out, so its reply cannot be missed. */
  async ready(deadline: number): Promise<string> {
    this.started ??= this.consumer.start(deadline).catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    await this.started;
    return this.name;
  }

  /** Stops consuming and deletes the queue: no reply can reach this process any more. */
  async delete(): Promise<void> {
    if (!this.started) return;
    await this.consumer.cancel();
    await this.consumer.channel?.deleteQueue(this.name).catch(() => undefined);
    await this.consumer.close();
  }
}
