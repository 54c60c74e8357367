/**
 * The oslo.messaging 2.0 envelope: a JSON object whose `oslo.message` is
 * itself a JSON string (double encoding), with the AMQP properties kombu
 * puts on every publish.
 */
import { InvalidArgumentError } from '../common/errors';
import { versionIsCompatible } from './version';

const ENVELOPE_VERSION = '2.0';
const VERSION_KEY = 'oslo.version';
const MESSAGE_KEY = 'oslo.message';

/** A message berth cannot read: it is rejected (and answered with a failure when it is a call). */
export class MalformedMessageError extends InvalidArgumentError {}

// delivery_mode 2 even on transient queues: kombu's default, and what oslo peers send.
export const PUBLISH_PROPERTIES = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
} as const;

export type OsloMessage = Record<string, unknown>;

export function encodeEnvelope(message: OsloMessage): Buffer {
  return Buffer.from(
    JSON.stringify({ [VERSION_KEY]: ENVELOPE_VERSION, [MESSAGE_KEY]: JSON.stringify(message) }),
  );
}

function isObject(value: unknown): value is OsloMessage {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(text: string, what: string): OsloMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MalformedMessageError(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new MalformedMessageError(`${what} is not a JSON object`);
  return value;
}

/** Unwraps a 2.0 envelope; like oslo, a dict without both envelope keys is a bare 1.0 message. */
function unwrapEnvelope(body: OsloMessage): OsloMessage {
  if (!(VERSION_KEY in body && MESSAGE_KEY in body)) return body;
  const version = body[VERSION_KEY];
  let compatible = false;
  try {
    compatible = typeof version === 'string' && versionIsCompatible(ENVELOPE_VERSION, version);
  } catch {
    // an unparseable version is reported below like any incompatible one
  }
  if (!compatible) {
    throw new MalformedMessageError(`unsupported envelope version ${JSON.stringify(version)}`);
  }
  const inner = body[MESSAGE_KEY];
  if (typeof inner !== 'string') throw new MalformedMessageError(`${MESSAGE_KEY} is not a string`);
  return parseObject(inner, MESSAGE_KEY);
}

export interface ContentProperties {
  contentType?: unknown;
  contentEncoding?: unknown;
}

/** Decodes a delivered body; oslo peers only read application/json in UTF-8. */
export function decodeBody(content: Buffer, properties: ContentProperties): OsloMessage {
  if (properties.contentType !== PUBLISH_PROPERTIES.contentType) {
    throw new MalformedMessageError(
      `unsupported content type ${JSON.stringify(properties.contentType ?? null)}`,
    );
  }
  const encoding = properties.contentEncoding;
  if (encoding !== undefined && !/^utf-?8$/i.test(String(encoding))) {
    throw new MalformedMessageError(`unsupported content encoding ${JSON.stringify(encoding)}`);
  }
  return unwrapEnvelope(parseObject(content.toString('utf8'), 'message body'));
}

/**
 * Best effort for a message that failed to decode: the inner message if
 * the body is JSON at all, whatever its content type or envelope version,
 * so a caller can still be told why its call was rejected.
 */
export function peekMessage(content: Buffer): OsloMessage | undefined {
  try {
    const body: unknown = JSON.parse(content.toString('utf8'));
    if (!isObject(body)) return undefined;
    const inner = body[MESSAGE_KEY];
    if (typeof inner !== 'string') return body;
    const message: unknown = JSON.parse(inner);
    return isObject(message) ? message : undefined;
  } catch {
    return undefined;
  }
}
