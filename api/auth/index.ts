/** The authenticator `[api] auth_strategy` names. */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Authenticator } from './authenticator';
import { KeystoneAuthenticator } from './keystone';
import { assertLoopback, Noauth2Authenticator } from './noauth2';

export type { Authenticator } from './authenticator';

/** Throws, so `berth api` does not start, when noauth2 would listen beyond loopback. */
export function createAuthenticator(
  config: Pick<BerthConfig, 'api' | 'keystone_authtoken'>,
  log: Logger,
): Authenticator {
  const { api, keystone_authtoken: keystone } = config;
  switch (api.auth_strategy) {
    case 'noauth2':
      assertLoopback(api.listen);
      log.warn('[api] auth_strategy = noauth2: every caller is whoever its token claims to be', {
        listen: api.listen,
      });
      return new Noauth2Authenticator();
    case 'keystone':
      if (!keystone.password)
        log.warn('[keystone_authtoken] password is empty: Keystone will refuse the service user', {
          username: keystone.username,
        });
      log.info('[api] auth_strategy = keystone', {
        auth_url: keystone.auth_url,
        www_authenticate_uri: keystone.www_authenticate_uri,
        username: keystone.username,
        project_name: keystone.project_name,
      });
      return new KeystoneAuthenticator(keystone, { log });
  }
}
