/**
 * berth's own image store, the embedded default behind the ImageService
 * seam and the store the image API serves. Under its root
 * (`<state_path>/images`):
 *
 *   metadata/<id>.json     one record per image, replaced atomically
 *   blobs/sha256/<hex>     the image data, content-addressed and shared
 *   layers/<diffid hex>    a layer unpacked once (ImageCache), a lower dir
 *
 * Blobs are keyed by sha256 (older stores have them so), layers by diff id;
 * records expose Glance's sha512 and md5. Data arrives through a temporary
 * file hashed on the way in and is renamed into place; a record refers to
 * a blob only once it is there, so a crash leaves at most an unreferenced
 * blob. Changes to records and blobs take one in-process lock: the CLI and
 * the API on one state directory are not serialised against each other.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { syncDirectory, writeFileAtomic } from '../../common/atomic-file';
import {
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from '../../common/errors';
import { KeyedLocks } from '../../common/keyed-locks';
import { layersInUse } from '../runtime/layers-in-use';
import { ImageFormatError } from './image-errors';
import {
  ImageForbiddenError,
  type ImageData,
  type ImageMetadata,
  type ImageRecord,
  type ImageService,
  type ImportOptions,
  type NewImage,
  type PreparedImage,
  type PrepareOptions,
  type UploadOptions,
} from './image-service';
import {
  activeRecord,
  changedRecord,
  checkExpected,
  checkImport,
  checkUploadable,
  DEFAULT_SIZE_CAP,
  type Digests,
  findImage,
  importedRecord,
  queuedRecord,
  streamWithDigests,
  UUID,
} from './image-record';
import { type FreedItem, ImageCache, type ImageCacheOptions } from './cache/image-cache';
import { type StoredImage, upgradeLegacyRecord } from './legacy-record';
import {
  ImagePreparer,
  layerRefs,
  type PrepareSource,
  type PreparedWithBlobs,
  type RegistryAccess,
} from './prepare';
import { REF_PROPERTY } from './registry/registry-record';

export interface LocalImageStoreOptions {
  /** bytes an upload may have (Glance's image_size_cap); default 1 TiB */
  sizeCap?: number;
  /** the cache's cap and what instances use ([image_cache]); no cap by default */
  cache?: Omit<ImageCacheOptions, 'references'>;
  /** how registry images' blobs are fetched; without it they cannot be prepared */
  registry?: RegistryAccess;
  log?: Logger;
}

/** Where a prepare for the embedded store finds a snapshot's base image (default: the store). */
export interface LocalPrepareOptions extends PrepareOptions {
  bases?: ImageService;
}

export class LocalImageStore implements ImageService {
  private readonly metadataDir: string;
  private readonly blobDir: string;
  readonly cache: ImageCache;
  private readonly preparer: ImagePreparer;
  private readonly sizeCap: number;
  /** one key: every change to records and blobs is serialised (they are short) */
  private readonly mutations = new KeyedLocks();
  private upgraded?: Promise<void>;

  constructor(
    readonly root: string,
    opts: LocalImageStoreOptions = {},
  ) {
    this.metadataDir = path.join(root, 'metadata');
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.cache = new ImageCache(root, {
      log: opts.log,
      // By the layout every caller uses, containers live beside the images: <state_path>/containers.
      inUse: () => layersInUse(path.dirname(root)),
      ...opts.cache,
      references: () => this.references(),
    });
    this.preparer = new ImagePreparer({
      cache: this.cache,
      registry: opts.registry,
      log: opts.log,
    });
    this.sizeCap = opts.sizeCap ?? DEFAULT_SIZE_CAP;
  }

  async show(ref: string): Promise<ImageRecord> {
    await this.ready();
    return publicRecord(await this.find(ref));
  }

  async list(): Promise<ImageRecord[]> {
    await this.ready();
    return (await this.readAll()).map(publicRecord);
  }

