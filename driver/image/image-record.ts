/**
 * What every ImageService implementation shares: how an import is
 * checked, how its record is built, how a reference finds an image.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import type { ImageRecord, ImportOptions } from './image-service';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Digests {
  sha256: string;
  md5: string;
  size: number;
}

/** Streams `source` into `sink`, hashing on the way, so a large image is read once. */
export async function streamWithDigests(source: string, sink: Writable): Promise<Digests> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sha256.update(chunk);
      md5.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(fs.createReadStream(source), tap, sink);
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), size };
}

/** Refuses a bad import before anything is read or written. */
export async function checkImport(
  name: string,
  tarPath: string,
  opts: ImportOptions,
): Promise<void> {
  if (typeof name !== 'string' || !name.trim() || name.length > 255)
    throw new InvalidArgumentError('image name must be 1 to 255 characters');
  const { command } = opts;
  if (
    command !== undefined &&
    (!Array.isArray(command) ||
      !command.length ||
      command.some((a) => typeof a !== 'string' || a.includes('\0')) ||
      !command[0])
  )
    throw new InvalidArgumentError(
      `image command must be a non-empty array of strings, got ${JSON.stringify(command)}`,
    );
  for (const [key, value] of Object.entries(opts.properties ?? {}))
    if (!key || typeof value !== 'string')
      throw new InvalidArgumentError(`image property ${JSON.stringify(key)} must be a string`);
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(tarPath);
  } catch {
    throw new NotFoundError(`image file ${tarPath}: no such file`);
  }
  if (!st.isFile()) throw new InvalidArgumentError(`image file ${tarPath}: not a regular file`);
}

export function newImageRecord(name: string, digests: Digests, opts: ImportOptions): ImageRecord {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    name,
    status: 'active',
    // A root filesystem tar with no wrapper: nova-lxd's convention (reference §4.2).
    container_format: 'bare',
    disk_format: 'raw',
    size: digests.size,
    checksum: digests.md5,
    os_hash_algo: 'sha256',
    os_hash_value: digests.sha256,
    created_at: now,
    updated_at: now,
    properties: { ...opts.properties },
    ...(opts.command ? { config: { cmd: opts.command } } : {}),
  };
}

/** An id, or a name exactly one image has (as the openstack client resolves names). */
export function findImage(ref: string, records: ImageRecord[]): ImageRecord {
  const byId = records.find((r) => r.id === ref);
  if (byId) return byId;
  const named = records.filter((r) => r.name === ref);
  if (named.length > 1)
    throw new ConflictError(`${named.length} images are named ${ref}; use the image id`);
  if (!named.length) throw new NotFoundError(`image ${ref} not found`);
  return named[0];
}
