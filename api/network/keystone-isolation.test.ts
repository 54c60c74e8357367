import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import winston from 'winston';
import { berthSchema } from '../../config/schema';
import { startFakeKeystone, type FakeKeystone } from '../../testing/api/fake-keystone';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';
import { KeystoneAuthenticator } from '../auth/keystone';

describeEachDatabase('network API in keystone mode', (database) => {
  let keystone: FakeKeystone;
  let api: TestApi;
  const tokens: Record<string, string> = {};
  before(async () => {
    keystone = await startFakeKeystone({
      now: Date.now,
      service: {
        username: 'nova',
        password: 'secret',
        projectName: 'service',
        userDomainName: 'Default',
        projectDomainName: 'Default',
        roles: ['service'],
      },
    });
    const { value } = berthSchema.validate({
      keystone_authtoken: {
        auth_url: keystone.url,
        username: 'nova',
        password: 'secret',
        project_name: 'service',
      },
    });
    const log = winston.createLogger({ silent: true });
    api = await startTestApi({
      database,
      auth: new KeystoneAuthenticator(value.keystone_authtoken, { log }),
    });
    tokens.demo = keystone.issue({
      userId: 'u-demo',
      projectId: 'p-demo',
      roles: ['member', 'reader'],
    });
    tokens.alt = keystone.issue({
      userId: 'u-alt',
      projectId: 'p-alt',
      roles: ['member', 'reader'],
    });
    tokens.admin = keystone.issue({
      userId: 'u-admin',
      projectId: 'p-admin',
      roles: ['admin', 'member', 'reader'],
    });
  });
  after(async () => {
    await api?.close();
    await keystone?.close();
  });

  it('answers without a valid token with keystonemiddleware’s 401, discovery still open', async () => {
    assert.equal((await api.request('GET', '/network/', { token: null })).status, 200);
    for (const token of [null, 'not-a-token']) {
      const r = await api.request('GET', '/network/v2.0/networks', { token });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 401);
      assert.ok(r.headers.get('www-authenticate'));
    }
  });

  it('keeps projects apart: others’ resources are 404, an admin sees them, each project gets its default group', async () => {
    const net = await api.request('POST', '/network/v2.0/networks', {
      token: tokens.demo,
      body: { network: { name: 'ks' } },
    });
    assert.equal(net.status, 201);
    assert.equal(net.body.network.project_id, 'p-demo');
    const id = net.body.network.id;
    assert.equal(
      (await api.request('GET', `/network/v2.0/networks/${id}`, { token: tokens.alt })).status,
      404,
    );
    assert.equal(
      (await api.request('GET', `/network/v2.0/networks/${id}`, { token: tokens.admin })).status,
      200,
    );
    const groups = async (token: string) =>
      (
        await api.request('GET', '/network/v2.0/security-groups', { token })
      ).body.security_groups.map((g: { project_id: string }) => g.project_id);
    assert.deepEqual(await groups(tokens.alt), ['p-alt']);
    assert.deepEqual((await groups(tokens.admin)).sort(), ['p-admin', 'p-alt', 'p-demo']);
    const pub = (
      await api.request('GET', '/network/v2.0/networks?router%3Aexternal=true', {
        token: tokens.alt,
      })
    ).body.networks;
    assert.deepEqual(
      pub.map((n: { name: string }) => n.name),
      ['public'],
    );
  });
});
