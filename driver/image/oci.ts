/**
 * The OCI image format as berth reads it (image-spec 1.1, and Docker's
 * schema2 which has the same shape under other media types): descriptors,
 * manifests, indexes and the image config. Shared by the registry client,
 * the archive readers (docker save, OCI layout) and the per-host cache.
 */

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** `sha256:<64 hex>`, the only algorithm berth accepts for content addresses */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  /** bottom-most first, as the spec orders them */
  layers: Descriptor[];
}

/** The runtime part of an image config (field names as the spec spells them). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: ImageRuntimeConfig;
  /** diff_ids: sha256 of each layer's uncompressed tar, bottom-most first */
  rootfs?: { type: 'layers'; diff_ids: string[] };
}

/** One layer of a resolved image: where its bytes are, and what they unpack to. */
export interface LayerRef {
  /** digest of the blob as stored/transferred (compressed or not) */
  digest: string;
  size: number;
  mediaType: string;
  /** sha256 of the uncompressed tar, when the image config says it */
  diffId?: string;
}
