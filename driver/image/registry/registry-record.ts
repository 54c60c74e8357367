/**
 * How a registry image is recorded in an image service (the shared image
 * record conventions): container_format docker, disk_format raw, no data;
 * `docker_image_ref` as given, `docker_image_digest` pinning the manifest
 * once resolved, `berth_layers` the layers bottom-first, and the OCI
 * runtime config as the record's `config`.
 */
import type { ImageCommandConfig, ImageMetadata, NewImage } from '../image-service';
import type { ImageConfig } from '../oci';
import type { ResolvedImage } from './registry-client';

export const REF_PROPERTY = 'docker_image_ref';
export const DIGEST_PROPERTY = 'docker_image_digest';
export const LAYERS_PROPERTY = 'berth_layers';

/** Entrypoint, Cmd, Env, WorkingDir and User of an OCI config, as an image record keeps them. */
export function commandConfigOf(config: ImageConfig): ImageCommandConfig {
  const c = config.config ?? {};
  const out: ImageCommandConfig = {};
  if (c.Entrypoint?.length) out.entrypoint = [...c.Entrypoint];
  if (c.Cmd?.length) out.cmd = [...c.Cmd];
  if (c.Env?.length) out.env = [...c.Env];
  if (c.WorkingDir) out.workingDir = c.WorkingDir;
  if (c.User) out.user = c.User;
  return out;
}

/** What resolving adds to a registry image record: the pinned digest, the layers, the config. */
export function resolvedChanges(
  properties: Record<string, string>,
  image: ResolvedImage,
): ImageMetadata {
  const layers = image.layers.map(({ digest, size, mediaType, diffId }) => ({
    digest,
    size,
    mediaType,
    diffId,
  }));
  return {
    properties: {
      ...properties,
      [DIGEST_PROPERTY]: image.manifestDigest,
      [LAYERS_PROPERTY]: JSON.stringify(layers),
    },
    config: commandConfigOf(image.config),
  };
}

/** A new record for `ref` (as the user wrote it), already resolved (`berth image pull`). */
export function registryImage(ref: string, image: ResolvedImage): NewImage {
  return {
    name: ref,
    container_format: 'docker',
    disk_format: 'raw',
    visibility: 'public',
    ...resolvedChanges({ [REF_PROPERTY]: ref }, image),
  };
}

/** Whether a record is one the image API resolves from a registry. */
export function isRegistryRecord(r: {
  container_format: string | null;
  properties: Record<string, string>;
}): boolean {
  return r.container_format === 'docker' && typeof r.properties[REF_PROPERTY] === 'string';
}
