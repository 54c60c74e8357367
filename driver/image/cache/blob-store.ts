/**
 * Content-addressed blobs on a host: `<root>/blobs/sha256/<hex>`. A blob
 * is only ever visible under its name once its bytes hash to it: fetches
 * go to a temporary file that is verified and then renamed, so a partial
 * or tampered download is never used or kept. Concurrent requests for one
 * digest share one fetch (single-flight), so N builds of one uncached image
 * fetch each blob once.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '../../../common/errors';
import { syncDirectory } from '../../../common/atomic-file';
import { ImageChecksumError } from '../image-errors';
import { DIGEST } from '../oci';
import { BlobWriter } from './blob-writer';

export interface BlobWant {
  digest: string;
  /** bytes the blob must have, when the source says (an OCI descriptor) */
  size?: number;
}

export interface StoredBlob {
  digest: string;
  size: number;
  path: string;
}

/**
 * Puts a blob's bytes into the store, either through `writer` (hashed as
 * they are written: the store then trusts the writer's digest and does not
 * read the file again) or by writing the file `tmp` itself (the store then
 * hashes it once it is written). Both are the store's, removed on failure.
 */
export type BlobFetch = (tmp: string, writer: BlobWriter) => Promise<void>;

export class BlobStore {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<StoredBlob>>();

  constructor(root: string) {
    this.dir = path.join(root, 'blobs', 'sha256');
  }

  path(digest: string): string {
    return path.join(this.dir, hexOf(digest));
  }

  /** the stored blob, or undefined */
  async stat(digest: string): Promise<StoredBlob | undefined> {
    const file = this.path(digest);
    try {
      const st = await fs.promises.stat(file);
      return { digest, size: st.size, path: file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** The blob, fetched with `fetch` unless it is here already; one fetch per digest at a time. */
  ensure(want: BlobWant, fetch: BlobFetch): Promise<StoredBlob> {
    hexOf(want.digest);
    let job = this.inflight.get(want.digest);
    if (!job) {
      job = this.fetchOnce(want, fetch).finally(() => this.inflight.delete(want.digest));
      this.inflight.set(want.digest, job);
    }
    return job;
  }

  /**
   * Stores a stream whose digest may not be known yet (a `docker save`
   * layer); with `want`, refused unless it matches.
   */
  async put(data: Readable, want?: BlobWant): Promise<StoredBlob> {
    if (want) {
      const have = await this.stat(want.digest);
      if (have) {
        data.resume();
        return have;
      }
    }
    const tmp = await this.tempPath();
    const writer = new BlobWriter(tmp);
    try {
      await writer.restart();
      for await (const chunk of data as AsyncIterable<Buffer>) await writer.write(chunk);
      const got = await writer.finish();
      if (want) check(want, got, want.digest);
      return await this.commit(tmp, got);
    } finally {
      await writer.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
    }
  }

  async remove(digest: string): Promise<void> {
    await fs.promises.rm(this.path(digest), { force: true });
  }

  /** every stored digest, for pruning */
  async list(): Promise<StoredBlob[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: StoredBlob[] = [];
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const blob = await this.stat(`sha256:${name}`);
      if (blob) out.push(blob);
    }
    return out;
  }

  private async fetchOnce(want: BlobWant, fetch: BlobFetch): Promise<StoredBlob> {
    const have = await this.stat(want.digest);
    if (have) return have;
    const tmp = await this.tempPath();
    const writer = new BlobWriter(tmp);
    try {
      await fetch(tmp, writer);
      // Never renamed into place unless its bytes hash to the digest: hashed as
      // they went through the writer, or else read back now.
      const got = writer.used
        ? await writer.finish()
        : await hashOf(fs.createReadStream(tmp, { highWaterMark: 1 << 20 }));
      check(want, got, want.digest);
      return await this.commit(tmp, got);
    } finally {
      await writer.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
    }
  }

  private async commit(tmp: string, got: { digest: string; size: number }): Promise<StoredBlob> {
    const file = this.path(got.digest);
    await fs.promises.rename(tmp, file);
    await syncDirectory(this.dir);
    return { ...got, path: file };
  }

  private async tempPath(): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    return path.join(this.dir, `.incoming-${process.pid}-${randomBytes(6).toString('hex')}`);
  }
}

function hexOf(digest: string): string {
  if (!DIGEST.test(digest))
    throw new InvalidArgumentError(`invalid digest ${JSON.stringify(digest)}`);
  return digest.slice('sha256:'.length);
}

function check(want: BlobWant, got: { digest: string; size: number }, label: string): void {
  if (want.size !== undefined && got.size !== want.size)
    throw new ImageChecksumError(
      `blob ${label}: ${got.size} bytes received, ${want.size} expected`,
    );
  if (got.digest !== want.digest)
    throw new ImageChecksumError(
      `blob ${label}: checksum mismatch (the data hashes to ${got.digest})`,
    );
}

/** sha256 and length of a stream. */
async function hashOf(data: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