  async prepare(ref: string, opts: LocalPrepareOptions = {}): Promise<PreparedImage> {
    await this.ready();
    const stored = await this.find(ref);
    const hasData = stored.status === 'active' && stored.blob_sha256;
    if (!hasData && !stored.properties[REF_PROPERTY])
      throw new ConflictError(`image ${stored.id} has no data (status ${stored.status})`);
    const source: PrepareSource = { record: publicRecord(stored) };
    if (hasData) source.data = `sha256:${stored.blob_sha256}`;
    const prepared = await this.preparer.prepare(source, {
      bases: opts.bases ?? this,
      onProgress: opts.onProgress,
    });
    await this.notePrepared(stored.id, prepared);
    return publicPrepared(prepared);
  }

  /**
   * Prepares a record this store does not keep (a registry image another
   * image service holds): its layers are cached here all the same.
   */
  async prepareRecord(record: ImageRecord, opts: LocalPrepareOptions = {}): Promise<PreparedImage> {
    const prepared = await this.preparer.prepare(
      { record },
      { bases: opts.bases ?? this, onProgress: opts.onProgress },
    );
    return publicPrepared(prepared);
  }

  /** `berth image prune`: what no image record refers to and no instance uses. */
  prune(): Promise<FreedItem[]> {
    return this.cache.prune();
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    await this.ready();
    const { tmp, digests } = await this.receive(tarPath);
    try {
      const record = importedRecord(name, digests, opts);
      await this.mutations.run('store', () => this.commitBlob(tmp, digests.sha256));
      let prepared: PreparedWithBlobs;
      try {
        // Preparing now proves the file is an image and makes the first boot as fast as later ones.
        prepared = await this.preparer.prepare(
          { record, data: `sha256:${digests.sha256}` },
          { bases: this },
        );
      } catch (err) {
        await this.mutations.run('store', () => this.removeBlobIfUnused(digests.sha256));
        throw err instanceof ImageFormatError
          ? new InvalidArgumentError(
              `image ${tarPath}: not a valid image archive: ${err.message}`,
              {
                cause: err,
              },
            )
          : err;
      }
      await this.mutations.run('store', () =>
        this.write({ ...record, blob_sha256: digests.sha256, ...preparedFields(prepared) }),
      );
      return record;
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
  }

  /**
   * Removes the record, the blob once no image refers to it, and its
   * layers and layer blobs that no other image refers to and no instance
   * uses (the cache's rules: a layer of a stopped or running instance
   * stays).
   */
  async delete(ref: string): Promise<void> {
    await this.ready();
    const { id } = await this.find(ref);
    const stored = await this.mutations.run('store', async () => {
      const current = await this.readById(id);
      if (current.protected)
        throw new ImageForbiddenError(`Image ${id} is protected and cannot be deleted.`);
      await fs.promises.rm(this.metadataPath(id));
      await syncDirectory(this.metadataDir);
      if (current.blob_sha256) await this.removeBlobIfUnused(current.blob_sha256);
      return current;
    });
    const held = heldBy(stored);
    await this.cache.forget({ layers: held.layers, blobs: held.blobs });
  }

  async create(image: NewImage): Promise<ImageRecord> {
    const record = queuedRecord(image);
    await this.ready();
    await this.mutations.run('store', async () => {
      if (await this.read(this.metadataPath(record.id)))
        throw new ConflictError(`Image with identifier ${record.id} already exists!`);
      await this.write(record);
    });
    return record;
  }

  async update(id: string, changes: ImageMetadata): Promise<ImageRecord> {
    await this.ready();
    return this.mutations.run('store', async () => {
      const stored = await this.readById(id);
      const next: StoredImage = { ...changedRecord(publicRecord(stored), changes) };
      if (stored.blob_sha256) next.blob_sha256 = stored.blob_sha256;
      await this.write(next);
      return publicRecord(next);
    });
  }

  async settle(
    id: string,
    status: 'active' | 'killed',
    changes: ImageMetadata = {},
  ): Promise<ImageRecord> {
    await this.ready();
    return this.mutations.run('store', async () => {
      const stored = await this.readById(id);
      if (stored.status !== 'queued')
        throw new ConflictError(
          `Image status transition from ${stored.status} to ${status} is not allowed`,
        );
      const next: StoredImage = { ...changedRecord(publicRecord(stored), changes), status };
      await this.write(next);
      return publicRecord(next);
    });
  }

  async upload(id: string, data: Readable, opts: UploadOptions = {}): Promise<ImageRecord> {
    await this.ready();
    await this.mutations.run('store', async () => {
      const stored = await this.readById(id);
      checkUploadable(stored);
      await this.write({ ...stored, status: 'saving', updated_at: new Date().toISOString() });
    });
    let tmp: string | undefined;
    try {
      const received = await this.receive(data);
      tmp = received.tmp;
      const { digests } = received;
      checkExpected(digests, opts.expect);
      return await this.mutations.run('store', async () => {
        const stored = await this.read(this.metadataPath(id));
        if (!stored || stored.status !== 'saving')
          throw new NotFoundError(`Image ${id} could not be found after upload: it was deleted`);
        await this.commitBlob(received.tmp, digests.sha256);
        const active = { ...activeRecord(stored, digests), blob_sha256: digests.sha256 };
        await this.write(active);
        return publicRecord(active);
      });
    } catch (err) {
      // As Glance: a failed upload leaves the image queued for another try.
      await this.mutations.run('store', async () => {
        const stored = await this.read(this.metadataPath(id));
        if (stored?.status === 'saving') await this.write({ ...stored, status: 'queued' });
      });
      throw err;
    } finally {
      if (tmp) await fs.promises.rm(tmp, { force: true });
    }
  }

  async download(
    id: string,
    range?: { start: number; end: number },
  ): Promise<ImageData | undefined> {
    await this.ready();
    const stored = await this.readById(id);
    if (!stored.blob_sha256 || stored.size === null) return undefined;
    const blob = this.blobPath(stored.blob_sha256);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(blob, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? stored.size - 1;
    if (start > end + 1 || end >= stored.size)
      throw new InvalidArgumentError(`range ${start}-${end} is outside image ${id}`);
    return { size: stored.size, start, end, stream: handle.createReadStream({ start, end }) };
  }

  /** Remembers what an image unpacked to, so that deleting it can remove its layers. */
  private async notePrepared(id: string, prepared: PreparedWithBlobs): Promise<void> {
    const fields = preparedFields(prepared);
    await this.mutations.run('store', async () => {
      const stored = await this.read(this.metadataPath(id));
      if (!stored) return;
      const had = { diff_ids: stored.diff_ids, layer_blobs: stored.layer_blobs };
      if (JSON.stringify(had) === JSON.stringify(fields)) return;
      await this.write({ ...stored, ...fields });
    });
  }

  /** What the records of this store refer to: kept by the cache until they go. */
  private async references(): Promise<{ blobs: Set<string>; layers: Set<string> }> {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const stored of await this.readAll()) {
      const held = heldBy(stored);
      held.blobs.forEach((b) => blobs.add(b));
      held.layers.forEach((l) => layers.add(l));
    }
    return { blobs, layers };
  }

  /** Streams data into a temporary blob, hashing it; the caller commits or removes `tmp`. */
  private async receive(source: string | Readable): Promise<{ tmp: string; digests: Digests }> {
    await fs.promises.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    const tmp = path.join(
      this.blobDir,
      `.incoming-${process.pid}-${randomBytes(6).toString('hex')}`,
    );
    try {
      const sink = fs.createWriteStream(tmp, { mode: 0o600, flush: true });
      return { tmp, digests: await streamWithDigests(source, sink, this.sizeCap) };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Moves a received blob under its digest (a no-op when those bytes are there). */
  private async commitBlob(tmp: string, sha256: string): Promise<void> {
    const blob = this.blobPath(sha256);
    if (fs.existsSync(blob)) return;
    await fs.promises.rename(tmp, blob);
    await syncDirectory(this.blobDir);
  }

  private async removeBlobIfUnused(sha256: string): Promise<void> {
    if ((await this.readAll()).some((r) => r.blob_sha256 === sha256)) return;
    await fs.promises.rm(this.blobPath(sha256), { force: true });
  }

  private async find(ref: string): Promise<StoredImage> {
    // An id names its file; reading it alone spares the spawn path a scan of every image.
    if (UUID.test(ref)) {
      const stored = await this.read(this.metadataPath(ref.toLowerCase()));
      if (stored) return stored;
    }
    return findImage(ref, await this.readAll()) as StoredImage;
  }

  private async readById(id: string): Promise<StoredImage> {
    const stored = UUID.test(id) ? await this.read(this.metadataPath(id.toLowerCase())) : undefined;
    if (!stored) throw new NotFoundError(`image ${id} not found`);
    return stored;
  }

  private async readAll(): Promise<StoredImage[]> {
    const records = await Promise.all((await this.metadataFiles()).map((file) => this.read(file)));
    return records
      .filter((r): r is StoredImage => r !== undefined)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  private async metadataFiles(): Promise<string[]> {
    try {
      return (await fs.promises.readdir(this.metadataDir))
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .map((n) => path.join(this.metadataDir, n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private async read(file: string): Promise<StoredImage | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as StoredImage;
    } catch (err) {
      throw new InternalError(`image metadata ${file} is corrupt`, { cause: err });
    }
  }

  private async write(stored: StoredImage): Promise<void> {
    await fs.promises.mkdir(this.metadataDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.metadataPath(stored.id), `${JSON.stringify(stored, null, 2)}\n`);
  }

  /**
   * Every public method waits for this first. Records written before the
   * store spoke Glance (sha256 as os_hash, no visibility) are rewritten
   * once, with sha512 computed from their blob.
   */
  private ready(): Promise<void> {
    this.upgraded ??= (async () => {
      for (const file of await this.metadataFiles()) {
        const raw = await this.read(file);
        const upgraded = raw && (await upgradeLegacyRecord(raw, this.blobDir));
        if (upgraded) await this.write(upgraded);
      }
    })().catch((err: unknown) => {
      this.upgraded = undefined;
      throw err;
    });
    return this.upgraded;
  }

  private blobPath(digest: string): string {
    return path.join(this.blobDir, digest);
  }

  private metadataPath(id: string): string {
    return path.join(this.metadataDir, `${id}.json`);
  }
}

function publicRecord(stored: StoredImage): ImageRecord {
  const { blob_sha256: _blob, diff_ids: _d, layer_blobs: _l, ...record } = stored;
  void [_blob, _d, _l];
  return record;
}

function publicPrepared(p: PreparedWithBlobs): PreparedImage {
  return { layers: p.layers, config: p.config, diffIds: p.diffIds };
}

function preparedFields(p: PreparedWithBlobs): Pick<StoredImage, 'diff_ids' | 'layer_blobs'> {
  return { diff_ids: p.diffIds, layer_blobs: p.blobs };
}

/** The blobs and layers a record refers to: its data, berth_layers, what it was prepared to. */
function heldBy(stored: StoredImage): { blobs: string[]; layers: string[] } {
  let refs: { digest: string; diffId?: string }[] = [];
  try {
    refs = layerRefs(stored);
  } catch {
    refs = []; // a malformed property holds nothing
  }
  return {
    blobs: [
      ...(stored.blob_sha256 ? [`sha256:${stored.blob_sha256}`] : []),
      ...refs.map((r) => r.digest),
      ...(stored.layer_blobs ?? []),
    ],
    layers: [...refs.flatMap((r) => (r.diffId ? [r.diffId] : [])), ...(stored.diff_ids ?? [])],
  };
}
