/** The fields of an oslo RPC request (inside `oslo.message`), read and written. */
import type { RequestContext } from './transport';
import { MalformedMessageError, type OsloMessage } from './envelope';
import { hexUuid } from './ids';
import { parseVersion } from './version';

const CONTEXT_PREFIX = '_context_';

/** Where the reply to a call goes: a queue behind the default exchange, and the id to echo. */
export interface ReplyAddress {
  msgId: string;
  replyQ: string;
}

export interface RpcRequest {
  method: string;
  args: Record<string, unknown>;
  version: string;
  namespace?: string;
  uniqueId?: string;
  /** absent for casts */
  reply?: ReplyAddress;
  /** how often to heartbeat while the method runs; absent when the caller has no call monitor */
  heartbeatMs?: number;
  context: RequestContext;
}

export function packContext(context: RequestContext = {}): OsloMessage {
  return Object.fromEntries(Object.entries(context).map(([k, v]) => [CONTEXT_PREFIX + k, v]));
}

export function unpackContext(message: OsloMessage): RequestContext {
  return Object.fromEntries(
    Object.entries(message)
      .filter(([k]) => k.startsWith(CONTEXT_PREFIX))
      .map(([k, v]) => [k.slice(CONTEXT_PREFIX.length), v]),
  );
}

export function replyAddressOf(message: OsloMessage): ReplyAddress | undefined {
  const { _msg_id: msgId, _reply_q: replyQ } = message;
  return typeof msgId === 'string' && typeof replyQ === 'string' ? { msgId, replyQ } : undefined;
}

// oslo heartbeats every int(_timeout)/2 seconds and ignores intervals under one second.
function heartbeatMs(timeout: unknown): number | undefined {
  if (typeof timeout !== 'number' || !Number.isFinite(timeout)) return undefined;
  const interval = Math.trunc(timeout) / 2;
  return interval >= 1 ? interval * 1000 : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(message: OsloMessage, key: string): string | undefined {
  const value = message[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new MalformedMessageError(`${key} is not a string`);
  return value;
}

export function parseRequest(message: OsloMessage): RpcRequest {
  const { method, args = {} } = message;
  if (typeof method !== 'string' || method === '') {
    throw new MalformedMessageError('request has no method');
  }
  if (!isObject(args)) throw new MalformedMessageError(`args of ${method} is not an object`);
  const version = optionalString(message, 'version') ?? '1.0';
  try {
    parseVersion(version);
  } catch (err) {
    throw new MalformedMessageError((err as Error).message);
  }
  const reply = replyAddressOf(message);
  return {
    method,
    args,
    version,
    namespace: optionalString(message, 'namespace'),
    uniqueId: optionalString(message, '_unique_id'),
    reply,
    heartbeatMs: reply && heartbeatMs(message._timeout),
    context: unpackContext(message),
  };
}

export interface OutgoingRequest {
  method: string;
  args: Record<string, unknown>;
  version?: string;
  namespace?: string;
  /** calls only: where to reply, and the caller's call-monitor timeout in seconds or null */
  reply?: ReplyAddress & { callMonitorTimeout: number | null };
  context?: RequestContext;
}

/** The request in oslo's field order, with a fresh _unique_id. */
export function requestMessage(request: OutgoingRequest): OsloMessage {
  const { method, args, version, namespace, reply, context } = request;
  return {
    method,
    args,
    ...(namespace === undefined ? {} : { namespace }),
    ...(version === undefined ? {} : { version }),
    ...(reply && {
      _msg_id: reply.msgId,
      _reply_q: reply.replyQ,
      _timeout: reply.callMonitorTimeout,
    }),
    _unique_id: hexUuid(),
    ...packContext(context),
  };
}
