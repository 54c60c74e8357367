/**
 * `[api] auth_strategy = keystone` against a real Keystone: Debian's
 * keystone package (Zed) of the test's own (fixtures/keystone.ts), with
 * a service user with the service role, a demo project and user.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import type { KeystoneAuthtokenSection } from '../config/schema';
import { KeystoneAuthenticator } from '../api/auth/keystone';
import { toApiFault } from '../api/faults';
import { startTestApi } from '../testing/api/test-api';
import { tempStateDir } from './harness';
import { KEYSTONE_ADMIN_PASSWORD, keystoneMissing, LocalKeystone } from './fixtures/keystone';

const SERVICE_PASSWORD = 'it-nova-secret';
const DEMO_PASSWORD = 'it-demo-secret';

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
      const admin = await keystone.token('admin', KEYSTONE_ADMIN_PASSWORD, 'admin');
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
    const creds = await auth.authenticate(
      await keystone.token('admin', KEYSTONE_ADMIN_PASSWORD, 'admin'),
    );
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
    const admin = await keystone.token('admin', KEYSTONE_ADMIN_PASSWORD, 'admin');
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
