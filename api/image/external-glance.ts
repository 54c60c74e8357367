/**
 * `[glance] api_servers` set: the images live in a real Glance. berth api
 * then looks images up there as Nova does, with the caller's own token in
 * keystone mode (Glance's visibility rules decide what the caller may
 * boot), and as an admin otherwise (noauth2 "admin:admin"; a noauth Glance
 * ignores it). Background work (scheduling) uses the service identity.
 */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import { GlanceImageService } from '../../driver/image/glance-image-service';
import type { ImageService } from '../../driver/image/image-service';
import { KeystoneSession } from '../auth/keystone-session';
import type { ApiContext } from '../context';
import type { ApiDeps } from '../deps';

/**
 * The token berth's own services show the image service: the service
 * user's under Keystone, as nova-compute's; an admin's under noauth2.
 */
export function imageServiceToken(
  config: BerthConfig,
  log: Logger,
): string | (() => Promise<string>) {
  if (config.api.auth_strategy !== 'keystone') return 'admin:admin';
  const session = new KeystoneSession({
    settings: config.keystone_authtoken,
    log,
    now: Date.now,
    timeoutMs: 10_000,
  });
  return () => session.serviceToken();
}

/** The service-identity client of the configured Glance, or undefined when images are berth's own. */
export function externalGlance(config: BerthConfig, log: Logger): GlanceImageService | undefined {
  if (!config.glance.external) return undefined;
  return new GlanceImageService({
    endpoint: config.glance.api_servers,
    token: imageServiceToken(config, log),
    log,
  });
}

/** Where a request's image lookups go: the external Glance as the caller, or berth's own store. */
export function imagesFor(
  deps: Pick<ApiDeps, 'glance' | 'images' | 'config'>,
  ctx: ApiContext,
): ImageService {
  if (!deps.glance) return deps.images;
  return deps.config.api.auth_strategy === 'keystone'
    ? deps.glance.withToken(ctx.authToken)
    : deps.glance;
}
