/**
 * An in-memory ImageService for unit tests: records as the local store
 * makes them, the same refusals, and a fixed set of layer directories
 * instead of unpacked tars.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { InvalidArgumentError } from '../errors';
import type { ImageRecord, ImageService, ImportOptions } from './image-service';
import { checkImport, findImage, newImageRecord, streamWithDigests } from './image-record';

/** POSIX and GNU tar headers both carry "ustar" at this offset. */
const TAR_MAGIC_OFFSET = 257;

export class FakeImageService implements ImageService {
  private readonly records = new Map<string, ImageRecord>();

  /** `layerDirs`: what `layers()` returns for every image, e.g. an unpacked test rootfs */
  constructor(private readonly layerDirs: string[] = ['/fake/images/layers/rootfs']) {}

  async show(ref: string): Promise<ImageRecord> {
    return structuredClone(findImage(ref, [...this.records.values()]));
  }

  async list(): Promise<ImageRecord[]> {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async layers(ref: string): Promise<string[]> {
    await this.show(ref);
    return [...this.layerDirs];
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    if (!looksLikeTar(tarPath))
      throw new InvalidArgumentError(`image ${tarPath}: not a valid image archive`);
    const digests = await streamWithDigests(tarPath, discard());
    const record = newImageRecord(name, digests, opts);
    this.records.set(record.id, record);
    return structuredClone(record);
  }

  async delete(ref: string): Promise<void> {
    this.records.delete((await this.show(ref)).id);
  }
}

function looksLikeTar(file: string): boolean {
  const header = Buffer.alloc(512);
  const fd = fs.openSync(file, 'r');
  try {
    const n = fs.readSync(fd, header, 0, header.length, 0);
    return (
      n === header.length &&
      header.toString('latin1', TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + 5) === 'ustar'
    );
  } finally {
    fs.closeSync(fd);
  }
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
