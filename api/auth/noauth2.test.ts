import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiFault } from '../faults';
import { assertLoopback, Noauth2Authenticator } from './noauth2';

const auth = new Noauth2Authenticator();

test('"user:project" is that user in that project', async () => {
  assert.deepEqual(await auth.authenticate('alice:proj1'), {
    userId: 'alice',
    projectId: 'proj1',
    isAdmin: false,
    roles: ['member', 'reader'],
  });
});

test('"user" alone is also its own project', async () => {
  const creds = await auth.authenticate('bob');
  assert.equal(creds.userId, 'bob');
  assert.equal(creds.projectId, 'bob');
  assert.equal(creds.isAdmin, false);
});

test('the user called admin is an admin, in any project', async () => {
  const creds = await auth.authenticate('admin:ops');
  assert.equal(creds.isAdmin, true);
  assert.equal(creds.projectId, 'ops');
  assert.ok(creds.roles.includes('admin'));
});

for (const token of [undefined, '', ':proj', '  '])
  test(`token ${JSON.stringify(token)} is a 401 unauthorized fault`, async () => {
    await assert.rejects(auth.authenticate(token), (err: unknown) => {
      assert.ok(err instanceof ApiFault);
      assert.equal(err.status, 401);
      assert.equal(err.faultName, 'unauthorized');
      return true;
    });
  });

test('noauth2 listens on loopback only', () => {
  for (const listen of ['127.0.0.1:8774', '127.0.0.53:1', '[::1]:8774', 'localhost:0'])
    assert.doesNotThrow(() => assertLoopback(listen));
  for (const listen of ['0.0.0.0:8774', '[::]:8774', '10.0.0.5:8774', 'api.example.com:8774'])
    assert.throws(() => assertLoopback(listen), /refusing to listen on .*auth_strategy = keystone/);
});
