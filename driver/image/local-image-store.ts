/**
 * berth's own image store, the embedded default behind the ImageService
 * seam. Under its root (`<state_path>/images`):
 *
 *   metadata/<id>.json     one ImageRecord per image, replaced atomically
 *   blobs/sha256/<hex>     the imported tar, content-addressed and shared
 *   layers/<hex>           the tar unpacked once (LayerStore), a lower dir
 *
 * An import is visible only once its metadata is written, which happens
 * last: a crash before that leaves at most an unreferenced blob.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory, writeFileAtomic } from '../atomic-file';
import { InternalError } from '../errors';
import { UndoStack } from '../undo-stack';
import type { ImageRecord, ImageService, ImportOptions } from './image-service';
import {
  checkImport,
  type Digests,
  findImage,
  newImageRecord,
  streamWithDigests,
  UUID,
} from './image-record';
import { LayerStore } from './layer-store';

export class LocalImageStore implements ImageService {
  private readonly metadataDir: string;
  private readonly blobDir: string;
  private readonly layerStore: LayerStore;

  constructor(readonly root: string) {
    this.metadataDir = path.join(root, 'metadata');
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.layerStore = new LayerStore(path.join(root, 'layers'));
  }

  async show(ref: string): Promise<ImageRecord> {
    // An id names its file; reading it alone spares the spawn path a scan of every image.
    if (UUID.test(ref)) {
      const record = await this.read(path.join(this.metadataDir, `${ref.toLowerCase()}.json`));
      if (record) return record;
    }
    return findImage(ref, await this.list());
  }

  async list(): Promise<ImageRecord[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.metadataDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const records = await Promise.all(
      names
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .map((n) => this.read(path.join(this.metadataDir, n))),
    );
    return records
      .filter((r): r is ImageRecord => r !== undefined)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  async layers(ref: string): Promise<string[]> {
    const record = await this.show(ref);
    const digest = record.os_hash_value;
    return [await this.layerStore.unpack(this.blobPath(digest), digest, record.name)];
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    await fs.promises.mkdir(this.metadataDir, { recursive: true, mode: 0o700 });
    await fs.promises.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    const undo = new UndoStack();
    try {
      const digests = await this.storeBlob(tarPath, undo);
      // Unpacking now proves the file is a tar and makes the first boot as fast as later ones.
      await this.layerStore.unpack(this.blobPath(digests.sha256), digests.sha256, tarPath);
      const record = newImageRecord(name, digests, opts);
      await writeFileAtomic(this.metadataPath(record.id), `${JSON.stringify(record, null, 2)}\n`);
      return record;
    } catch (err) {
      await undo.rollback();
      throw err;
    }
  }

  /**
   * Removes the record, and the blob once no image refers to it. The
   * unpacked layer stays: stopped and running instances use it as their
   * lower directory, and only the compute host knows which.
   */
  async delete(ref: string): Promise<void> {
    const record = await this.show(ref);
    await fs.promises.rm(this.metadataPath(record.id));
    await syncDirectory(this.metadataDir);
    await this.removeBlobIfUnused(record.os_hash_value);
  }

  /** Copies the tar into the blob store under its digest (a no-op when those bytes are there). */
  private async storeBlob(tarPath: string, undo: UndoStack): Promise<Digests> {
    const tmp = path.join(this.blobDir, `.import-${process.pid}-${randomBytes(6).toString('hex')}`);
    undo.push('remove the partial blob', () => fs.promises.rm(tmp, { force: true }));
    const digests = await streamWithDigests(
      tarPath,
      fs.createWriteStream(tmp, { mode: 0o600, flush: true }),
    );
    const blob = this.blobPath(digests.sha256);
    if (fs.existsSync(blob)) {
      await fs.promises.rm(tmp);
      return digests;
    }
    await fs.promises.rename(tmp, blob);
    undo.push('remove the new blob', () => this.removeBlobIfUnused(digests.sha256));
    await syncDirectory(this.blobDir);
    return digests;
  }

  private async removeBlobIfUnused(digest: string): Promise<void> {
    if ((await this.list()).some((r) => r.os_hash_value === digest)) return;
    await fs.promises.rm(this.blobPath(digest), { force: true });
  }

  private async read(file: string): Promise<ImageRecord | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as ImageRecord;
    } catch (err) {
      throw new InternalError(`image metadata ${file} is corrupt`, { cause: err });
    }
  }

  private blobPath(digest: string): string {
    return path.join(this.blobDir, digest);
  }

  private metadataPath(id: string): string {
    return path.join(this.metadataDir, `${id}.json`);
  }
}
