/**
 * `[api] auth_strategy = keystone` against a real Keystone: Debian's
 * keystone package (Zed) run by the test as its WSGI dev server, on a
 * private config dir with a SQLite database and fernet keys, set up the
 * way an operator would (db_sync, fernet_setup, credential_setup, bootstrap,
 * a service user with the service role, a demo project and user).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import type { KeystoneAuthtokenSection } from '../config/schema';
import { KeystoneAuthenticator } from '../api/auth/keystone';
import { toApiFault } from '../api/faults';
import { startTestApi } from '../testing/api/test-api';
import { tempStateDir, waitFor } from './harness';

const ADMIN_PASSWORD = 'it-admin-secret';
const SERVICE_PASSWORD = 'it-nova-secret';
const DEMO_PASSWORD = 'it-demo-secret';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir && fs.existsSync(path.join(dir, command)));
}

function keystoneMissing(): string | undefined {
  for (const command of ['keystone-manage', 'keystone-wsgi-public'])
    if (!onPath(command))
      return `${command} not found: install Debian's keystone package (apt-get install keystone)`;
  return undefined;
}

/** A Keystone of its own: config, database and keys in `dir`, the dev server on a kernel-chosen port. */
class LocalKeystone {
  readonly conf: string;
  private server?: ChildProcess;
  private stderr = '';
  url = '';

  constructor(readonly dir: string) {
    this.conf = path.join(dir, 'keystone.conf');
    fs.writeFileSync(
      this.conf,
      [
        '[DEFAULT]',
        'use_stderr = true',
        '[database]',
        `connection = sqlite:///${path.join(dir, 'keystone.sqlite')}`,
        '[fernet_tokens]',
        `key_repository = ${path.join(dir, 'fernet-keys')}`,
        '[credential]',
        `key_repository = ${path.join(dir, 'credential-keys')}`,
        '',
      ].join('\n'),
    );
  }

