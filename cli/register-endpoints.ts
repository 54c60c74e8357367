/**
 * `berth register-endpoints --url URL`: puts berth's services and
 * endpoints in the Keystone catalog, with the [keystone_authtoken]
 * credentials (which need the admin role for it), idempotently.
 */
import { createLogger } from '../common/log';
import { InvalidArgumentError } from '../common/errors';
import type { BerthConfig } from '../config/schema';
import {
  BERTH_SERVICES,
  keystoneCaller,
  registerCatalog,
  type Interface,
} from '../api/auth/catalog';
import { identityV3Url, KeystoneSession } from '../api/auth/keystone-session';
import { parseArgs } from './args';

export const REGISTER_USAGE = `register-endpoints --url URL [--internal-url URL] [--admin-url URL] [--region ID]
URL: berth's API as clients reach it, e.g. http://controller:8774 (internal and admin default to it)`;

const httpUrl = (option: string, v: string | undefined): string => {
  if (!v || !/^https?:\/\/[^/]+/.test(v))
    throw new InvalidArgumentError(`--${option} must be an http(s) URL, got ${v ?? 'nothing'}`);
  return v;
};

export async function registerEndpointsCommand(argv: string[], config: BerthConfig) {
  const args = parseArgs(argv, ['url', 'internal-url', 'admin-url', 'region'], [], 0);
  const one = (k: string) => args.options.get(k)?.at(-1);
  const pub = httpUrl('url', one('url'));
  const urls: Record<Interface, string> = {
    public: pub,
    internal: one('internal-url') ? httpUrl('internal-url', one('internal-url')) : pub,
    admin: one('admin-url') ? httpUrl('admin-url', one('admin-url')) : pub,
  };
  const log = createLogger({ level: config.DEFAULT.log_level });
  const settings = config.keystone_authtoken;
  const session = new KeystoneSession({ settings, log, now: Date.now, timeoutMs: 10_000 });
  const call = keystoneCaller(identityV3Url(settings.auth_url), await session.serviceToken());
  const changes = await registerCatalog(call, {
    urls,
    region: one('region') ?? 'RegionOne',
    services: BERTH_SERVICES({ externalGlance: config.glance.external }),
  });
  for (const c of changes) process.stdout.write(`${c.action.padEnd(7)} ${c.what}\n`);
  return 0;
}
