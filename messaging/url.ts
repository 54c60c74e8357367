/** oslo's transport_url: rabbit://user:pass@host:port[,user:pass@host2:port2]/vhost */
import { InvalidArgumentError } from '../common/errors';

export interface BrokerHost {
  hostname: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  /** tried in order, the next one after a failed attempt */
  hosts: BrokerHost[];
  vhost: string;
}

const DEFAULT_PORT = 5672;

function decode(text: string, url: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new InvalidArgumentError(`transport_url ${redact(url)}: bad percent-encoding`);
  }
}

/** The URL without passwords, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/([/,][^:/@,]*:)[^@/,]*@/g, '$1***@');
}

function parseHost(text: string, url: string): BrokerHost {
  const at = text.lastIndexOf('@');
  const userinfo = at >= 0 ? text.slice(0, at) : undefined;
  const hostport = text.slice(at + 1);
  // An IPv6 literal is bracketed; otherwise the port follows the last colon.
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hostport);
  if (!match)
    throw new InvalidArgumentError(`transport_url ${redact(url)}: bad host "${hostport}"`);
  const port = match[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (port < 1 || port > 65535) {
    throw new InvalidArgumentError(`transport_url ${redact(url)}: bad port ${match[2]}`);
  }
  const colon = userinfo?.indexOf(':') ?? -1;
  // kombu's default credentials when the URL names none
  const [username, password] =
    userinfo === undefined
      ? ['guest', 'guest']
      : colon < 0
        ? [userinfo, '']
        : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  return {
    hostname: match[1].replace(/^\[|\]$/g, ''),
    port,
    username: decode(username, url),
    password: decode(password, url),
  };
}

export function parseTransportUrl(url: string): TransportUrl {
  const match = /^rabbit:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?[^#]*)?$/.exec(url);
  if (!match) {
    throw new InvalidArgumentError(
      `transport_url ${redact(url)}: expected rabbit://user:pass@host:port/vhost`,
    );
  }
  const hosts = match[1].split(',').filter((h) => h !== '');
  if (hosts.length === 0) throw new InvalidArgumentError(`transport_url ${redact(url)}: no host`);
  // An empty path is the default virtual host "/", as kombu reads it.
  const vhost = decode(match[2] ?? '', url) || '/';
  return { hosts: hosts.map((h) => parseHost(h, url)), vhost };
}
