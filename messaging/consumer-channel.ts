/**
 * A channel that consumes some queues and is set up again (declarations
 * included) on every new connection, and after the broker closes it or
 * cancels its consumers while the connection lives.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { log } from '../common/log';
import type { BrokerConnection } from './connection';

/** Declares and consumes on a fresh channel; returns the consumer tags. */
export type ConsumerSetUp = (channel: Channel) => Promise<string[]>;

// Channel close events fire before the connection's, so wait a moment to tell
// a closed channel from a lost connection (which the reconnect loop handles).
const REOPEN_DELAY_MS = 1000;
const START_ATTEMPTS = 3;

interface Active {
  conn: ChannelModel;
  channel: Channel;
  tags: string[];
}

export class ConsumerChannel {
  private active?: Active;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private unregister?: () => void;

  constructor(
    private readonly connection: BrokerConnection,
    private readonly what: string,
    private readonly setUp: ConsumerSetUp,
  ) {}

  get channel(): Channel | undefined {
    return this.active?.channel;
  }

  /**
   * Consumes on the current connection (waiting for one until `deadline`), then on every
   * later one. A set-up the broker refuses fails here rather than on every reconnect.
   */
  async start(deadline: number): Promise<void> {
    this.stopped = false;
    for (let attempt = 1; ; attempt++) {
      const conn = await this.connection.get(deadline);
      try {
        await this.openOn(conn);
        break;
      } catch (err) {
        // Losing the connection mid-set-up is worth another try, unless it keeps
        // happening: some refusals (e.g. 540 NOT_IMPLEMENTED) close the whole connection.
        if (this.connection.isAlive(conn) || attempt === START_ATTEMPTS) throw err;
      }
    }
    this.unregister = this.connection.onConnect((conn) => this.openOn(conn));
  }

  /** Stops deliveries; those already received are still being handled by their callbacks. */
  async cancel(): Promise<void> {
    this.stopped = true;
    this.unregister?.();
    await this.chain;
    const active = this.active;
    if (!active) return;
    await Promise.all(active.tags.map((tag) => active.channel.cancel(tag))).catch((err: unknown) =>
      log.debug(`${this.what}: cancelling consumers failed`, { error: err }),
    );
  }

  async close(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    await active?.channel.close().catch(() => undefined);
  }

  /** The broker cancelled a consumer (its queue was deleted): start over on a fresh channel. */
  consumerCancelled(channel: Channel): void {
    log.warn(`${this.what}: the broker cancelled the consumer`);
    channel.close().catch(() => undefined);
  }

  private openOn(conn: ChannelModel): Promise<void> {
    const next = this.chain.then(() => this.open(conn));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async open(conn: ChannelModel): Promise<void> {
    if (this.stopped || this.active?.conn === conn) return;
    const channel = await conn.createChannel();
    let open = true;
    channel.on('error', (err: Error) =>
      log.warn(`${this.what}: channel closed by the broker`, { error: err }),
    );
    channel.on('close', () => {
      open = false;
      this.closed(conn, channel);
    });
    let tags: string[];
    try {
      tags = await this.setUp(channel);
    } catch (err) {
      await channel.close().catch(() => undefined);
      throw err;
    }
    if (!open) throw new Error(`${this.what}: channel closed while setting up`);
    this.active = { conn, channel, tags };
  }

  private closed(conn: ChannelModel, channel: Channel): void {
    if (this.active?.channel !== channel) return;
    this.active = undefined;
    setTimeout(() => {
      if (this.stopped || !this.connection.isAlive(conn)) return;
      log.warn(`${this.what}: channel closed; consuming again`);
      this.openOn(conn).catch((err: unknown) =>
        log.error(`${this.what}: cannot consume again`, { error: err }),
      );
    }, REOPEN_DELAY_MS);
  }
}
