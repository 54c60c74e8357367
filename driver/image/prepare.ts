/**
 * Turns an image record into a PreparedImage: every layer in the host's
 * cache, unpacked, stacked top-most first, and the config the workload
 * runs with. Three kinds of record (the preamble's conventions):
 *
 *   registry image  `docker_image_ref` (+ `docker_image_digest`) and
 *                   `berth_layers`: each blob fetched from the registry
 *                   (in parallel; the client bounds the concurrency)
 *   snapshot        `image_type: snapshot` + `base_image_ref`: the base
 *                   prepared through the ImageService (a Glance or registry
 *                   base works), the snapshot's data as the top layer
 *   data image      its data detected by content: a rootfs tar (one
 *                   layer), a `docker save` or OCI layout archive (its
 *                   layers, and its config under the record's own)
 *
 * Fetches and unpacks are single-flight per blob (BlobStore, LayerCache),
 * so N concurrent prepares of one uncached image fetch each blob once.
 */
import { ConflictError, InvalidArgumentError } from '../../common/errors';
import type { Logger } from 'winston';
import type { BlobWriter } from './cache/blob-writer';
import type { ImageCache } from './cache/image-cache';
import type { Lease } from './cache/layer-cache';
import { detectArchive, readImageArchive } from './archive';
import { ImageChecksumError, ImageSourceUnavailable } from './image-errors';
import type {
  ImageCommandConfig,
  ImageRecord,
  ImageService,
  PreparedImage,
  PullProgress,
} from './image-service';
import { DIGEST, type ImageRuntimeConfig, type LayerRef } from './oci';
import { DIGEST_PROPERTY, LAYERS_PROPERTY, REF_PROPERTY } from './registry/registry-record';

/**
 * The registry helper's RegistryClient, as far as preparing needs it
 * (structural, so that the real client and a test's counting fake fit).
 */
export interface RegistryAccess<R = unknown> {
  parseReference(s: string): R;
  client: {
    fetchBlob(
      reference: R,
      blob: { digest: string; size: number },
      /** a temp path, or the BlobStore's writer (so the store need not hash the file again) */
      dest: string | BlobWriter,
      onProgress?: (bytes: number) => void,
    ): Promise<void>;
  };
}

export interface PrepareSource {
  record: ImageRecord;
  /** the digest of the image's data in the host's blob store, when it has data */
  data?: string;
}

export interface PrepareContext {
  /** where a snapshot's base image is prepared */
  bases: ImageService;
  onProgress?: (p: PullProgress) => void;
}

/** A PreparedImage and what it holds in the cache, for cleaning up when the image goes. */
export interface PreparedWithBlobs extends PreparedImage {
  /** blobs this image's own layers came from (not its base's) */
  blobs: string[];
}

export interface ImagePreparerOptions {
  cache: ImageCache;
  registry?: RegistryAccess;
  log?: Logger;
}

export class ImagePreparer {
  constructor(private readonly opts: ImagePreparerOptions) {}

  prepare(source: PrepareSource, ctx: PrepareContext): Promise<PreparedWithBlobs> {
    const { record } = source;
    return this.opts.cache.withLease(async (lease) => {
      if (record.properties.image_type === 'snapshot' && record.properties.base_image_ref)
        return this.snapshot(source, ctx, lease);
      if (record.properties[REF_PROPERTY] && !source.data)
        return this.registryImage(record, ctx, lease);
      if (!source.data)
        throw new ConflictError(`image ${record.id} has no data (status ${record.status})`);
      return this.dataImage(record, source.data, lease);
    });
  }

  private async registryImage(
    record: ImageRecord,
    ctx: PrepareContext,
    lease: Lease,
  ): Promise<PreparedWithBlobs> {
    const registry = this.opts.registry;
    if (!registry)
      throw new ImageSourceUnavailable(
        `image ${label(record)}: a registry image, and this host has no registry client`,
      );
    const ref = record.properties[REF_PROPERTY];
    const pinned = record.properties[DIGEST_PROPERTY];
    const reference = registry.parseReference(pinned ? `${ref.split('@')[0]}@${pinned}` : ref);
    const refs = layerRefs(record);
    if (!refs.length)
      throw new ConflictError(
        `image ${label(record)}: its manifest is not resolved yet (no ${LAYERS_PROPERTY})`,
      );
    const layers = await Promise.all(
      refs.map(async (l) => {
        await this.opts.cache.blob(
          { digest: l.digest, size: l.size },
          (_tmp, writer) =>
            registry.client.fetchBlob(
              reference,
              { digest: l.digest, size: l.size },
              writer,
              (bytes) => ctx.onProgress?.({ digest: l.digest, bytes, total: l.size }),
            ),
          lease,
        );
        return this.opts.cache.layer(
          { digest: l.digest, diffId: l.diffId },
          `${l.digest} of ${label(record)}`,
          lease,
        );
      }),
    );
    return stacked(
      layers.map((l) => l.dir),
      layers.map((l) => l.diffId),
      record.config ?? {},
      refs.map((l) => l.digest),
    );
  }

