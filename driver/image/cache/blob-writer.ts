/**
 * A blob's bytes on their way to a temporary file: each chunk is hashed
 * as it is accepted and written behind the caller's back, coalesced into
 * one `pwritev` per batch, so a download is neither read back to be
 * verified nor held up by every write. The digest it reports is the
 * digest of exactly the bytes it put in the file, in order: the BlobStore
 * trusts it instead of hashing the file again.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';

/** bytes accepted but not yet written past which `write` waits for the disk */
const MAX_QUEUED = 8 << 20;

export class BlobWriter {
  /** bytes accepted (and hashed) since the last `restart` */
  size = 0;
  private hash: Hash = createHash('sha256');
  private handle?: fs.promises.FileHandle;
  private queue: Buffer[] = [];
  private queued = 0;
  /** where the next batch goes in the file */
  private position = 0;
  private writing?: Promise<void>;
  private failure?: Error;
  private finished = false;

  constructor(readonly file: string) {}

  /** true once a write to the file failed: starting over would not help */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** true once anything went through this writer (the file is then its alone to fill) */
  get used(): boolean {
    return this.handle !== undefined;
  }

  /** Starts the file over, empty (also how a writer begins: an empty blob is a file too). */
  async restart(): Promise<void> {
    await this.settle();
    if (!this.handle) this.handle = await fs.promises.open(this.file, 'w', 0o600);
    else await this.handle.truncate(0);
    this.hash = createHash('sha256');
    this.size = 0;
    this.position = 0;
  }

  /** Hashes `chunk` and queues it for the file; waits only when much is queued already. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error(`blob writer for ${this.file} is finished`);
    if (!this.handle) await this.restart();
    this.hash.update(chunk);
    this.size += chunk.length;
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.writing ??= this.drain();
    if (this.queued >= MAX_QUEUED) await this.settle();
  }

  /** sha256 and length of what was accepted so far */
  digest(): { digest: string; size: number } {
    return { digest: `sha256:${this.hash.copy().digest('hex')}`, size: this.size };
  }

  /**
   * Everything written, synced to disk (the blob is renamed into place
   * next, and must not turn up empty under its name after a power cut)
   * and closed; the digest of the file's bytes.
   */
  async finish(): Promise<{ digest: string; size: number }> {
    if (!this.handle) await this.restart();
    await this.settle();
    this.finished = true;
    const handle = this.handle!;
    const st = await handle.stat();
    // Something wrote the file by its path besides this writer: its digest says nothing then.
    if (st.size !== this.size)
      throw new Error(`${this.file}: ${st.size} bytes on disk, ${this.size} written through it`);
    await handle.datasync();
    await this.close();
    return this.digest();
  }

  /** Closes the file without a verdict (after a failure); the owner removes it. */
  async close(): Promise<void> {
    this.finished = true;
    await this.writing;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Waits until the queue is on disk; the write's error, if one failed. */
  private async settle(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  /** Writes queued batches until none is left; never rejects (`failure` keeps the error). */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length && !this.failure) {
        const batch = this.queue;
        const bytes = this.queued;
        this.queue = [];
        this.queued = 0;
        const { bytesWritten } = await this.handle!.writev(batch, this.position);
        if (bytesWritten !== bytes)
          throw new Error(`${this.file}: short write, ${bytesWritten} of ${bytes} bytes`);
        this.position += bytes;
      }
    } catch (err) {
      this.failure = err as Error;
    } finally {
      this.writing = undefined;
    }
  }
}
