/** KeystoneAuthenticator against a Keystone stand-in over real HTTP, on a clock the test moves. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import winston from 'winston';
import { berthSchema, type KeystoneAuthtokenSection } from '../../config/schema';
import { ApiFault, toApiFault } from '../faults';
import { startFakeKeystone, type FakeKeystone } from '../../testing/api/fake-keystone';
import { KeystoneAuthenticator } from './keystone';

const PASSWORD = 'service-secret';
const WWW_AUTHENTICATE = 'Keystone uri="http://keystone.example:5000/v3"';

// Every line logged in this file: none may carry a token or the password.
const logged: string[] = [];
const log = winston.createLogger({
  format: winston.format.json(),
  transports: [
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk, _encoding, done) {
          logged.push(String(chunk));
          done();
        },
      }),
    }),
  ],
});
const tokensSeen: string[] = [];
// Transports receive entries through stream piping, which may finish a tick later.
async function lastLogLine(): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  return logged.at(-1) ?? '';
}

let clock = Date.parse('2030-01-01T00:00:00Z');
const now = () => clock;
const SECOND = 1000;

function settings(url: string, password = PASSWORD): KeystoneAuthtokenSection {
  const { value } = berthSchema.validate({
    keystone_authtoken: {
      auth_url: url,
      www_authenticate_uri: 'http://keystone.example:5000/v3',
      username: 'nova',
      password,
      project_name: 'service',
    },
  });
  return value.keystone_authtoken;
}

async function rejectsWith(promise: Promise<unknown>, status: number): Promise<ApiFault> {
  let fault: ApiFault | undefined;
  await assert.rejects(promise, (err: unknown) => {
    fault = toApiFault(err);
    assert.equal(fault.status, status, `expected ${status}, got ${String(err)}`);
    return true;
  });
  return fault as ApiFault;
}

describe('KeystoneAuthenticator', () => {
  let keystone: FakeKeystone;
  let auth: KeystoneAuthenticator;
  const issue = (o: Parameters<FakeKeystone['issue']>[0]) => {
    const token = keystone.issue(o);
    tokensSeen.push(token);
    return token;
  };

  beforeEach(async () => {
    keystone = await startFakeKeystone({
      now,
      service: {
        username: 'nova',
        password: PASSWORD,
        projectName: 'service',
        userDomainName: 'Default',
        projectDomainName: 'Default',
        roles: ['service'],
      },
    });
    auth = new KeystoneAuthenticator(settings(keystone.url), { log, now, timeoutMs: 2000 });
  });
  afterEach(() => keystone.close());

  after(() => {
    const text = logged.join('');
    for (const secret of [...tokensSeen, PASSWORD])
      assert.ok(!text.includes(secret), 'a secret was logged');
  });

  test('a user token authenticates as its user, project and roles', async () => {
    const token = issue({ userId: 'u1', projectId: 'p1', roles: ['member', 'reader'] });
    assert.deepEqual(await auth.authenticate(token), {
      userId: 'u1',
      projectId: 'p1',
      roles: ['member', 'reader'],
      isAdmin: false,
    });
  });

  test('the admin role makes an admin', async () => {
    const token = issue({ userId: 'root', projectId: 'ops', roles: ['admin', 'member', 'reader'] });
    const creds = await auth.authenticate(token);
    assert.equal(creds.isAdmin, true);
  });

  test('valid tokens are cached for 5 minutes', async () => {
    const token = issue({ userId: 'u1', projectId: 'p1', roles: ['member'] });
    await auth.authenticate(token);
    clock += 299 * SECOND;
    await auth.authenticate(token);
    assert.equal(keystone.calls.get, 1);
    // Revoked meanwhile: only Keystone can tell, once the cache has let go.
    keystone.revoke(token);
    clock += 2 * SECOND;
    await rejectsWith(auth.authenticate(token), 401);
    assert.equal(keystone.calls.get, 2);
  });

  test('a token is not cached past its expiry', async () => {
    const token = issue({ userId: 'u1', projectId: 'p1', roles: ['member'], ttlMs: 60 * SECOND });
    await auth.authenticate(token);
    clock += 59 * SECOND;
    await auth.authenticate(token);
    assert.equal(keystone.calls.get, 1);
    clock += 1 * SECOND;
    await rejectsWith(auth.authenticate(token), 401);
    assert.equal(keystone.calls.get, 2);
  });

  test('an invalid token is a 401 that points at Keystone, remembered for 10 s', async () => {
    const fault = await rejectsWith(auth.authenticate('gAAAAA-not-a-token'), 401);
    assert.equal(fault.faultName, 'unauthorized');
    assert.deepEqual(fault.headers, { 'WWW-Authenticate': WWW_AUTHENTICATE });
    clock += 9 * SECOND;
    await rejectsWith(auth.authenticate('gAAAAA-not-a-token'), 401);
    assert.equal(keystone.calls.get, 1);
    clock += 1 * SECOND;
    await rejectsWith(auth.authenticate('gAAAAA-not-a-token'), 401);
    assert.equal(keystone.calls.get, 2);
  });

  test('a missing or malformed token is a 401 without asking Keystone', async () => {
    for (const token of [undefined, '', 'two words', 'caf\u00e9']) {
      const fault = await rejectsWith(auth.authenticate(token), 401);
      assert.deepEqual(fault.headers, { 'WWW-Authenticate': WWW_AUTHENTICATE });
    }
    assert.deepEqual(keystone.calls, { post: 0, get: 0, rejectedServiceToken: 0 });
  });

  test('a token not scoped to a project is refused with 403', async () => {
    const token = issue({ userId: 'u1', roles: [] });
    await rejectsWith(auth.authenticate(token), 403);
  });

  test('one service token serves many validations and is renewed 2 minutes before expiry', async () => {
    keystone.serviceTokenTtlMs = 600 * SECOND;
    for (let i = 0; i < 3; i++)
      await auth.authenticate(issue({ userId: `u${i}`, projectId: 'p', roles: ['member'] }));
    assert.equal(keystone.calls.post, 1);
    clock += 479 * SECOND;
    await auth.authenticate(issue({ userId: 'u3', projectId: 'p', roles: ['member'] }));
    assert.equal(keystone.calls.post, 1);
    clock += 2 * SECOND;
    await auth.authenticate(issue({ userId: 'u4', projectId: 'p', roles: ['member'] }));
    assert.equal(keystone.calls.post, 2);
    assert.equal(keystone.calls.rejectedServiceToken, 0);
  });

  test('a service token Keystone stops accepting is replaced and the validation retried', async () => {
    await auth.authenticate(issue({ userId: 'u1', projectId: 'p', roles: ['member'] }));
    keystone.revokeServiceTokens();
    const creds = await auth.authenticate(
      issue({ userId: 'u2', projectId: 'p', roles: ['member'] }),
    );
    assert.equal(creds.userId, 'u2');
    assert.deepEqual(keystone.calls, { post: 2, get: 3, rejectedServiceToken: 1 });
  });

  test('requests carrying the same token share one validation', async () => {
    const token = issue({ userId: 'u1', projectId: 'p', roles: ['member'] });
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => auth.authenticate(token)));
    assert.ok(all.every((creds) => creds.userId === 'u1'));
    assert.deepEqual([keystone.calls.post, keystone.calls.get], [1, 1]);
  });

  test('the cache is bounded: the least recently used token is validated again', async () => {
    auth = new KeystoneAuthenticator(settings(keystone.url), { log, now, cacheSize: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map((u) => issue({ userId: u, projectId: 'p', roles: [] }));
    for (const token of [a, b, c, b, c]) await auth.authenticate(token);
    assert.equal(keystone.calls.get, 3);
    await auth.authenticate(a);
    assert.equal(keystone.calls.get, 4);
  });

  test('Keystone failing is a 503, and its failures are not cached', async () => {
    const token = issue({ userId: 'u1', projectId: 'p', roles: ['member'] });
    keystone.failWith = 500;
    const fault = await rejectsWith(auth.authenticate(token), 503);
    assert.equal(fault.faultName, 'serviceUnavailable');
    keystone.failWith = undefined;
    assert.equal((await auth.authenticate(token)).userId, 'u1');
  });

  test('Keystone not answering in time is a 503', async () => {
    auth = new KeystoneAuthenticator(settings(keystone.url), { log, now, timeoutMs: 200 });
    keystone.failWith = 'hang';
    await rejectsWith(auth.authenticate('some-token'), 503);
  });

  test('Keystone unreachable is a 503', async () => {
    const closed = http.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    auth = new KeystoneAuthenticator(settings(`http://127.0.0.1:${port}/v3`), { log, now });
    await rejectsWith(auth.authenticate('some-token'), 503);
    assert.match(await lastLogLine(), /ECONNREFUSED/);
  });

  test('wrong service credentials are a 503 that names the user, not the password', async () => {
    auth = new KeystoneAuthenticator(settings(keystone.url, 'wrong-password'), { log, now });
    const token = issue({ userId: 'u1', projectId: 'p', roles: ['member'] });
    await rejectsWith(auth.authenticate(token), 503);
    const line = await lastLogLine();
    assert.match(line, /refused berth's service credentials.*username = nova/);
    assert.ok(!line.includes('wrong-password'));
  });

  test('a service user that may not validate tokens is a 503 that says which role it lacks', async () => {
    await keystone.close();
    keystone = await startFakeKeystone({
      now,
      service: {
        username: 'nova',
        password: PASSWORD,
        projectName: 'service',
        userDomainName: 'Default',
        projectDomainName: 'Default',
        roles: ['member'],
      },
    });
    auth = new KeystoneAuthenticator(settings(keystone.url), { log, now });
    await rejectsWith(auth.authenticate(issue({ userId: 'u', projectId: 'p', roles: [] })), 503);
    assert.match(await lastLogLine(), /give it the service \(or admin\) role/);
  });

  test('an unversioned auth_url is used as its v3 root', async () => {
    auth = new KeystoneAuthenticator(settings(keystone.url.replace(/\/v3$/, '/')), { log, now });
    const token = issue({ userId: 'u1', projectId: 'p', roles: [] });
    assert.equal((await auth.authenticate(token)).userId, 'u1');
  });

  test('through the API, a 401 carries WWW-Authenticate', async () => {
    // Loaded here so a broken route elsewhere fails this test only.
    const { startTestApi } = await import('../../testing/api/test-api');
    const api = await startTestApi({ auth });
    try {
      const res = await api.request('GET', '/v2.1/servers', { token: 'not-a-token' });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), WWW_AUTHENTICATE);
      assert.equal(res.body.unauthorized.code, 401);
      const token = issue({ userId: 'u1', projectId: 'p', roles: ['member', 'reader'] });
      // Past authentication: whatever the route answers, it is not a 401.
      const passed = await api.request('GET', '/v2.1/servers', { token });
      assert.notEqual(passed.status, 401);
      assert.equal(passed.headers.get('www-authenticate'), null);
    } finally {
      await api.close();
    }
  });
});
