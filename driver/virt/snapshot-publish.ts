/**
 * The upload half of a snapshot, Nova's way: the control plane made the
 * image record (queued); the compute sets what the data needs on it (its
 * formats when the record has none, the layer list, the base's workload
 * config) and PUTs the data, a layer tar over the base image's layers.
 */
import fs from 'node:fs';
import { NotFoundError } from '../../common/errors';
import type { ImageRecord, ImageService } from '../image/image-service';
import { type LayerRef, MEDIA } from '../image/oci';
import { LAYERS_PROPERTY } from '../image/registry/registry-record';

/** The image property listing an image's layers, bottom-first (issue 10's record conventions). */

export interface SnapshotLayer {
  diffId: string;
  size: number;
}

/** The base's layers as its record lists them; none for a single-tar image (booted from its data). */
export function baseLayers(base: ImageRecord | undefined): LayerRef[] {
  const text = base?.properties[LAYERS_PROPERTY];
  if (!text) return [];
  try {
    const layers = JSON.parse(text) as unknown;
    return Array.isArray(layers) ? (layers as LayerRef[]) : [];
  } catch {
    return [];
  }
}

export async function publishSnapshot(
  images: ImageService,
  o: { imageId: string; baseId: string; layer: SnapshotLayer; tarFile: string },
): Promise<ImageRecord> {
  const target = await images.show(o.imageId);
  const base = await images.show(o.baseId).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  // An uncompressed layer: its digest is its diff id.
  const own: LayerRef = {
    digest: o.layer.diffId,
    size: o.layer.size,
    mediaType: MEDIA.ociLayer,
    diffId: o.layer.diffId,
  };
  await images.update(o.imageId, {
    // Glance takes no data until both formats are set.
    ...(target.container_format ? {} : { container_format: 'bare' }),
    ...(target.disk_format ? {} : { disk_format: 'raw' }),
    properties: {
      ...target.properties,
      [LAYERS_PROPERTY]: JSON.stringify([...baseLayers(base), own]),
    },
    ...(!target.config && base?.config ? { config: base.config } : {}),
  });
  return images.upload(o.imageId, fs.createReadStream(o.tarFile));
}
