/**
 * The ImageService seam (design §3): where a compute host gets an image's
 * metadata and its unpacked root filesystem. Records are shaped like
 * Glance v2 images (reference/nova-wire.md §5) so that the local store, a
 * real Glance and an OCI registry can stand behind the same interface.
 * Images are keyed by id, never by name (nova-docker's name matching was
 * fragile, §4.4).
 */

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

/** The part of an OCI image config that says what the workload runs. */
export interface ImageCommandConfig {
  entrypoint?: string[];
  cmd?: string[];
}

export interface ImageRecord {
  /** a uuid */
  id: string;
  name: string;
  status: ImageStatus;
  container_format: string;
  disk_format: string;
  /** bytes of the image data */
  size: number;
  /** MD5 hex of the data: Glance's legacy checksum, which clients still verify */
  checksum: string;
  os_hash_algo: 'sha256';
  /** sha256 hex of the data, also the key of its blob and unpacked layer */
  os_hash_value: string;
  created_at: string;
  updated_at: string;
  /** Glance custom properties, flat strings (e.g. os_command_line) */
  properties: Record<string, string>;
  /** the command the image itself records (OCI Entrypoint/Cmd, or `--command` at import) */
  config?: ImageCommandConfig;
}

export interface ImportOptions {
  /** the workload's argv, recorded as the image's Cmd: a rootfs tar carries none of its own */
  command?: string[];
  /** Glance custom properties, e.g. os_command_line */
  properties?: Record<string, string>;
}

export interface ImageService {
  /** by id, or by a name that exactly one image has; NotFoundError / ConflictError otherwise */
  show(ref: string): Promise<ImageRecord>;
  list(): Promise<ImageRecord[]>;
  /** read-only lower layer directories for a container, top-most first */
  layers(ref: string): Promise<string[]>;
  /** registers a root filesystem tar; the record is active when this resolves */
  import(name: string, tarPath: string, opts?: ImportOptions): Promise<ImageRecord>;
  delete(ref: string): Promise<void>;
}
