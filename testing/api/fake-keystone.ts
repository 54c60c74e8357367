/**
 * A Keystone v3 stand-in on an ephemeral loopback port, for tests: it
 * issues a service token for one service user (POST /v3/auth/tokens,
 * password method, project scope by names) and validates tokens it issued
 * (GET /v3/auth/tokens) with Keystone's status codes: 401 for a bad
 * X-Auth-Token, 403 when the caller may not validate, 404 for a bad
 * X-Subject-Token. Expiry follows the clock the test passes in.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeServiceUser {
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  roles: string[];
}

interface Issued {
  userId: string;
  projectId?: string;
  roles: string[];
  expiresAt: number;
  service: boolean;
}

export interface FakeKeystone {
  /** the v3 root, e.g. http://127.0.0.1:40123/v3 */
  url: string;
  /** requests seen: POST (service token issued or refused), GET (validations), 401s answered to GET */
  calls: { post: number; get: number; rejectedServiceToken: number };
  /** lifetime of the service tokens issued from now on */
  serviceTokenTtlMs: number;
  /** every request answers this status instead; 'hang' never answers */
  failWith?: number | 'hang';
  issue(o: { userId: string; projectId?: string; roles: string[]; ttlMs?: number }): string;
  revoke(token: string): void;
  /** forgets every service token, as a fernet key rotation past them would */
  revokeServiceTokens(): void;
  close(): Promise<void>;
}

const SERVICE_USER_ID = 'fake-service-user';
const SERVICE_PROJECT_ID = 'fake-service-project';

function tokenBody(t: Issued, now: number) {
  const domain = { id: 'default', name: 'Default' };
  // Keystone writes microseconds.
  const iso = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');
  return {
    token: {
      methods: ['password'],
      user: { id: t.userId, name: t.userId, domain, password_expires_at: null },
      ...(t.projectId ? { project: { id: t.projectId, name: t.projectId, domain } } : {}),
      roles: t.roles.map((name) => ({ id: `role-${name}`, name })),
      audit_ids: [randomBytes(8).toString('base64url')],
      issued_at: iso(now),
      expires_at: iso(t.expiresAt),
      is_domain: false,
    },
  };
}

export async function startFakeKeystone(o: {
  service: FakeServiceUser;
  now: () => number;
}): Promise<FakeKeystone> {
  const tokens = new Map<string, Issued>();
  const live = (token: string | undefined) => {
    const t = token === undefined ? undefined : tokens.get(token);
    return t && t.expiresAt > o.now() ? t : undefined;
  };

  const fake: FakeKeystone = {
    url: '',
    calls: { post: 0, get: 0, rejectedServiceToken: 0 },
    serviceTokenTtlMs: 3_600_000,
    issue({ userId, projectId, roles, ttlMs = 3_600_000 }) {
      const token = `fake-${randomBytes(24).toString('base64url')}`;
      tokens.set(token, { userId, projectId, roles, expiresAt: o.now() + ttlMs, service: false });
      return token;
    },
    revoke: (token) => void tokens.delete(token),
    revokeServiceTokens() {
      for (const [token, t] of tokens) if (t.service) tokens.delete(token);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const send = (res: http.ServerResponse, status: number, body?: unknown, token?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers['x-subject-token'] = token;
    res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (res: http.ServerResponse, code: number, title: string) =>
    send(res, code, { error: { code, title, message: title } });

  function issueServiceToken(res: http.ServerResponse, raw: string) {
    const s = o.service;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a request body of any shape
    let auth: any;
    try {
      auth = JSON.parse(raw).auth;
    } catch {
      return error(res, 400, 'Bad Request');
    }
    const user = auth?.identity?.password?.user;
    const project = auth?.scope?.project;
    const ok =
      auth?.identity?.methods?.[0] === 'password' &&
      user?.name === s.username &&
      user?.password === s.password &&
      user?.domain?.name === s.userDomainName &&
      project?.name === s.projectName &&
      project?.domain?.name === s.projectDomainName;
    if (!ok) return error(res, 401, 'Unauthorized');
    const token = `fake-svc-${randomUUID()}`;
    const issued: Issued = {
      userId: SERVICE_USER_ID,
      projectId: SERVICE_PROJECT_ID,
      roles: s.roles,
      expiresAt: o.now() + fake.serviceTokenTtlMs,
      service: true,
    };
    tokens.set(token, issued);
    send(res, 201, tokenBody(issued, o.now()), token);
  }

  function validate(req: http.IncomingMessage, res: http.ServerResponse) {
    const caller = live(req.headers['x-auth-token'] as string | undefined);
    if (!caller) {
      fake.calls.rejectedServiceToken++;
      return error(res, 401, 'Unauthorized');
    }
    if (!caller.roles.some((role) => role === 'service' || role === 'admin'))
      return error(res, 403, 'Forbidden');
    const subject = live(req.headers['x-subject-token'] as string | undefined);
    if (!subject) return error(res, 404, 'Not Found');
    send(res, 200, tokenBody(subject, o.now()), req.headers['x-subject-token'] as string);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'POST') fake.calls.post++;
      if (req.method === 'GET') fake.calls.get++;
      if (fake.failWith === 'hang') return;
      if (fake.failWith) return error(res, fake.failWith, 'Failure');
      if (path !== '/v3/auth/tokens') return error(res, 404, 'Not Found');
      if (req.method === 'POST') return issueServiceToken(res, Buffer.concat(chunks).toString());
      if (req.method === 'GET') return validate(req, res);
      error(res, 405, 'Method Not Allowed');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
  return fake;
}
