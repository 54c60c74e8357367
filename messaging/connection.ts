/**
 * One AMQP connection to the first reachable broker of the transport URL,
 * re-established with exponential backoff whenever it is lost. Consumers
 * register hooks that run on every new connection before anyone waiting
 * to publish is woken, so replies never race a missing reply queue.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { log } from '../common/log';
import { UnavailableError } from '../common/errors';
import type { BrokerHost, TransportUrl } from './url';

export interface ReconnectOptions {
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = { initialDelayMs: 100, maxDelayMs: 5000 };

// A dead broker (or network path) is noticed within about two heartbeats.
const HEARTBEAT_S = 30;
const CONNECT_TIMEOUT_MS = 10_000;

/** No broker connection within the time allowed, or the transport is closed. */
export class BrokerUnavailable extends UnavailableError {}

export type ConnectHook = (conn: ChannelModel) => Promise<void>;

export interface BrokerConnectionOptions {
  reconnect: ReconnectOptions;
  /** shown by `rabbitmqctl list_connections user_provided_name` */
  connectionName: string;
}

function describe(host: BrokerHost): string {
  return `${host.hostname}:${host.port}`;
}

export class BrokerConnection {
  private current?: ChannelModel;
  private readonly dead = new WeakSet<ChannelModel>();
  private readonly hooks = new Set<ConnectHook>();
  private readonly wakers = new Set<() => void>();
  private closing = false;
  private cancelSleep?: () => void;
  private readonly loop: Promise<void>;

  constructor(
    private readonly url: TransportUrl,
    private readonly opts: BrokerConnectionOptions,
  ) {
    this.loop = this.run();
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** False once `conn` has closed: errors on its channels then mean "connection lost". */
  isAlive(conn: ChannelModel): boolean {
    return !this.dead.has(conn);
  }

  /** The live connection, waiting for a (re)connect until `deadline` (ms since the epoch). */
  async get(deadline: number): Promise<ChannelModel> {
    for (;;) {
      if (this.closing) throw new BrokerUnavailable('the transport is closed');
      if (this.current) return this.current;
      const left = deadline - Date.now();
      if (left <= 0) throw new BrokerUnavailable('not connected to the message broker');
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.wakers.add(wake);
      });
    }
  }

  /** Runs `hook` on every new connection until the returned function is called. */
  onConnect(hook: ConnectHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cancelSleep?.();
    this.wakeAll();
    const conn = this.current;
    this.current = undefined;
    if (conn) await conn.close().catch(() => undefined);
    await this.loop;
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.cancelSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async connect(host: BrokerHost): Promise<ChannelModel> {
    const conn = await amqp.connect(
      {
        protocol: 'amqp',
        hostname: host.hostname,
        port: host.port,
        username: host.username,
        password: host.password,
        vhost: this.url.vhost,
        heartbeat: HEARTBEAT_S,
      },
      {
        timeout: CONNECT_TIMEOUT_MS,
        // Without it Nagle's algorithm holds each small RPC frame back ~40 ms.
        noDelay: true,
        clientProperties: { connection_name: this.opts.connectionName },
      },
    );
    // Marked synchronously: channel errors caused by the loss are raised in the same turn.
    conn.on('close', () => this.dead.add(conn));
    conn.on('error', (err: Error) => log.warn('message broker connection error', { error: err }));
    conn.on('blocked', (reason: string) =>
      log.warn('message broker blocks publishing', { reason }),
    );
    conn.on('unblocked', () => log.info('message broker unblocked publishing'));
    return conn;
  }

  private async runHooks(conn: ChannelModel): Promise<void> {
    await Promise.all(
      [...this.hooks].map((hook) =>
        hook(conn).catch((err: unknown) => {
          if (this.isAlive(conn)) log.error('set-up after connecting failed', { error: err });
        }),
      ),
    );
  }

  private async run(): Promise<void> {
    const { hosts } = this.url;
    const { initialDelayMs, maxDelayMs } = this.opts.reconnect;
    let delay = initialDelayMs;
    let index = 0;
    while (!this.closing) {
      const host = hosts[index];
      let conn: ChannelModel;
      try {
        conn = await this.connect(host);
      } catch (err) {
        log.warn('cannot connect to the message broker', {
          broker: describe(host),
          error: err,
          retry_in_ms: delay,
        });
        index = (index + 1) % hosts.length;
        await this.sleep(delay);
        delay = Math.min(delay * 2, maxDelayMs);
        continue;
      }
      if (this.closing) {
        await conn.close().catch(() => undefined);
        break;
      }
      const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
      log.info('connected to the message broker', { broker: describe(host) });
      await this.runHooks(conn);
      if (this.closing) {
        await conn.close().catch(() => undefined);
        break;
      }
      if (this.isAlive(conn)) {
        this.current = conn;
        delay = initialDelayMs;
        this.wakeAll();
      }
      await closed;
      if (this.current === conn) this.current = undefined;
      if (this.closing) break;
      log.warn('lost the message broker connection; reconnecting', { broker: describe(host) });
      await this.sleep(delay);
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
