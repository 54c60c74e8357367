/**
 * What every ImageService implementation shares: how an import and a
 * create are checked, how records are built, how data is hashed on its
 * way in, how a reference finds an image.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
} from '../../common/errors';
import {
  HASH_ALGO,
  VISIBILITIES,
  type ImageMetadata,
  type ImageRecord,
  type ImportOptions,
  type NewImage,
  type UploadOptions,
} from './image-service';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Glance's default image_size_cap: 1 TiB. */
export const DEFAULT_SIZE_CAP = 1024 ** 4;

export interface Digests {
  /** the key of the blob and its unpacked layer */
  sha256: string;
  sha512: string;
  md5: string;
  size: number;
}

/**
 * Streams `source` into `sink`, hashing on the way, so a large image is
 * read once; more than `sizeCap` bytes fail with ResourceExhaustedError.
 */
export async function streamWithDigests(
  source: string | Readable,
  sink: Writable,
  sizeCap = DEFAULT_SIZE_CAP,
): Promise<Digests> {
  const hashes = {
    sha256: createHash('sha256'),
    sha512: createHash('sha512'),
    md5: createHash('md5'),
  };
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > sizeCap)
        return done(
          new ResourceExhaustedError(`image data exceeds the size cap of ${sizeCap} bytes`),
        );
      for (const hash of Object.values(hashes)) hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(typeof source === 'string' ? fs.createReadStream(source) : source, tap, sink);
  return {
    sha256: hashes.sha256.digest('hex'),
    sha512: hashes.sha512.digest('hex'),
    md5: hashes.md5.digest('hex'),
    size,
  };
}

/** Refuses data whose digests differ from what its source promised, naming the first mismatch. */
export function checkExpected(digests: Digests, expect: UploadOptions['expect']): void {
  const pairs: [string, string | number | null | undefined, string | number][] = [
    ['size', expect?.size, digests.size],
    ['os_hash_value', expect?.os_hash_value, digests.sha512],
    ['checksum', expect?.checksum, digests.md5],
  ];
  for (const [what, want, got] of pairs)
    if (want !== undefined && want !== null && want !== got)
      throw new InvalidArgumentError(`image data ${what} is ${got}, expected ${want}`);
}

/** POSIX and GNU tar headers both carry "ustar" at this offset. */
const TAR_MAGIC_OFFSET = 257;

export function isTarHeader(header: Buffer): boolean {
  return (
    header.length >= 512 &&
    header.toString('latin1', TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + 5) === 'ustar'
  );
}

export async function looksLikeTar(file: string): Promise<boolean> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    return isTarHeader(header.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Refuses a bad import before anything is read or written. */
export async function checkImport(
  name: string,
  tarPath: string,
  opts: ImportOptions,
): Promise<void> {
  if (typeof name !== 'string' || !name.trim() || name.length > 255)
    throw new InvalidArgumentError('image name must be 1 to 255 characters');
  if (opts.command !== undefined) checkArgv('image command', opts.command);
  checkMetadata({ properties: opts.properties, visibility: opts.visibility });
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(tarPath);
  } catch {
    throw new NotFoundError(`image file ${tarPath}: no such file`);
  }
  if (!st.isFile()) throw new InvalidArgumentError(`image file ${tarPath}: not a regular file`);
}

function checkArgv(what: string, argv: unknown): void {
  if (
    !Array.isArray(argv) ||
    !argv.length ||
    argv.some((a) => typeof a !== 'string' || a.includes('\0')) ||
    !argv[0]
  )
    throw new InvalidArgumentError(
      `${what} must be a non-empty array of strings, got ${JSON.stringify(argv)}`,
    );
}

/**
 * The store's own guard on metadata; the image API validates first and
 * answers in Glance's words, so this only keeps bad records off disk.
 */
