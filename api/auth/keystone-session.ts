/**
 * berth's own session with Keystone v3, as keystonemiddleware keeps one:
 * a project-scoped service token got with the [keystone_authtoken]
 * password credentials, replaced before it expires or when Keystone stops
 * accepting it, and used to validate users' tokens.
 *
 * Whatever keeps Keystone from answering (unreachable, failing, refusing
 * berth's own credentials) is an UnavailableError: the user's token was
 * not judged, so the caller must not be told it is invalid.
 */
import type { Logger } from 'winston';
import type { KeystoneAuthtokenSection } from '../../config/schema';
import { UnavailableError } from '../../common/errors';

/** What berth needs from a validated token. */
export interface KeystoneToken {
  userId: string;
  /** absent for unscoped, domain- and system-scoped tokens */
  projectId?: string;
  roles: string[];
  /** epoch milliseconds */
  expiresAt: number;
}

export interface KeystoneSessionOptions {
  settings: KeystoneAuthtokenSection;
  log: Logger;
  now: () => number;
  timeoutMs: number;
}

// keystoneauth replaces a token that has less than two minutes left, so a
// request never starts with a token that expires on the way.
const REFRESH_MARGIN_MS = 120_000;

const CLIENT_MESSAGE = 'The identity service is unavailable; try again later.';

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** The v3 root of auth_url; an unversioned auth_url is accepted, as keystoneauth accepts it. */
export function identityV3Url(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/v3') ? trimmed : `${trimmed}/v3`;
}

export class KeystoneSession {
  private readonly v3: string;
  private service?: { token: string; refreshAt: number };
  private fetching?: Promise<string>;

  constructor(private readonly o: KeystoneSessionOptions) {
    this.v3 = identityV3Url(o.settings.auth_url);
  }

  /** The token's facts, or undefined when Keystone says it is not valid (404). */
  async validate(userToken: string): Promise<KeystoneToken | undefined> {
    const used = await this.serviceToken();
    let answer = await this.getToken(used, userToken);
    if (answer.status === 401) {
      // Keystone no longer takes berth's token (revoked, fernet keys
      // rotated past it): get a new one and ask once more, as keystonemiddleware does.
      this.forget(used);
      answer = await this.getToken(await this.serviceToken(), userToken);
    }
    switch (answer.status) {
      case 200:
        return this.parseToken(answer.body, 'GET /auth/tokens');
      case 404:
        return undefined;
      case 401:
        throw this.unavailable('Keystone rejected a freshly issued service token');
      case 403:
        throw this.unavailable(
          `Keystone does not let ${this.o.settings.username} validate tokens; give it the service (or admin) role on project ${this.o.settings.project_name}`,
        );
      default:
        throw this.unavailable(`GET ${this.v3}/auth/tokens answered ${answer.status}`);
    }
  }

  private getToken(serviceToken: string, userToken: string): Promise<Answer> {
    return this.call('GET', {
      'x-auth-token': serviceToken,
      'x-subject-token': userToken,
    });
  }

  /** The current service token; concurrent callers share one fetch of a new one. */
  async serviceToken(): Promise<string> {
    if (this.service && this.o.now() < this.service.refreshAt) return this.service.token;
    this.fetching ??= this.issueServiceToken().finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private forget(token: string): void {
    if (this.service?.token === token) this.service = undefined;
  }

  private async issueServiceToken(): Promise<string> {
    const s = this.o.settings;
    const answer = await this.call(
      'POST',
      { 'content-type': 'application/json' },
      {
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                name: s.username,
                domain: { name: s.user_domain_name },
                password: s.password,
              },
            },
          },
          scope: { project: { name: s.project_name, domain: { name: s.project_domain_name } } },
        },
      },
    );
    if (answer.status === 401)
      throw this.unavailable(
        `Keystone refused berth's service credentials ([keystone_authtoken] username = ${s.username}, user_domain_name = ${s.user_domain_name}, project_name = ${s.project_name}, project_domain_name = ${s.project_domain_name})`,
      );
    const token = answer.headers.get('x-subject-token');
    if (answer.status !== 201 || !token)
      throw this.unavailable(`POST ${this.v3}/auth/tokens answered ${answer.status}`);
    const { expiresAt } = this.parseToken(answer.body, 'POST /auth/tokens');
    const now = this.o.now();
    // A token issued with less than twice the margin to live is renewed halfway instead.
    const margin = Math.min(REFRESH_MARGIN_MS, (expiresAt - now) / 2);
    this.service = { token, refreshAt: expiresAt - margin };
    this.o.log.info('got a Keystone service token', {
      auth_url: this.v3,
      username: s.username,
      expires_at: new Date(expiresAt).toISOString(),
    });
    return token;
  }

  // The service catalog is left out: berth reads nothing from it and it is most of the body.
  private async call(
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Answer> {
    const url = `${this.v3}/auth/tokens?nocatalog`;
    try {
      const res = await fetch(url, {
        method,
        headers: { accept: 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed };
    } catch (err) {
      throw this.unavailable(`${method} ${url} failed: ${describe(err)}`, err);
    }
  }

  private parseToken(body: unknown, what: string): KeystoneToken {
    const token = (body as { token?: Record<string, unknown> } | undefined)?.token;
    const user = token?.user as { id?: unknown } | undefined;
    const project = token?.project as { id?: unknown } | undefined;
    const roles = Array.isArray(token?.roles) ? (token.roles as { name?: unknown }[]) : [];
    const expiresAt = Date.parse(String(token?.expires_at));
    if (typeof user?.id !== 'string' || Number.isNaN(expiresAt))
      throw this.unavailable(`${what} answered a body without token.user.id and expires_at`);
    return {
      userId: user.id,
      projectId: typeof project?.id === 'string' ? project.id : undefined,
      roles: roles
        .map((role) => role.name)
        .filter((name): name is string => typeof name === 'string'),
      expiresAt,
    };
  }

  private unavailable(detail: string, cause?: unknown): UnavailableError {
    this.o.log.error('Keystone unavailable', { auth_url: this.v3, detail });
    return new UnavailableError(CLIENT_MESSAGE, { cause: cause ?? new Error(detail) });
  }
}

// fetch reports a refused connection as "fetch failed" with the errno in its cause.
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  if (err.name === 'TimeoutError') return err.message;
  return cause?.code ?? cause?.message ?? err.message;
}
