/**
 * An in-memory Transport for unit tests of what sits on top of messaging:
 * requests and results travel as JSON and go through the same request
 * parsing, dispatcher and failure mapping (Nova's) as on the wire, so
 * version and namespace rules, NoSuchMethod and RemoteError behave as with
 * RabbitMQ.
 */
import { log } from '../../common/log';
import { UnavailableError } from '../../common/errors';
import { Dispatcher } from '../../messaging/dispatcher';
import { decodeFailure, encodeFailure } from '../../messaging/failures';
import { NOVA_FAULTS } from '../../nova/faults';
import { notificationRoutingKey, sanitizeContext } from '../../messaging/notification';
import { parseRequest, requestMessage, type RpcRequest } from '../../messaging/request';
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
} from '../../messaging/transport';

/** A notification as the fake transport would have published it. */
export interface SentNotification {
  topic: string;
  /** `<topic>.<priority lowercased>` */
  routingKey: string;
  publisherId: string;
  eventType: string;
  priority: NotificationPriority;
  payload: unknown;
  /** filtered like on the wire: no token or catalog */
  context: RequestContext;
}

interface FakeServer {
  topic: string;
  server: string;
  fanout: boolean;
  dispatcher: Dispatcher;
}

const DEFAULT_TIMEOUT_S = 60;

function overTheWire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

export class FakeTransport implements Transport {
  readonly notifications: SentNotification[] = [];
  private servers: FakeServer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly nextServer = new Map<string, number>();
  private closed = false;

  get connected(): boolean {
    return !this.closed;
  }

  async call(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts: CallOptions = {},
  ): Promise<unknown> {
    const request = this.request(target, method, args, opts.context, true);
    const server = this.pick(target);
    // On RabbitMQ a request nobody consumes expires and the caller times out.
    if (!server) throw new MessagingTimeout(`no server consumes ${routingKey(target)}`);
    const timeoutMs = (opts.timeout ?? DEFAULT_TIMEOUT_S) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new MessagingTimeout(`${method} on ${routingKey(target)} timed out`)),
        timeoutMs,
      );
    });
    try {
      return overTheWire(await Promise.race([server.dispatcher.dispatch(request), timeout]));
    } catch (err) {
      throw err instanceof MessagingTimeout ? err : decodeFailure(encodeFailure(err, NOVA_FAULTS));
    } finally {
      clearTimeout(timer);
    }
  }

  async cast(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts: { context?: RequestContext } = {},
  ): Promise<void> {
    const request = this.request(target, method, args, opts.context, false);
    const server = this.pick(target);
    if (server) this.deliver(server, request);
  }

  async fanoutCast(
    topic: string,
    method: string,
    args: Record<string, unknown>,
    opts: FanoutOptions = {},
  ): Promise<void> {
    const { version, namespace, context } = opts;
    const request = this.request({ topic, version, namespace }, method, args, context, false);
    for (const server of this.servers.filter((s) => s.topic === topic && s.fanout)) {
      this.deliver(server, request);
    }
  }

  async serve(
    target: { topic: string; server: string },
    endpoints: Endpoint[],
    opts: ServeOptions = {},
  ): Promise<Server> {
    this.checkOpen();
    const server: FakeServer = {
      ...target,
      fanout: opts.fanout ?? false,
      dispatcher: new Dispatcher(endpoints),
    };
    this.servers.push(server);
    return {
      stop: async () => {
        this.servers = this.servers.filter((s) => s !== server);
        await this.settle();
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
    this.checkOpen();
    this.notifications.push({
      topic,
      routingKey: notificationRoutingKey(topic, priority),
      publisherId,
      eventType,
      priority,
      payload: overTheWire(payload),
      context: overTheWire(sanitizeContext(context)),
    });
  }

  /** Waits until every cast delivered so far (and any it caused) has been handled. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.servers = [];
    await this.settle();
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError('the transport is closed');
  }

  private request(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    context: RequestContext | undefined,
    isCall: boolean,
  ): RpcRequest {
    this.checkOpen();
    const reply = isCall ? { msgId: 'fake', replyQ: 'fake', callMonitorTimeout: null } : undefined;
    const { version, namespace } = target;
    return parseRequest(
      overTheWire(requestMessage({ method, args, version, namespace, reply, context })),
    );
  }

  // `topic.server` reaches that server; a bare topic goes round-robin, like a shared queue.
  private pick(target: Target): FakeServer | undefined {
    if (target.server) {
      return this.servers.find((s) => s.topic === target.topic && s.server === target.server);
    }
    const candidates = this.servers.filter((s) => s.topic === target.topic);
    if (candidates.length === 0) return undefined;
    const turn = this.nextServer.get(target.topic) ?? 0;
    this.nextServer.set(target.topic, turn + 1);
    return candidates[turn % candidates.length];
  }

  private deliver(server: FakeServer, request: RpcRequest): void {
    const handling = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => server.dispatcher.dispatch(request))
      .then(
        () => undefined,
        (err: unknown) => {
          log.error('RPC cast failed', { method: request.method, error: err });
        },
      )
      .finally(() => this.inFlight.delete(handling));
    this.inFlight.add(handling);
  }
}

function routingKey(target: Target): string {
  return target.server ? `${target.topic}.${target.server}` : target.topic;
}
