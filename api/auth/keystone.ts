/**
 * auth_strategy = keystone: each X-Auth-Token is validated with Keystone
 * (GET /v3/auth/tokens under berth's own service token), as
 * keystonemiddleware's auth_token does for nova-api. Results are cached:
 * valid tokens until min(expires_at, 5 minutes), invalid ones briefly.
 */
import type { Logger } from 'winston';
import type { KeystoneAuthtokenSection } from '../../config/schema';
import type { Credentials } from '../context';
import { forbidden, unauthorized, type ApiFault } from '../faults';
import type { Authenticator } from './authenticator';
import { KeystoneSession, type KeystoneToken } from './keystone-session';
import { TokenCache } from './token-cache';

export interface KeystoneAuthenticatorOptions {
  log: Logger;
  /** epoch milliseconds; tests move it */
  now?: () => number;
  /** per request to Keystone */
  timeoutMs?: number;
  /** most tokens remembered, valid and invalid together */
  cacheSize?: number;
}

// keystonemiddleware's token_cache_time default: a revoked token keeps working this long at most.
const VALID_CACHE_MS = 300_000;
// keystonemiddleware remembers an invalid token for token_cache_time too. Shorter
// here because a token Keystone has just issued can be unknown for a moment to
// a Keystone node whose fernet keys or database replica lag behind.
const INVALID_CACHE_MS = 10_000;

// A token is an opaque printable ASCII string (fernet, JWS). Anything else is
// refused before it reaches a request header Keystone would have to parse.
const TOKEN = /^[\x21-\x7e]+$/;

/** null: Keystone said the token is not valid. */
type Verdict = KeystoneToken | null;

export class KeystoneAuthenticator implements Authenticator {
  private readonly session: KeystoneSession;
  private readonly cache: TokenCache<Verdict>;
  private readonly inflight = new Map<string, Promise<Verdict>>();
  private readonly now: () => number;
  private readonly challenge: Record<string, string>;

  constructor(settings: KeystoneAuthtokenSection, o: KeystoneAuthenticatorOptions) {
    this.now = o.now ?? Date.now;
    this.session = new KeystoneSession({
      settings,
      log: o.log,
      now: this.now,
      timeoutMs: o.timeoutMs ?? 10_000,
    });
    this.cache = new TokenCache(o.cacheSize ?? 10_000, this.now);
    // Tells a client where to get a token, as keystonemiddleware does on every 401.
    this.challenge = { 'WWW-Authenticate': `Keystone uri="${settings.www_authenticate_uri}"` };
  }

  async authenticate(token: string | undefined): Promise<Credentials> {
    if (!token || !TOKEN.test(token)) throw this.unauthorized();
    const verdict = await this.verdictFor(token);
    if (!verdict) throw this.unauthorized();
    if (!verdict.projectId)
      throw forbidden('The token is not scoped to a project; berth needs a project-scoped token.');
    return {
      userId: verdict.userId,
      projectId: verdict.projectId,
      // A copy: the cached verdict must not change with what a request does to its context.
      roles: [...verdict.roles],
      // Nova's context_is_admin rule is role:admin.
      isAdmin: verdict.roles.includes('admin'),
    };
  }

  /** Cached, or one Keystone call shared by every request that carries the same token meanwhile. */
  private verdictFor(token: string): Promise<Verdict> {
    const key = TokenCache.keyOf(token);
    const cached = this.cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.validate(key, token).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  // Only Keystone's own verdicts are cached: an unavailable Keystone judged nothing.
  private async validate(key: string, token: string): Promise<Verdict> {
    const found = await this.session.validate(token);
    const now = this.now();
    if (found && found.expiresAt > now) {
      this.cache.set(key, found, Math.min(found.expiresAt, now + VALID_CACHE_MS));
      return found;
    }
    this.cache.set(key, null, now + INVALID_CACHE_MS);
    return null;
  }

  private unauthorized(): ApiFault {
    return unauthorized(undefined, this.challenge);
  }
}
