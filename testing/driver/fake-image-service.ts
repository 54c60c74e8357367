/**
 * An in-memory ImageService for unit tests: records as the local store
 * makes them, the same refusals and lifecycle, data kept in memory, and a
 * fixed set of layer directories instead of unpacked tars.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import {
  ImageForbiddenError,
  type ImageData,
  type ImageMetadata,
  type ImageRecord,
  type ImageService,
  type ImportOptions,
  type NewImage,
  type PreparedImage,
  type UploadOptions,
} from '../../driver/image/image-service';
import {
  activeRecord,
  changedRecord,
  checkExpected,
  checkImport,
  checkUploadable,
  DEFAULT_SIZE_CAP,
  findImage,
  importedRecord,
  isTarHeader,
  looksLikeTar,
  queuedRecord,
  streamWithDigests,
} from '../../driver/image/image-record';

export class FakeImageService implements ImageService {
  private readonly records = new Map<string, ImageRecord>();
  private readonly data = new Map<string, Buffer>();

  /** `layerDirs`: the layers `prepare()` returns for every image, e.g. an unpacked test rootfs */
  constructor(
    private readonly layerDirs: string[] = ['/fake/images/layers/rootfs'],
    private readonly sizeCap = DEFAULT_SIZE_CAP,
  ) {}

  async show(ref: string): Promise<ImageRecord> {
    return structuredClone(findImage(ref, [...this.records.values()]));
  }

  async list(): Promise<ImageRecord[]> {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async prepare(ref: string): Promise<PreparedImage> {
    const record = await this.show(ref);
    const data = this.data.get(record.id);
    if (record.status !== 'active' || !data)
      throw new ConflictError(`image ${record.id} has no data (status ${record.status})`);
    if (!isTarHeader(data))
      throw new InvalidArgumentError(`image ${record.name}: not a valid image archive`);
    return {
      layers: [...this.layerDirs],
      config: record.config ?? {},
      diffIds: this.layerDirs.map(
        (_, i) => `sha256:${createHash('sha256').update(`${record.id}/${i}`).digest('hex')}`,
      ),
    };
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    if (!(await looksLikeTar(tarPath)))
      throw new InvalidArgumentError(`image ${tarPath}: not a valid image archive`);
    const { digests, data } = await this.receive(tarPath);
    const record = importedRecord(name, digests, opts);
    this.records.set(record.id, record);
    this.data.set(record.id, data);
    return structuredClone(record);
  }

  async delete(ref: string): Promise<void> {
    const record = await this.show(ref);
    if (record.protected)
      throw new ImageForbiddenError(`Image ${record.id} is protected and cannot be deleted.`);
    this.records.delete(record.id);
    this.data.delete(record.id);
  }

  async create(image: NewImage): Promise<ImageRecord> {
    const record = queuedRecord(image);
    if (this.records.has(record.id))
      throw new ConflictError(`Image with identifier ${record.id} already exists!`);
    this.records.set(record.id, record);
    return structuredClone(record);
  }

  async update(id: string, changes: ImageMetadata): Promise<ImageRecord> {
    const record = changedRecord(this.byId(id), changes);
    this.records.set(id, record);
    return structuredClone(record);
  }

  async upload(id: string, source: Readable, opts: UploadOptions = {}): Promise<ImageRecord> {
    const queued = this.byId(id);
    checkUploadable(queued);
    this.records.set(id, { ...queued, status: 'saving' });
    try {
      const { digests, data } = await this.receive(source);
      checkExpected(digests, opts.expect);
      const saving = this.records.get(id);
      if (saving?.status !== 'saving')
        throw new NotFoundError(`Image ${id} could not be found after upload: it was deleted`);
      const record = activeRecord(saving, digests);
      this.records.set(id, record);
      this.data.set(id, data);
      return structuredClone(record);
    } catch (err) {
      const current = this.records.get(id);
      if (current?.status === 'saving') this.records.set(id, { ...current, status: 'queued' });
      throw err;
    }
  }

  async download(
    id: string,
    range?: { start: number; end: number },
  ): Promise<ImageData | undefined> {
    this.byId(id);
    const data = this.data.get(id);
    if (!data) return undefined;
    const start = range?.start ?? 0;
    const end = range?.end ?? data.length - 1;
    if (start > end + 1 || end >= data.length)
      throw new InvalidArgumentError(`range ${start}-${end} is outside image ${id}`);
    return {
      size: data.length,
      start,
      end,
      stream: Readable.from([data.subarray(start, end + 1)]),
    };
  }

  private byId(id: string): ImageRecord {
    const record = this.records.get(id);
    if (!record) throw new NotFoundError(`image ${id} not found`);
    return record;
  }

  private async receive(source: string | Readable) {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        chunks.push(chunk);
        done();
      },
    });
    const digests = await streamWithDigests(source, sink, this.sizeCap);
    return { digests, data: Buffer.concat(chunks) };
  }
}