  manage(...args: string[]): void {
    const r = spawnSync('keystone-manage', ['--config-file', this.conf, ...args], {
      cwd: this.dir,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0)
      throw new Error(
        `keystone-manage ${args[0]} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-2000)}`,
      );
  }

  setUp(): void {
    const user = spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
    const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
    const owner = ['--keystone-user', user, '--keystone-group', group];
    this.manage('db_sync');
    this.manage('fernet_setup', ...owner);
    this.manage('credential_setup', ...owner);
    this.manage('bootstrap', '--bootstrap-password', ADMIN_PASSWORD);
  }

  async start(): Promise<void> {
    // Its own process group, so the whole server goes with one signal.
    const server = spawn(
      'keystone-wsgi-public',
      ['--host', '127.0.0.1', '--port', '0', '--', '--config-file', this.conf],
      { cwd: this.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.server = server;
    let stdout = '';
    server.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    // The dev server prints its address only once the application is loaded.
    const port = await waitFor(
      'keystone-wsgi-public to listen',
      () => {
        if (server.exitCode !== null)
          throw new Error(`keystone-wsgi-public exited ${server.exitCode}: ${this.stderr}`);
        return /Available at http:\/\/[^:]+:(\d+)\//.exec(stdout)?.[1];
      },
      60_000,
    );
    this.url = `http://127.0.0.1:${port}/v3`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server?.pid || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    process.kill(-server.pid, 'SIGTERM');
    const killer = setTimeout(() => process.kill(-server.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }

  /** A project-scoped token, as `openstack token issue` gets one. */
  async token(user: string, password: string, project: string): Promise<string> {
    const res = await fetch(`${this.url}/auth/tokens?nocatalog`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: user, domain: { name: 'Default' }, password } },
          },
          scope: { project: { name: project, domain: { name: 'Default' } } },
        },
      }),
    });
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) throw new Error(`token for ${user}: ${res.status}`);
    return token;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Keystone's bodies, read by the test
  async call(token: string, method: string, urlPath: string, body?: unknown): Promise<any> {
    const res = await fetch(this.url + urlPath, {
      method,
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300)
      throw new Error(`${method} ${urlPath}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? undefined : res.json();
  }
}

describe('Keystone authentication against a real Keystone', { skip: keystoneMissing() }, () => {
  let keystone: LocalKeystone;
  const ids = { demoUser: '', demoProject: '', adminUser: '', adminProject: '' };
  const log = winston.createLogger({ silent: true });
  let auth: KeystoneAuthenticator;
  let settings: KeystoneAuthtokenSection;

  before(
    async () => {
      keystone = new LocalKeystone(tempStateDir('keystone'));
      keystone.setUp();
      await keystone.start();
      const admin = await keystone.token('admin', ADMIN_PASSWORD, 'admin');
      const roleId = async (name: string) =>
        (await keystone.call(admin, 'GET', `/roles?name=${name}`)).roles[0].id as string;
      const create = async (kind: 'project' | 'user' | 'role', fields: object) =>
        (await keystone.call(admin, 'POST', `/${kind}s`, { [kind]: fields }))[kind].id as string;
      const grant = (project: string, user: string, role: string) =>
        keystone.call(admin, 'PUT', `/projects/${project}/users/${user}/roles/${role}`);

      // What a deployment gives nova: a service project and a user with the service role in it.
      const service = await create('project', { name: 'service', domain_id: 'default' });
      const nova = await create('user', {
        name: 'nova',
        domain_id: 'default',
        password: SERVICE_PASSWORD,
      });
      await grant(service, nova, await create('role', { name: 'service' }));

      ids.demoProject = await create('project', { name: 'demo', domain_id: 'default' });
      ids.demoUser = await create('user', {
        name: 'demo',
        domain_id: 'default',
        password: DEMO_PASSWORD,
      });
      await grant(ids.demoProject, ids.demoUser, await roleId('member'));
      ids.adminUser = (await keystone.call(admin, 'GET', '/users?name=admin')).users[0].id;
      ids.adminProject = (await keystone.call(admin, 'GET', '/projects?name=admin')).projects[0].id;

      settings = {
        auth_url: keystone.url,
        www_authenticate_uri: keystone.url,
        username: 'nova',
        password: SERVICE_PASSWORD,
        project_name: 'service',
        user_domain_name: 'Default',
        project_domain_name: 'Default',
      };
      auth = new KeystoneAuthenticator(settings, { log });
    },
    { timeout: 180_000 },
  );

  after(async () => {
    if (!keystone) return;
    await keystone.stop();
    fs.rmSync(keystone.dir, { recursive: true, force: true });
  });

  test('a member token authenticates as its user and project, not as admin', async () => {
    const creds = await auth.authenticate(await keystone.token('demo', DEMO_PASSWORD, 'demo'));
    assert.equal(creds.userId, ids.demoUser);
    assert.equal(creds.projectId, ids.demoProject);
    // Keystone expands implied roles: member implies reader.
    assert.deepEqual([...creds.roles].sort(), ['member', 'reader']);
    assert.equal(creds.isAdmin, false);
  });

  test('an admin token is an admin', async () => {
    const creds = await auth.authenticate(await keystone.token('admin', ADMIN_PASSWORD, 'admin'));
    assert.equal(creds.userId, ids.adminUser);
    assert.equal(creds.projectId, ids.adminProject);
    assert.ok(creds.roles.includes('admin'));
    assert.equal(creds.isAdmin, true);
  });

  test('a garbage token is a 401 that points at Keystone', async () => {
    await assert.rejects(auth.authenticate('gAAAAABgarbage'), (err: unknown) => {
      const fault = toApiFault(err);
      assert.equal(fault.status, 401);
      assert.deepEqual(fault.headers, { 'WWW-Authenticate': `Keystone uri="${keystone.url}"` });
      return true;
    });
  });

  test('a revoked token is a 401', async () => {
    const token = await keystone.token('demo', DEMO_PASSWORD, 'demo');
    const admin = await keystone.token('admin', ADMIN_PASSWORD, 'admin');
    await fetch(`${keystone.url}/auth/tokens`, {
      method: 'DELETE',
      headers: { 'x-auth-token': admin, 'x-subject-token': token },
    });
    const fresh = new KeystoneAuthenticator(settings, { log });
    await assert.rejects(fresh.authenticate(token), (err: unknown) => {
      assert.equal(toApiFault(err).status, 401);
      return true;
    });
  });

  test('wrong service credentials are a 503', async () => {
    const misconfigured = new KeystoneAuthenticator({ ...settings, password: 'wrong' }, { log });
    const token = await keystone.token('demo', DEMO_PASSWORD, 'demo');
    await assert.rejects(misconfigured.authenticate(token), (err: unknown) => {
      assert.equal(toApiFault(err).status, 503);
      return true;
    });
  });

  test('through the compute API: 401 with WWW-Authenticate, then 200 with a real token', async () => {
    const api = await startTestApi({ auth });
    try {
      const refused = await api.request('GET', '/v2.1/servers', { token: 'not-a-token' });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('www-authenticate'), `Keystone uri="${keystone.url}"`);
      const token = await keystone.token('demo', DEMO_PASSWORD, 'demo');
      const listed = await api.request('GET', '/v2.1/servers', { token });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body, { servers: [] });
    } finally {
      await api.close();
    }
  });
});
