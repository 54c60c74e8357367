/**
 * A root filesystem named on the command line (`berth run IMAGE_TAR_OR_DIR`,
 * `berth demo`): a directory is used as it is; a tar goes through the
 * host's cache like any image layer (its blob is not referred to by any
 * image record, so prune and eviction may take it once no container uses it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../../common/errors';
import type { ImageCache } from './image-cache';

/** Lower directories for `source`, top-most first. */
export async function rootfsLayers(cache: ImageCache, source: string): Promise<string[]> {
  const abs = path.resolve(source);
  const st = await fs.promises.stat(abs).catch(() => undefined);
  if (!st) throw new NotFoundError(`image ${source}: no such file or directory`);
  if (st.isDirectory()) return [abs];
  if (!st.isFile()) throw new InvalidArgumentError(`image ${source}: not a tar file or directory`);
  return cache.withLease(async (lease) => {
    const blob = await cache.blobs.put(fs.createReadStream(abs));
    const layer = await cache.layer({ digest: blob.digest }, source, lease);
    return [layer.dir];
  });
}
