/**
 * Publishes with publisher confirms on one channel per connection. A publish
 * interrupted by a lost connection is retried on the next one until its
 * deadline (receivers drop the duplicate by _unique_id); one whose channel
 * the broker closed is tried once more on a new channel; a broker refusal
 * of the publish itself is an error.
 */
import type { Channel, ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { log } from '../common/log';
import { UnavailableError } from '../common/errors';
import type { BrokerConnection } from './connection';
import { PUBLISH_PROPERTIES } from './envelope';

/** Entities a publish needs, declared once per channel like oslo's per-connection cache. */
export interface Declaration {
  key: string;
  declare(channel: Channel): Promise<unknown>;
}

export interface PublishOptions {
  /** ms since the epoch: give up waiting for a connection then */
  deadline: number;
  expiration?: string;
  /** have the broker return it when no queue is bound (replies: the caller is gone) */
  mandatory?: boolean;
  declare?: Declaration;
}

interface OpenChannel {
  conn: ChannelModel;
  channel: Promise<ConfirmChannel>;
  declared: Set<string>;
}

function confirmPublish(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.publish(exchange, routingKey, content, options, (err: unknown) =>
      err ? reject(err instanceof Error ? err : new UnavailableError(String(err))) : resolve(),
    );
  });
}

export class Publisher {
  private open?: OpenChannel;

  constructor(private readonly connection: BrokerConnection) {}

  async publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    opts: PublishOptions,
  ): Promise<void> {
    let reopened = false;
    for (;;) {
      const conn = await this.connection.get(opts.deadline);
      const open = this.channelOn(conn);
      try {
        const channel = await open.channel;
        if (opts.declare && !open.declared.has(opts.declare.key)) {
          await opts.declare.declare(channel);
          open.declared.add(opts.declare.key);
        }
        await confirmPublish(channel, exchange, routingKey, content, {
          ...PUBLISH_PROPERTIES,
          ...(opts.expiration === undefined ? {} : { expiration: opts.expiration }),
          mandatory: opts.mandatory ?? false,
        });
        return;
      } catch (err) {
        if (this.connection.isAlive(conn)) {
          // The broker closed the channel under this publish: another one on it
          // was refused, or an auto-delete exchange it had declared went away
          // with its last queue. Once more, on a new channel that declares afresh.
          if (this.open === open || reopened) throw err;
          reopened = true;
          log.debug('publish interrupted by a closed channel; retrying', { exchange, routingKey });
          continue;
        }
        log.debug('publish interrupted by a lost connection; retrying', { exchange, routingKey });
      }
    }
  }

  async close(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (open) await (await open.channel.catch(() => undefined))?.close().catch(() => undefined);
  }

  private channelOn(conn: ChannelModel): OpenChannel {
    if (this.open?.conn === conn) return this.open;
    const declared = new Set<string>();
    const forget = () => {
      if (this.open === open) this.open = undefined;
    };
    const open: OpenChannel = { conn, channel: this.createChannel(conn, forget), declared };
    open.channel.catch(forget);
    this.open = open;
    return open;
  }

  private async createChannel(conn: ChannelModel, onClose: () => void): Promise<ConfirmChannel> {
    const channel = await conn.createConfirmChannel();
    // A refused declaration closes the channel: the next publish opens a new one.
    channel.on('error', (err: Error) =>
      log.warn('publishing channel closed by the broker', { error: err }),
    );
    channel.on('close', onClose);
    channel.on('return', (message: Message) =>
      log.warn('message returned: no queue for it (caller gone?)', {
        exchange: message.fields.exchange,
        routing_key: message.fields.routingKey,
      }),
    );
    return channel;
  }
}
