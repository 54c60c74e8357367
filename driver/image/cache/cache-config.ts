/** `[image_cache]` as the ImageCache takes it. */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../../config/schema';
import { layersInUse } from '../../runtime/layers-in-use';
import type { ImageCacheOptions } from './image-cache';

export function imageCacheOptions(
  config: BerthConfig,
  log?: Logger,
): Omit<ImageCacheOptions, 'references'> {
  const c = config.image_cache;
  return {
    maxBytes: c.max_size_mb * 2 ** 20,
    minUnusedAgeMs: c.min_unused_age_s * 1000,
    unpackMaxRatio: c.unpack_max_ratio,
    inUse: () => layersInUse(config.DEFAULT.state_path),
    log,
  };
}
