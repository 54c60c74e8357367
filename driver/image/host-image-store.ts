/**
 * The host's image store (`<state_path>/images`) as every berth process
 * on the host opens it, from one configuration: the `[image_cache]` rules
 * and the `[registry]` client. `berth api`, `berth compute`, all-in-one and
 * `berth image` share the directory, so they must agree on both.
 */
import path from 'node:path';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import { imageCacheOptions } from './cache/cache-config';
import { LocalImageStore } from './local-image-store';
import { registryAccessFromConfig } from './registry/registry-client';

export function hostImageStore(config: BerthConfig, log: Logger): LocalImageStore {
  return new LocalImageStore(path.join(config.DEFAULT.state_path, 'images'), {
    cache: imageCacheOptions(config, log),
    registry: registryAccessFromConfig(config.registry, log),
    log,
  });
}
