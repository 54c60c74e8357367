/**
 * The Transport seam (design §3): oslo.messaging semantics — targets,
 * calls, casts, fanout and notifications — with a real implementation on
 * RabbitMQ (amqp-transport.ts) and an in-memory one for unit tests
 * (testing/messaging/fake-transport.ts). Wire format: oslo.messaging 14 / Nova Zed.
 */

/** An RPC target as oslo.messaging names it. */
export interface Target {
  topic: string;
  /** a specific server (routing key `topic.server`); absent = any server of the topic */
  server?: string;
  /** the version the caller needs, "X.Y" */
  version?: string;
  namespace?: string;
}

/** oslo.context entries; travel as `_context_<key>` fields. */
export type RequestContext = Record<string, unknown> & { request_id?: string };

export interface CallOptions {
  /** overall timeout in seconds (also the AMQP expiration of the request) */
  timeout?: number;
  /** call-monitor timeout in seconds: the server heartbeats every half of it */
  callMonitorTimeout?: number;
  context?: RequestContext;
}

/** What an endpoint method receives besides its arguments. */
export interface Incoming {
  context: RequestContext;
  method: string;
  /** true for calls (a reply is expected) */
  expectsReply: boolean;
}

export type EndpointMethod = (args: Record<string, unknown>, incoming: Incoming) => unknown;

/** A set of methods served under one version/namespace, like an oslo endpoint object. */
export interface Endpoint {
  /** the version implemented, "X.Y": requests for the same major and a lower or equal minor match */
  version: string;
  namespace?: string;
  methods: Record<string, EndpointMethod>;
}

/** A fanout cast reaches every server of a topic; servers still check version and namespace. */
export interface FanoutOptions {
  context?: RequestContext;
  version?: string;
  namespace?: string;
}

export interface ServeOptions {
  /** also consume the topic's fanout exchange */
  fanout?: boolean;
}

export interface Server {
  /** stop consuming, wait for in-flight handlers to finish and their replies to be published */
  stop(): Promise<void>;
}

export type NotificationPriority =
  'INFO' | 'WARN' | 'ERROR' | 'DEBUG' | 'AUDIT' | 'CRITICAL' | 'SAMPLE';

export interface Transport {
  call(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts?: CallOptions,
  ): Promise<unknown>;
  cast(
    target: Target,
    method: string,
    args: Record<string, unknown>,
    opts?: { context?: RequestContext },
  ): Promise<void>;
  fanoutCast(
    topic: string,
    method: string,
    args: Record<string, unknown>,
    opts?: FanoutOptions,
  ): Promise<void>;
  /** serves `topic` and `topic.server` (and the fanout exchange when asked) with the endpoints */
  serve(
    target: { topic: string; server: string },
    endpoints: Endpoint[],
    opts?: ServeOptions,
  ): Promise<Server>;
  /**
   * Publishes a notification on `topic` (e.g. versioned_notifications) as
   * `publisherId` (e.g. nova-compute:node-1).
   */
  notify(
    topic: string,
    publisherId: string,
    eventType: string,
    payload: unknown,
    priority?: NotificationPriority,
    context?: RequestContext,
  ): Promise<void>;
  /** true while connected to the broker */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * A failure as it travels in an oslo reply: the Python class and module
 * the peer re-raises (nova.exception classes where one fits).
 */
export class RemoteError extends Error {
  constructor(
    readonly exceptionClass: string,
    readonly module: string,
    message: string,
    readonly kwargs: Record<string, unknown> = {},
    readonly traceback: string[] = [],
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** The call got no reply (or no heartbeat) in time: oslo's MessagingTimeout. */
export class MessagingTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessagingTimeout';
  }
}
