/**
 * berth's own image store, the embedded default behind the ImageService
 * seam and the store the image API serves. Under its root
 * (`<state_path>/images`):
 *
 *   metadata/<id>.json     one record per image, replaced atomically
 *   blobs/sha256/<hex>     the image data, content-addressed and shared
 *   layers/<hex>           a rootfs tar unpacked once (LayerStore), a lower dir
 *
 * Blobs and layers stay keyed by sha256 (older stores have them so);
 * records expose Glance's sha512 and md5. Data arrives through a temporary
 * file hashed on the way in and is renamed into place; a record refers to
 * a blob only once it is there, so a crash leaves at most an unreferenced
 * blob. Changes to records and blobs take one in-process lock: the CLI and
 * the API on one state directory are not serialised against each other.
 */
import { randomBytes } from 'node:crypto';
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
import {
  ImageForbiddenError,
  type ImageData,
  type ImageMetadata,
  type ImageRecord,
  type ImageService,
  type ImportOptions,
  type NewImage,
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
import { LayerStore } from './layer-store';
import { type StoredImage, upgradeLegacyRecord } from './legacy-record';

export interface LocalImageStoreOptions {
  /** bytes an upload may have (Glance's image_size_cap); default 1 TiB */
  sizeCap?: number;
}

export class LocalImageStore implements ImageService {
  private readonly metadataDir: string;
  private readonly blobDir: string;
  private readonly layerStore: LayerStore;
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
    this.layerStore = new LayerStore(path.join(root, 'layers'));
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

  async layers(ref: string): Promise<string[]> {
    await this.ready();
    const stored = await this.find(ref);
    if (stored.status !== 'active' || !stored.blob_sha256)
      throw new ConflictError(`image ${stored.id} has no data (status ${stored.status})`);
    const label = `${stored.name ?? stored.id} (${stored.id}, disk_format ${stored.disk_format})`;
    return [
      await this.layerStore.unpack(this.blobPath(stored.blob_sha256), stored.blob_sha256, label),
    ];
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    await this.ready();
    const { tmp, digests } = await this.receive(tarPath);
    try {
      // Unpacking now proves the file is a tar and makes the first boot as fast as later ones.
      await this.layerStore.unpack(tmp, digests.sha256, tarPath);
      const record = importedRecord(name, digests, opts);
      await this.mutations.run('store', async () => {
        await this.commitBlob(tmp, digests.sha256);
        await this.write({ ...record, blob_sha256: digests.sha256 });
      });
      return record;
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
  }

  /**
   * Removes the record, and the blob once no image refers to it. The
   * unpacked layer stays: stopped and running instances use it as their
   * lower directory, and only the compute host knows which.
   */
  async delete(ref: string): Promise<void> {
    await this.ready();
    const { id } = await this.find(ref);
    await this.mutations.run('store', async () => {
      const stored = await this.readById(id);
      if (stored.protected)
        throw new ImageForbiddenError(`Image ${id} is protected and cannot be deleted.`);
      await fs.promises.rm(this.metadataPath(id));
      await syncDirectory(this.metadataDir);
      if (stored.blob_sha256) await this.removeBlobIfUnused(stored.blob_sha256);
    });
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
  const { blob_sha256: _blob, ...record } = stored;
  void _blob;
  return record;
}
