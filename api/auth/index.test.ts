import assert from 'node:assert/strict';
import { test } from 'node:test';
import winston from 'winston';
import { berthSchema, type BerthConfig } from '../../config/schema';
import { createAuthenticator } from './index';
import { KeystoneAuthenticator } from './keystone';
import { Noauth2Authenticator } from './noauth2';

const log = winston.createLogger({ silent: true });

function config(api: Record<string, unknown>): BerthConfig {
  return berthSchema.validate({ api }).value as BerthConfig;
}

test('noauth2 on loopback is the noauth2 authenticator', () => {
  const auth = createAuthenticator(config({ auth_strategy: 'noauth2' }), log);
  assert.ok(auth instanceof Noauth2Authenticator);
});

test('noauth2 beyond loopback refuses to start, saying why', () => {
  assert.throws(
    () => createAuthenticator(config({ auth_strategy: 'noauth2', listen: '0.0.0.0:8774' }), log),
    /noauth2 trusts whoever connects; refusing to listen on 0\.0\.0\.0:8774/,
  );
});

test('keystone is the Keystone authenticator, on any address', () => {
  const auth = createAuthenticator(
    config({ auth_strategy: 'keystone', listen: '0.0.0.0:8774' }),
    log,
  );
  assert.ok(auth instanceof KeystoneAuthenticator);
});
