import assert from 'node:assert/strict';
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { after, before, it } from 'node:test';
import { sshFingerprint } from '../db/keypairs';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

// An ed25519 public key in OpenSSH form, built from a fresh key's raw 32 bytes.
function ed25519Line(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} me@host`;
}

describeEachDatabase('os-keypairs API', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database, config: { quota: { key_pairs: 3 } } });
  });
  after(() => api.close());

  it('generates an RSA pair before 2.92 and returns the private key once (200 at 2.1)', async () => {
    const r = await api.request('POST', '/v2.1/os-keypairs', {
      body: { keypair: { name: 'gen' } },
    });
    assert.equal(r.status, 200);
    const k = r.body.keypair;
    assert.deepEqual(Object.keys(k).sort(), [
      'fingerprint',
      'name',
      'private_key',
      'public_key',
      'user_id',
    ]);
    assert.match(k.public_key, /^ssh-rsa AAAA\S+ Generated-by-Nova$/);
    assert.match(k.private_key, /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.equal(createPrivateKey(k.private_key).asymmetricKeyDetails?.modulusLength, 2048);
    const blob = Buffer.from(k.public_key.split(' ')[1], 'base64');
    const md5 = createHash('md5').update(blob).digest('hex');
    assert.equal(k.fingerprint, md5.match(/../g)!.join(':'));
    assert.equal(k.user_id, 'demo');
    const shown = await api.request('GET', '/v2.1/os-keypairs/gen');
    assert.equal(shown.body.keypair.private_key, undefined);
    assert.equal(shown.body.keypair.deleted, false);
    assert.match(shown.body.keypair.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(typeof shown.body.keypair.id, 'number');
    assert.equal(shown.body.keypair.type, undefined);
  });

  it('imports a public key with type (201 from 2.2) and refuses malformed keys with 400', async () => {
    const line = ed25519Line();
    const r = await api.request('POST', '/v2.1/os-keypairs', {
      version: '2.2',
      body: { keypair: { name: 'ed', public_key: line, type: 'ssh' } },
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.keypair.type, 'ssh');
    assert.equal(r.body.keypair.fingerprint, sshFingerprint(line));
    assert.equal(r.body.keypair.private_key, undefined);
    for (const bad of [
      'ssh-rsa',
      'ssh-rsa !!!!',
      'ssh-rsa AAAAB3NzaC1yc2E=',
      line.replace('ssh-ed25519 ', 'ssh-rsa '),
    ]) {
      const res = await api.request('POST', '/v2.1/os-keypairs', {
        body: { keypair: { name: 'bad', public_key: bad } },
      });
      assert.equal(res.status, 400, bad);
      assert.equal(
        res.body.badRequest.message,
        'Keypair data is invalid: failed to generate fingerprint',
      );
    }
    const x509 = await api.request('POST', '/v2.1/os-keypairs', {
      version: '2.2',
      body: { keypair: { name: 'cert', type: 'x509', public_key: 'not a cert' } },
    });
    assert.equal(x509.status, 400);
  });

  it('generates an X.509 certificate for the user, as Nova does for WinRM', async () => {
    const r = await api.request('POST', '/v2.1/os-keypairs', {
      version: '2.2',
      body: { keypair: { name: 'winrm', type: 'x509' } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const k = r.body.keypair;
    assert.equal(k.type, 'x509');
    const cert = new X509Certificate(k.public_key);
    assert.match(cert.subject, /CN=demo/);
    const sha1 = createHash('sha1').update(cert.raw).digest('hex');
    assert.equal(k.fingerprint, sha1.match(/../g)!.join(':'));
    // A PKCS#12 bundle is a DER SEQUENCE.
    assert.equal(Buffer.from(k.private_key, 'base64')[0], 0x30);
    const del = await api.request('DELETE', '/v2.1/os-keypairs/winrm', { version: '2.2' });
    assert.equal(del.status, 204);
  });

  it('validates names and bodies by microversion', async () => {
    const cases: [unknown, string | undefined, number][] = [
      [{ keypair: { name: 'a@b.c', public_key: ed25519Line() } }, undefined, 400],
      [{ keypair: { name: 'a@b.c', public_key: ed25519Line() } }, '2.92', 201],
      [{ keypair: { name: 'nokey' } }, '2.92', 400],
      [{ keypair: { name: ' lead', public_key: ed25519Line() } }, undefined, 400],
      [{ keypair: { name: 'x'.repeat(256) } }, undefined, 400],
      [{ keypair: { name: 'typed', type: 'ssh' } }, undefined, 400],
      [{ keypair: { name: 'typed', type: 'pgp' } }, '2.2', 400],
      [{ keypair: { name: 'u', user_id: 'demo' } }, '2.2', 400],
      [{ keypair: { name: 'x', extra: 1 } }, undefined, 400],
      [{ keypair: 'x' }, undefined, 400],
    ];
    for (const [body, version, status] of cases) {
      const r = await api.request('POST', '/v2.1/os-keypairs', { body, version });
      assert.equal(r.status, status, `${version} ${JSON.stringify(body)}`);
    }
  });

  it('refuses a duplicate name with 409 and enforces the key_pairs quota with 403', async () => {
    const dup = await api.request('POST', '/v2.1/os-keypairs', {
      body: { keypair: { name: 'ed', public_key: ed25519Line() } },
    });
    // demo already has 3 key pairs: the quota answers before the name clash.
    assert.equal(dup.status, 403);
    assert.equal(dup.body.forbidden.message, 'Quota exceeded, too many key pairs.');
    const other = await api.request('POST', '/v2.1/os-keypairs', {
      token: 'bob:demo',
      body: { keypair: { name: 'one', public_key: ed25519Line() } },
    });
    assert.equal(other.status, 200);
    const clash = await api.request('POST', '/v2.1/os-keypairs', {
      token: 'bob:demo',
      body: { keypair: { name: 'one', public_key: ed25519Line() } },
    });
    assert.equal(clash.status, 409);
    assert.equal(clash.body.conflictingRequest.message, "Key pair 'one' already exists.");
  });

  it('lists a user’s own keys, pages from 2.35, and lets only admins name another user', async () => {
    const r = await api.request('GET', '/v2.1/os-keypairs');
    assert.deepEqual(
      r.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
      ['a@b.c', 'ed', 'gen'],
    );
    assert.deepEqual(Object.keys(r.body.keypairs[0].keypair).sort(), [
      'fingerprint',
      'name',
      'public_key',
    ]);
    const page = await api.request('GET', '/v2.1/os-keypairs?limit=2', { version: '2.35' });
    assert.equal(page.body.keypairs.length, 2);
    assert.equal(page.body.keypairs[0].keypair.type, 'ssh');
    const next = new URL(page.body.keypairs_links[0].href);
    assert.equal(next.searchParams.get('marker'), 'ed');
    const rest = await api.request('GET', `${next.pathname}${next.search}`, { version: '2.35' });
    assert.deepEqual(
      rest.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
      ['gen'],
    );
    assert.equal(
      (await api.request('GET', '/v2.1/os-keypairs?marker=zz', { version: '2.35' })).status,
      400,
    );
    const bobs = await api.request('GET', '/v2.1/os-keypairs?user_id=bob', { version: '2.10' });
    assert.equal(bobs.status, 403);
    assert.match(bobs.body.forbidden.message, /os-keypairs:index/);
    const asAdmin = await api.request('GET', '/v2.1/os-keypairs?user_id=bob', {
      token: 'admin',
      version: '2.10',
    });
    assert.deepEqual(
      asAdmin.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
      ['one'],
    );
    const hidden = await api.request('GET', '/v2.1/os-keypairs/one');
    assert.equal(hidden.status, 404);
    assert.equal(hidden.body.itemNotFound.message, 'Keypair one not found for user demo');
    assert.equal(
      (await api.request('GET', '/v2.1/os-keypairs?x=1', { version: '2.75' })).status,
      400,
    );
  });

  it('deletes with 202 at 2.1 and 204 from 2.2', async () => {
    assert.equal((await api.request('DELETE', '/v2.1/os-keypairs/gen')).status, 202);
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-keypairs/ed', { version: '2.2' })).status,
      204,
    );
    assert.equal(
      (await api.request('DELETE', '/v2.1/os-keypairs/ed', { version: '2.2' })).status,
      404,
    );
    const forBob = await api.request('DELETE', '/v2.1/os-keypairs/one?user_id=bob', {
      token: 'admin',
      version: '2.10',
    });
    assert.equal(forBob.status, 204);
  });
});
