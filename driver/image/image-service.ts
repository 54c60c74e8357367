/**
 * The ImageService seam (design §3): where a compute host gets an image's
 * metadata and its unpacked root filesystem, and where the embedded image
 * API keeps images. Records are shaped like Glance v2 images
 * (reference/nova-wire.md §5) so that the local store, a real Glance and
 * an OCI registry can stand behind the same interface. Images are keyed by
 * id, never by name (nova-docker's name matching was fragile, §4.4).
 */
import type { Readable } from 'node:stream';
import { ConflictError } from '../../common/errors';

/** Glance v2 image statuses. */
export type ImageStatus =
  | 'queued'
  | 'saving'
  | 'active'
  | 'killed'
  | 'deleted'
  | 'pending_delete'
  | 'deactivated'
  | 'uploading'
  | 'importing';

export type ImageVisibility = 'public' | 'private' | 'shared' | 'community';

export const VISIBILITIES: readonly ImageVisibility[] = [
  'public',
  'private',
  'shared',
  'community',
];

/** Glance's default `hashing_algorithm`; what clients verify downloads with. */
export const HASH_ALGO = 'sha512';

/** The part of an OCI image config that says what the workload runs. */
export interface ImageCommandConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** `KEY=value` entries, as the OCI config lists them */
  env?: string[];
  workingDir?: string;
  /** `user`, `uid`, `user:group` or `uid:gid`, as the OCI config says it */
  user?: string;
}

export interface ImageRecord {
  /** a uuid */
  id: string;
  /** '' when the image has none (Glance shows null): callers may treat it as a string */
  name: string;
  status: ImageStatus;
  container_format: string | null;
  disk_format: string | null;
  /** bytes of the image data; null until data is uploaded */
  size: number | null;
  /** MD5 hex of the data: Glance's legacy checksum, which clients still verify */
  checksum: string | null;
  os_hash_algo: typeof HASH_ALGO | null;
  /** sha512 hex of the data */
  os_hash_value: string | null;
  visibility: ImageVisibility;
  protected: boolean;
  os_hidden: boolean;
  /** GB of root disk the image needs */
  min_disk: number;
  /** MB of memory the image needs */
  min_ram: number;
  /** the project owning the image; null for images the operator imported */
  owner: string | null;
  tags: string[];
  created_at: string;
  updated_at: string;
  /** Glance custom properties, flat strings (e.g. os_command_line) */
  properties: Record<string, string>;
  /** the command the image itself records (OCI Entrypoint/Cmd, or `--command` at import) */
  config?: ImageCommandConfig;
}

/** What a caller may set on an image: at creation, or later as a change. */
export interface ImageMetadata {
  name?: string | null;
  container_format?: string | null;
  disk_format?: string | null;
  visibility?: ImageVisibility;
  protected?: boolean;
  os_hidden?: boolean;
  min_disk?: number;
  min_ram?: number;
  owner?: string | null;
  tags?: string[];
  /** replaces every custom property */
  properties?: Record<string, string>;
  /** null removes it */
  config?: ImageCommandConfig | null;
}

/** A Glance create: `queued` metadata, with the id chosen by the caller or a new uuid. */
export interface NewImage extends ImageMetadata {
  id?: string;
}

export interface ImportOptions {
  /** the workload's argv, recorded as the image's Cmd: a rootfs tar carries none of its own */
  command?: string[];
  /** Glance custom properties, e.g. os_command_line */
  properties?: Record<string, string>;
  /** default public: an imported image is the operator's, for every project */
  visibility?: ImageVisibility;
  owner?: string | null;
}

export interface UploadOptions {
  /** digests the data must have (a copy from another image service); refused otherwise */
  expect?: { os_hash_value?: string | null; checksum?: string | null; size?: number | null };
}

/** An image's data, or part of it: `[start, end]` inclusive, as HTTP ranges count. */
export interface ImageData {
  /** bytes of the whole image */
  size: number;
  start: number;
  end: number;
  stream: Readable;
}

/**
 * The image may not be changed this way (Glance answers 403): it is
 * protected. A Conflict everywhere else.
 */
export class ImageForbiddenError extends ConflictError {}

/** How far a pull has come: one report per chunk of one blob. */
export interface PullProgress {
  /** the blob's digest (`sha256:…`) */
  digest: string;
  /** bytes of this blob received so far */
  bytes: number;
  /** bytes the blob has, when known */
  total?: number;
}

export interface PrepareOptions {
  onProgress?: (p: PullProgress) => void;
}

/** An image ready to boot on this host. */
export interface PreparedImage {
  /** read-only lower directories, top-most first (overlayfs lowerdir order) */
  layers: string[];
  /** what the workload runs: the image's own config under the record's */
  config: ImageCommandConfig;
  /** sha256 of each layer's uncompressed tar, bottom-most first (OCI rootfs.diff_ids order) */
  diffIds: string[];
}

export interface ImageService {
  /** by id, or by a name that exactly one image has; NotFoundError / ConflictError otherwise */
  show(ref: string): Promise<ImageRecord>;
  list(): Promise<ImageRecord[]>;
  /**
   * Makes the image bootable on this host: every layer fetched, verified
   * and unpacked into the host's layer cache. ConflictError while the
   * image has no data; InvalidArgumentError (ImageFormatError,
   * ImageChecksumError, UnsafeArchiveError) when its data cannot be a
   * root filesystem.
   */
  prepare(ref: string, opts?: PrepareOptions): Promise<PreparedImage>;
  /** registers a root filesystem tar; the record is active when this resolves */
  import(name: string, tarPath: string, opts?: ImportOptions): Promise<ImageRecord>;
  /** refuses a protected image with ImageForbiddenError */
  delete(ref: string): Promise<void>;

  /** Glance's lifecycle: a `queued` record without data (ConflictError if the id is taken) */
  create(image: NewImage): Promise<ImageRecord>;
  /** sets the given fields; `properties`, when given, replaces them all */
  update(id: string, changes: ImageMetadata): Promise<ImageRecord>;
  /**
   * queued → saving → active. ConflictError unless queued,
   * InvalidArgumentError without disk and container formats or when
   * `expect` does not match, ResourceExhaustedError over the size cap; on
   * failure the image is queued again.
   */
  upload(id: string, data: Readable, opts?: UploadOptions): Promise<ImageRecord>;
  /** the data, or undefined when the image has none yet */
  download(id: string, range?: { start: number; end: number }): Promise<ImageData | undefined>;
  /**
   * A queued image whose content lives elsewhere (a registry image:
   * layers by digest, no data) becomes `active` with `changes` applied, or
   * `killed` when it cannot be resolved. ConflictError unless queued. Only
   * stores that keep their own records (the embedded one) have it.
   */
  settle?(id: string, status: 'active' | 'killed', changes?: ImageMetadata): Promise<ImageRecord>;
}