  private async snapshot(
    source: PrepareSource,
    ctx: PrepareContext,
    lease: Lease,
  ): Promise<PreparedWithBlobs> {
    const { record, data } = source;
    if (!data)
      throw new ConflictError(`snapshot ${record.id} has no data (status ${record.status})`);
    const base = await ctx.bases.prepare(record.properties.base_image_ref, {
      onProgress: ctx.onProgress,
    });
    const refs = layerRefs(record);
    const own = refs.at(-1);
    const expectedBase = refs.slice(0, -1).map((l) => l.diffId);
    if (expectedBase.length && expectedBase.some((d, i) => d && d !== base.diffIds[i]))
      throw new ImageChecksumError(
        `snapshot ${label(record)}: checksum mismatch: its base image ${record.properties.base_image_ref} no longer has the layers it was taken on`,
      );
    this.opts.cache.pinBlob(lease, data);
    const top = await this.opts.cache.layer(
      { digest: data, diffId: own?.diffId },
      `the data of snapshot ${label(record)}`,
      lease,
    );
    return {
      layers: [top.dir, ...base.layers],
      diffIds: [...base.diffIds, top.diffId],
      config: { ...base.config, ...record.config },
      blobs: [data],
    };
  }

  private async dataImage(
    record: ImageRecord,
    data: string,
    lease: Lease,
  ): Promise<PreparedWithBlobs> {
    const { cache } = this.opts;
    cache.pinBlob(lease, data);
    const file = cache.blobs.path(data);
    let archive = await cache.layers.archive(data);
    if (!archive) {
      const known = cache.layers.unpacked(data);
      const kind = known ? 'rootfs' : (await detectArchive(file)).kind;
      if (kind === 'rootfs') {
        const layer = await cache.layer({ digest: data }, label(record), lease);
        return stacked([layer.dir], [layer.diffId], record.config ?? {}, [data]);
      }
      archive = await readImageArchive(file, cache.blobs);
      await cache.layers.rememberArchive(data, archive);
    }
    for (const l of archive.layers) cache.pinBlob(lease, l.digest);
    const layers = await Promise.all(
      archive.layers.map((l, i) =>
        cache.layer(
          { digest: l.digest, diffId: l.diffId },
          `layer ${i + 1} of image archive ${label(record)}`,
          lease,
        ),
      ),
    );
    return stacked(
      layers.map((l) => l.dir),
      layers.map((l) => l.diffId),
      { ...commandConfig(archive.config.config), ...record.config },
      [data, ...archive.layers.map((l) => l.digest)],
    );
  }
}

/** bottom-first layers in, a PreparedImage (top-most first) out */
function stacked(
  dirs: string[],
  diffIds: string[],
  config: ImageCommandConfig,
  blobs: string[],
): PreparedWithBlobs {
  return { layers: [...dirs].reverse(), diffIds, config, blobs };
}

/** The OCI runtime config in berth's spelling; empty fields are left out. */
export function commandConfig(c: ImageRuntimeConfig | undefined): ImageCommandConfig {
  if (!c) return {};
  return {
    ...(c.Entrypoint?.length ? { entrypoint: c.Entrypoint } : {}),
    ...(c.Cmd?.length ? { cmd: c.Cmd } : {}),
    ...(c.Env?.length ? { env: c.Env } : {}),
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
  };
}

/** `berth_layers`, checked: bottom-first `{digest, size, mediaType, diffId}`. */
export function layerRefs(record: ImageRecord): LayerRef[] {
  const text = record.properties[LAYERS_PROPERTY];
  if (text === undefined) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const ok =
    Array.isArray(value) &&
    value.every(
      (l: Partial<LayerRef>) =>
        l &&
        typeof l.digest === 'string' &&
        DIGEST.test(l.digest) &&
        (l.diffId === undefined || DIGEST.test(l.diffId)) &&
        Number.isInteger(l.size),
    );
  if (!ok)
    throw new InvalidArgumentError(
      `image ${label(record)}: ${LAYERS_PROPERTY} must be a JSON array of {digest, size, mediaType, diffId}`,
    );
  return value as LayerRef[];
}

function label(record: ImageRecord): string {
  return record.name ? `${record.name} (${record.id})` : record.id;
}
