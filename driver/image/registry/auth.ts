/**
 * Registry credentials and the two challenges distribution answers with:
 * `Basic` (htpasswd) and `Bearer realm=…,service=…,scope=…` (the token
 * flow of the distribution spec: GET the realm with service and scope,
 * with basic auth when there are credentials, and send the token back).
 * Credentials come from the call (`--username/--password`) or a Docker /
 * containers auth.json (`[registry] auth_file`); the call's win. Tokens
 * are kept per registry and scope until they expire. Neither credentials
 * nor tokens are ever logged or put in an error message.
 */
import fs from 'node:fs';
import type { Logger } from '../../../common/log';
import { InvalidArgumentError } from '../../../common/errors';
import { ImageSourceUnavailable, RegistryAuthError } from '../image-errors';
import { readBody, type RegistryTransport } from './transport';
import { DOCKER_HUB } from './reference';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  /** lowercase: 'bearer' or 'basic' (or whatever else a server says) */
  scheme: string;
  params: Record<string, string>;
}

/**
 * The first challenge of a WWW-Authenticate header: a scheme, then
 * `key=value` or `key="quoted, value"` pairs separated by commas.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  const m = header && /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const pair = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/gy;
  let p: RegExpExecArray | null;
  while ((p = pair.exec(m[2])) !== null && p[0] !== '')
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** Docker writes Hub's key as its v1 URL, podman as a bare host; both name docker.io here. */
function authKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io'].includes(host) ? DOCKER_HUB : host;
}

/**
 * The credentials of an auth.json, by registry host:port. Entries carry
 * `auth` (base64 of "user:password") or `username`/`password`.
 */
export function readAuthFile(file: string): Map<string, Credentials> {
  const bad = (why: string) => new InvalidArgumentError(`[registry] auth_file ${file}: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    // The text is not quoted: a half-written file may hold a password.
    throw bad(err instanceof SyntaxError ? 'not valid JSON' : (err as Error).message);
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (!auths || typeof auths !== 'object' || Array.isArray(auths))
    throw bad('expected {"auths": {"host:port": {"auth": "<base64 user:password>"}}}');
  const out = new Map<string, Credentials>();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const e = (entry ?? {}) as Record<string, unknown>;
    let creds: Credentials | undefined;
    if (typeof e.auth === 'string' && e.auth) {
      const plain = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon <= 0) throw bad(`the "auth" of ${key} is not base64 of "user:password"`);
      creds = { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
    } else if (typeof e.username === 'string' && typeof e.password === 'string')
      creds = { username: e.username, password: e.password };
    if (creds) out.set(authKey(key), creds);
  }
  return out;
}

const basic = (c: Credentials) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/** Tokens are refreshed this long before they expire, so a request never carries a stale one. */
const EXPIRY_MARGIN_MS = 5000;
/** The spec's default lifetime when a token server says none. */
const DEFAULT_TOKEN_SECONDS = 60;

export class RegistryAuth {
  /** by "registry scope": a bearer token and when it stops being good */
  private readonly tokens = new Map<string, { header: string; until: number }>();
  /** registries that answered a Basic challenge: later requests send it up front */
  private readonly basicRegistries = new Set<string>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly transport: RegistryTransport,
    private readonly credentials: (registry: string) => Credentials | undefined,
    private readonly log: Logger,
  ) {}

  /** The Authorization header to send without waiting for a challenge, if one is known. */
  header(registry: string, repository: string): string | undefined {
    const token = this.tokens.get(`${registry} ${pullScope(repository)}`);
    if (token && token.until > Date.now()) return token.header;
    const creds = this.basicRegistries.has(registry) ? this.credentials(registry) : undefined;
    return creds && basic(creds);
  }

  /** The Authorization header that answers `challenge`; RegistryAuthError when it cannot be had. */
  answer(registry: string, repository: string, header: string | undefined): Promise<string> {
    const key = `${registry} ${pullScope(repository)}`;
    let job = this.inflight.get(key);
    if (!job) {
      job = this.answerOnce(registry, repository, header).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    return job;
  }

  /** A 401/403 that survived the auth flow (or a token server's own refusal). */
  refused(registry: string, repository: string): RegistryAuthError {
    const why = this.credentials(registry)
      ? ''
      : ' (no credentials are configured for it: [registry] auth_file, or --username/--password)';
    return new RegistryAuthError(
      `registry ${registry} refused the credentials for repo ${repository}${why}`,
    );
  }

  private async answerOnce(
    registry: string,
    repository: string,
    header: string | undefined,
  ): Promise<string> {
    const challenge = parseChallenge(header);
    const creds = this.credentials(registry);
    if (challenge?.scheme === 'basic') {
      if (!creds) throw this.refused(registry, repository);
      this.basicRegistries.add(registry);
      return basic(creds);
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm)
      throw new RegistryAuthError(
        `registry ${registry} asks for authentication berth does not speak (WWW-Authenticate: ${challenge?.scheme ?? 'none'}) for repo ${repository}`,
      );
    const scope = pullScope(repository);
    const realm = new URL(challenge.params.realm);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', scope);
    const what = `token for repo ${repository} of registry ${registry}`;
    const res = await this.transport.get(realm, {
      what,
      headers: creds ? { authorization: basic(creds) } : {},
    });
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw this.refused(registry, repository);
    }
    const body = await readBody(res, 1 << 20, what);
    if (res.status !== 200)
      throw new ImageSourceUnavailable(`${what}: the token server answered ${res.status}`);
    const token = tokenOf(body, what);
    this.log.debug('registry token received', { registry, scope, expires_in: token.seconds });
    const entry = {
      header: `Bearer ${token.value}`,
      // Counted from receipt, not issued_at: a skewed token server clock must not matter.
      until: Date.now() + token.seconds * 1000 - EXPIRY_MARGIN_MS,
    };
    this.tokens.set(`${registry} ${scope}`, entry);
    return entry.header;
  }
}

export const pullScope = (repository: string) => `repository:${repository}:pull`;

function tokenOf(body: Buffer, what: string): { value: string; seconds: number } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ImageSourceUnavailable(`${what}: the token server's answer is not JSON`);
  }
  const value = typeof doc.token === 'string' ? doc.token : doc.access_token;
  if (typeof value !== 'string' || !value)
    throw new ImageSourceUnavailable(`${what}: the token server's answer has no token`);
  const seconds =
    typeof doc.expires_in === 'number' && doc.expires_in > 0
      ? doc.expires_in
      : DEFAULT_TOKEN_SECONDS;
  return { value, seconds };
}
