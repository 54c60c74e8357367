/**
 * Image records as stores before the Glance lifecycle wrote them: active
 * imports only, `os_hash_algo: "sha256"` (the blob key) and none of
 * Glance's visibility fields. They are read once and rewritten in the
 * current shape.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HASH_ALGO, type ImageRecord } from './image-service';

/** A record as kept on disk: the Glance fields and the key of its blob. */
export interface StoredImage extends ImageRecord {
  /** sha256 hex of the data: names its blob and its unpacked layer */
  blob_sha256?: string;
  /** what the last prepare unpacked it to, bottom-first: the layers `delete` may remove */
  diff_ids?: string[];
  /** blobs its layers came from besides its data (a registry's, an archive's) */
  layer_blobs?: string[];
}

/** The current shape of `raw`, or undefined when it already has it. */
export async function upgradeLegacyRecord(
  raw: StoredImage,
  blobDir: string,
): Promise<StoredImage | undefined> {
  const legacy = raw as unknown as { os_hash_algo?: string; os_hash_value?: string };
  if (legacy.os_hash_algo !== 'sha256') return undefined;
  const blobSha256 = legacy.os_hash_value;
  const sha512 = blobSha256 && (await hashFile(path.join(blobDir, blobSha256)));
  const defaults: Partial<StoredImage> = {
    // Only the operator's imports existed then: they were every project's.
    visibility: 'public',
    protected: false,
    os_hidden: false,
    min_disk: 0,
    min_ram: 0,
    owner: null,
    tags: [],
  };
  return {
    ...defaults,
    ...raw,
    os_hash_algo: sha512 ? HASH_ALGO : null,
    os_hash_value: sha512 || null,
    ...(blobSha256 ? { blob_sha256: blobSha256 } : {}),
  };
}

/** The sha512 of a blob, or undefined when it is gone. */
async function hashFile(file: string): Promise<string | undefined> {
  const hash = createHash(HASH_ALGO);
  try {
    await pipeline(fs.createReadStream(file), hash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return hash.digest('hex');
}