export function checkMetadata(meta: ImageMetadata): void {
  const bad = (what: string) => new InvalidArgumentError(`image ${what}`);
  if (meta.name != null && (typeof meta.name !== 'string' || meta.name.length > 255))
    throw bad('name must be at most 255 characters');
  if (meta.visibility !== undefined && !VISIBILITIES.includes(meta.visibility))
    throw bad(`visibility must be one of ${VISIBILITIES.join(', ')}`);
  for (const key of ['min_disk', 'min_ram'] as const)
    if (meta[key] !== undefined && !(Number.isInteger(meta[key]) && meta[key] >= 0))
      throw bad(`${key} must be a non-negative integer`);
  if (
    meta.tags !== undefined &&
    (!Array.isArray(meta.tags) || meta.tags.some((t) => typeof t !== 'string'))
  )
    throw bad('tags must be strings');
  for (const [key, value] of Object.entries(meta.properties ?? {}))
    if (!key || typeof value !== 'string')
      throw bad(`property ${JSON.stringify(key)} must be a string`);
  if (meta.config?.cmd !== undefined) checkArgv('command', meta.config.cmd);
  if (meta.config?.entrypoint !== undefined) checkArgv('entrypoint', meta.config.entrypoint);
  const env = meta.config?.env;
  if (
    env !== undefined &&
    (!Array.isArray(env) || env.some((e) => typeof e !== 'string' || e.includes('\0')))
  )
    throw bad('env must be an array of strings');
  for (const key of ['workingDir', 'user'] as const)
    if (meta.config?.[key] !== undefined && typeof meta.config[key] !== 'string')
      throw bad(`${key} must be a string`);
}

/** A `queued` record as Glance creates one: no data, shared, unprotected. */
export function queuedRecord(image: NewImage): ImageRecord {
  checkMetadata(image);
  if (image.id !== undefined && !UUID.test(image.id))
    throw new InvalidArgumentError(`image id ${JSON.stringify(image.id)} is not a uuid`);
  const now = new Date().toISOString();
  const record: ImageRecord = {
    id: image.id?.toLowerCase() ?? randomUUID(),
    name: image.name ?? '',
    status: 'queued',
    container_format: image.container_format ?? null,
    disk_format: image.disk_format ?? null,
    size: null,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    visibility: image.visibility ?? 'shared',
    protected: image.protected ?? false,
    os_hidden: image.os_hidden ?? false,
    min_disk: image.min_disk ?? 0,
    min_ram: image.min_ram ?? 0,
    owner: image.owner ?? null,
    tags: [...new Set(image.tags ?? [])],
    created_at: now,
    updated_at: now,
    properties: { ...image.properties },
  };
  if (image.config) record.config = structuredClone(image.config);
  return record;
}

/** `record` with `changes` applied, as a new object. */
export function changedRecord(record: ImageRecord, changes: ImageMetadata): ImageRecord {
  checkMetadata(changes);
  const next: ImageRecord = { ...structuredClone(record), updated_at: new Date().toISOString() };
  for (const [key, value] of Object.entries(changes))
    if (value !== undefined)
      (next as unknown as Record<string, unknown>)[key] = structuredClone(value);
  if (changes.name === null) next.name = '';
  if (changes.config === null) delete next.config;
  if (changes.tags) next.tags = [...new Set(changes.tags)];
  return next;
}

/** The record once its data is in: digests, size and `active`. */
export function activeRecord(record: ImageRecord, digests: Digests): ImageRecord {
  return {
    ...record,
    status: 'active',
    size: digests.size,
    checksum: digests.md5,
    os_hash_algo: HASH_ALGO,
    os_hash_value: digests.sha512,
    updated_at: new Date().toISOString(),
  };
}

/** An imported root filesystem tar: active at once, a rootfs tar with no wrapper. */
export function importedRecord(name: string, digests: Digests, opts: ImportOptions): ImageRecord {
  const record = queuedRecord({
    name,
    // A root filesystem tar with no wrapper: nova-lxd's convention (reference §4.2).
    container_format: 'bare',
    disk_format: 'raw',
    visibility: opts.visibility ?? 'public',
    owner: opts.owner ?? null,
    properties: opts.properties,
    ...(opts.command ? { config: { cmd: opts.command } } : {}),
  });
  return activeRecord(record, digests);
}

/** Refuses what may not start: an upload to anything but a queued image with both formats. */
export function checkUploadable(record: ImageRecord): void {
  if (record.status !== 'queued')
    throw new ConflictError(
      `Image status transition from ${record.status} to saving is not allowed`,
    );
  const missing = (['disk_format', 'container_format'] as const).filter((k) => !record[k]);
  if (missing.length)
    throw new InvalidArgumentError(
      `Propert${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')} must be set prior to saving data.`,
    );
}

/** An id, or a name exactly one image has (as the openstack client resolves names). */
export function findImage(ref: string, records: ImageRecord[]): ImageRecord {
  const byId = records.find((r) => r.id === ref);
  if (byId) return byId;
  const named = ref ? records.filter((r) => r.name === ref) : [];
  if (named.length > 1)
    throw new ConflictError(`${named.length} images are named ${ref}; use the image id`);
  if (!named.length) throw new NotFoundError(`image ${ref} not found`);
  return named[0];
}
