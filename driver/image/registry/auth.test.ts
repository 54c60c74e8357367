import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../../common/errors';
import { parseChallenge, readAuthFile } from './auth';

test('challenges: bearer with quoted params (commas inside quotes), basic, none', () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull,push',
      },
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="berth-test"'), {
    scheme: 'basic',
    params: { realm: 'berth-test' },
  });
  assert.deepEqual(parseChallenge('bearer Realm=http://x/t , error=insufficient_scope'), {
    scheme: 'bearer',
    params: { realm: 'http://x/t', error: 'insufficient_scope' },
  });
  assert.deepEqual(parseChallenge('Bearer realm="a \\"quoted\\" b"'), {
    scheme: 'bearer',
    params: { realm: 'a "quoted" b' },
  });
  assert.equal(parseChallenge(undefined), undefined);
  assert.equal(parseChallenge(''), undefined);
});

test('auth.json: base64 auth, username/password, Docker Hub keys; errors never quote a secret', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-auth-'));
  try {
    const file = path.join(dir, 'auth.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        auths: {
          '127.0.0.1:5000': { auth: Buffer.from('alice:pa:ss').toString('base64') },
          'https://reg.example:8443/v2/': { username: 'bob', password: 'pw' },
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpw').toString('base64') },
          'empty.example': {},
        },
      }),
    );
    const creds = readAuthFile(file);
    assert.deepEqual(creds.get('127.0.0.1:5000'), { username: 'alice', password: 'pa:ss' });
    assert.deepEqual(creds.get('reg.example:8443'), { username: 'bob', password: 'pw' });
    assert.deepEqual(creds.get('docker.io'), { username: 'hub', password: 'hubpw' });
    assert.equal(creds.has('empty.example'), false);

    fs.writeFileSync(file, '{"auths": {"h:1": {"auth": "c2VjcmV0"}}}');
    assert.throws(() => readAuthFile(file), /not base64 of "user:password"/);
    fs.writeFileSync(file, '{"auths": {"h:1": {"auth": "secretpassword"');
    assert.throws(
      () => readAuthFile(file),
      (err: Error) =>
        err instanceof InvalidArgumentError &&
        /not valid JSON/.test(err.message) &&
        !err.message.includes('secretpassword'),
    );
    fs.writeFileSync(file, '[]');
    assert.throws(() => readAuthFile(file), /expected \{"auths"/);
    assert.throws(() => readAuthFile(path.join(dir, 'none.json')), /auth_file .*none\.json/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
