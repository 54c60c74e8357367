/**
 * Unpacked layers on a host, keyed by diff id (the sha256 of the
 * uncompressed tar), so that every image and instance that has a layer
 * shares one read-only lower directory, whatever compression its blob
 * travelled in. Under `<root>/layers/`:
 *
 *   <diffid hex>/        the layer, a lower dir; only ever renamed into place whole
 *   meta/<diffid hex>    its size in bytes; the file's mtime is the layer's last use
 *   by-blob/<blob hex>   the diff id a blob unpacks to, so a compressed blob is unpacked once
 *   archives/<blob hex>  what an image archive blob (docker save, OCI layout) holds, read once
 *
 * Dirs made by the old LayerStore are `<sha256 of the tar>`: those tars
 * were uncompressed, so that name is their diff id and they stay valid.
 * A layer is unpacked into a temporary directory and renamed only once
 * its diff id is known (and matches what the image config promised), so
 * a tampered layer is never used or kept. One unpack per blob at a time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { writeFileAtomic } from '../../../common/atomic-file';
import { InvalidArgumentError } from '../../../common/errors';
import { KeyedLocks } from '../../../common/keyed-locks';
import { ImageChecksumError } from '../image-errors';
import { DIGEST } from '../oci';
import type { BlobStore } from './blob-store';
import { unpackLayer } from '../unpack';
import type { ImageArchive } from '../archive';

export interface LayerBlob {
  /** the blob's digest: where its bytes are in the BlobStore */
  digest: string;
  /** what it must unpack to, when the image config says (OCI rootfs.diff_ids) */
  diffId?: string;
}

export interface CachedLayer {
  diffId: string;
  dir: string;
}

export interface StoredLayer extends CachedLayer {
  /** bytes of the unpacked layer (its uncompressed tar) */
  size: number;
  /** ms since the epoch */
  lastUsed: number;
}

/** What one prepare holds: the layers it returns stay until it is released. */
export class Lease {
  readonly layers = new Set<string>();
  readonly blobs = new Set<string>();
}

export interface LayerCacheOptions {
  /** the unpack guard (`[image_cache] unpack_max_ratio`, …) */
  limits?: { maxBytes?: number; maxRatio?: number };
  log?: Logger;
}

const HEX = /^[0-9a-f]{64}$/;

export class LayerCache {
  readonly dir: string;
  private readonly metaDir: string;
  private readonly byBlobDir: string;
  /** blob digest → its unpack in flight */
  private readonly inflight = new Map<string, Promise<CachedLayer>>();
  /** diff id → leases holding it: layers a prepare in flight returns, never removed */
  private readonly pins = new Map<string, number>();
  /**
   * Finding a layer and pinning it, and checking pins and moving a layer
   * aside, are each done under this one lock: a removal can then never
   * take a layer between a prepare finding it and pinning it.
   */
  private readonly index = new KeyedLocks();

  constructor(
    private readonly blobs: BlobStore,
    root: string,
    private readonly opts: LayerCacheOptions = {},
  ) {
    this.dir = path.join(root, 'layers');
    this.metaDir = path.join(this.dir, 'meta');
    this.byBlobDir = path.join(this.dir, 'by-blob');
  }

  path(diffId: string): string {
    return path.join(this.dir, hexOf(diffId));
  }

  /**
   * The blob's unpacked layer, unpacking it unless it is here; `label`
   * names it in errors. The layer stays pinned by `lease` (kept from
   * removal) until the lease is released.
   */
  async layer(blob: LayerBlob, label: string, lease: Lease): Promise<CachedLayer> {
    hexOf(blob.digest);
    if (blob.diffId) hexOf(blob.diffId);
    let job = this.inflight.get(blob.digest);
    if (!job) {
      job = this.layerOnce(blob, label, lease).finally(() => this.inflight.delete(blob.digest));
      this.inflight.set(blob.digest, job);
    }
    const layer = await job;
    if (lease.layers.has(layer.diffId)) return layer;
    // Joined another prepare's unpack: pin it for this lease too, unless it went meanwhile.
    const pinned = await this.index.run('index', async () =>
      this.exists(layer.diffId) ? (this.pin(lease, layer.diffId), true) : false,
    );
    return pinned ? layer : this.layer(blob, label, lease);
  }

  /** Unpins every layer the lease holds. */
  release(lease: Lease): void {
    for (const diffId of lease.layers) {
      const n = (this.pins.get(diffId) ?? 1) - 1;
      if (n > 0) this.pins.set(diffId, n);
      else this.pins.delete(diffId);
    }
    lease.layers.clear();
  }

  pinned(diffId: string): boolean {
    return this.pins.has(diffId);
  }

  /** Every stored layer, with its size and last use (a layer older than the index gets both now). */
  async list(): Promise<StoredLayer[]> {
    const out: StoredLayer[] = [];
    for (const name of await readdirOrEmpty(this.dir)) {
      if (!HEX.test(name)) continue;
      const diffId = `sha256:${name}`;
      const meta = await this.meta(diffId);
      out.push({ diffId, dir: path.join(this.dir, name), ...meta });
    }
    return out;
  }

  /** Records a use of the layer now: the LRU order eviction follows. */
  async touch(diffId: string): Promise<void> {
    const file = path.join(this.metaDir, hexOf(diffId));
    const now = new Date();
    try {
      await fs.promises.utimes(file, now, now);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.meta(diffId);
    }
  }

  /** The diff id a blob is known to unpack to, when that layer is here. */
  async diffIdOf(digest: string): Promise<string | undefined> {
    return this.lookup({ digest })?.diffId;
  }

  /**
   * Removes a layer unless a lease pins it or `keep` (checked under the
   * index lock: e.g. "an instance uses it") says so; true when removed. It
   * is renamed aside first, so that no look-up ever sees it half gone.
   */
  async remove(
    diffId: string,
    keep: () => boolean | Promise<boolean> = () => false,
  ): Promise<boolean> {
    const dir = this.path(diffId);
    const doomed = path.join(this.dir, `.removing-${randomBytes(6).toString('hex')}`);
    const moved = await this.index.run('index', async () => {
      if (this.pins.has(diffId) || (await keep())) return false;
      try {
        await fs.promises.rename(dir, doomed);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        return false;
      }
      await fs.promises.rm(path.join(this.metaDir, hexOf(diffId)), { force: true });
      return true;
    });
    if (moved) await fs.promises.rm(doomed, { recursive: true, force: true });
    return moved;
  }

  /** Forgets what a blob unpacks to or holds (after the blob was removed). */
  async forgetBlob(digest: string): Promise<void> {
    await fs.promises.rm(path.join(this.byBlobDir, hexOf(digest)), { force: true });
    await fs.promises.rm(this.archivePath(digest), { force: true });
  }

  /** Whether the blob is known to unpack to a layer that is here (no unpack, no detection). */
  unpacked(digest: string): boolean {
    return this.lookup({ digest }) !== undefined;
  }

  /**
   * What an image archive blob held when it was read: warm boots then
   * neither read the archive again nor spawn anything to tell its format.
   */
  async archive(digest: string): Promise<ImageArchive | undefined> {
    try {
      return JSON.parse(
        await fs.promises.readFile(this.archivePath(digest), 'utf8'),
      ) as ImageArchive;
    } catch {
      return undefined;
    }
  }

  async rememberArchive(digest: string, archive: ImageArchive): Promise<void> {
    await fs.promises.mkdir(path.dirname(this.archivePath(digest)), { recursive: true });
    await writeFileAtomic(this.archivePath(digest), JSON.stringify(archive));
  }

  private archivePath(digest: string): string {
    return path.join(this.dir, 'archives', hexOf(digest));
  }

  private pin(lease: Lease, diffId: string): void {
    if (lease.layers.has(diffId)) return;
    lease.layers.add(diffId);
    this.pins.set(diffId, (this.pins.get(diffId) ?? 0) + 1);
  }

  private exists(diffId: string): boolean {
    return fs.statSync(this.path(diffId), { throwIfNoEntry: false })?.isDirectory() ?? false;
  }

  private async layerOnce(blob: LayerBlob, label: string, lease: Lease): Promise<CachedLayer> {
    const known = await this.index.run('index', async () => {
      const found = this.lookup(blob);
      if (found) this.pin(lease, found.diffId);
      return found;
    });
    if (known) {
      await this.touch(known.diffId);
      return known;
    }
    const file = this.blobs.path(blob.digest);
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = path.join(this.dir, `.unpacking-${randomBytes(6).toString('hex')}`);
    const got = await unpackLayer(file, tmp, {
      limits: this.opts.limits,
      label,
      log: this.opts.log,
    });
    try {
      if (blob.diffId && got.diffId !== blob.diffId)
        throw new ImageChecksumError(
          `layer ${label}: checksum mismatch: blob ${blob.digest} unpacks to diff id ${got.diffId}, the image config says ${blob.diffId}`,
        );
      const dir = this.path(got.diffId);
      await this.index.run('index', async () => {
        await fs.promises.rename(tmp, dir).catch((err: NodeJS.ErrnoException) => {
          // Another blob of the same layer (a zstd and a gzip copy) got there first.
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        });
        this.pin(lease, got.diffId);
      });
      await this.writeMeta(got.diffId, got.size);
      await fs.promises.mkdir(this.byBlobDir, { recursive: true });
      await writeFileAtomic(path.join(this.byBlobDir, hexOf(blob.digest)), `${got.diffId}\n`);
      this.opts.log?.info('layer unpacked', {
        layer: label,
        blob: blob.digest,
        diff_id: got.diffId,
        bytes: got.size,
        skipped: got.skipped.length ? got.skipped : undefined,
      });
      return { diffId: got.diffId, dir };
    } finally {
      await fs.promises.rm(tmp, { recursive: true, force: true });
    }
  }

  /** The layer this blob is known to unpack to, when it is here (synchronous: under the lock). */
  private lookup(blob: LayerBlob): CachedLayer | undefined {
    const candidates: string[] = [];
    if (blob.diffId) candidates.push(blob.diffId);
    let mapped: string | undefined;
    try {
      mapped = fs.readFileSync(path.join(this.byBlobDir, hexOf(blob.digest)), 'utf8');
    } catch {
      mapped = undefined;
    }
    if (mapped && DIGEST.test(mapped.trim())) candidates.push(mapped.trim());
    // A dir named by the blob's own digest is that blob unpacked: an
    // uncompressed tar's sha256 is its diff id (and old LayerStore dirs are so named).
    candidates.push(blob.digest);
    for (const diffId of candidates) {
      if (blob.diffId && diffId !== blob.diffId) continue;
      if (this.exists(diffId)) return { diffId, dir: this.path(diffId) };
    }
    return undefined;
  }

  private async meta(diffId: string): Promise<{ size: number; lastUsed: number }> {
    const file = path.join(this.metaDir, hexOf(diffId));
    try {
      const [text, st] = await Promise.all([
        fs.promises.readFile(file, 'utf8'),
        fs.promises.stat(file),
      ]);
      const size = Number(text.trim());
      if (Number.isFinite(size)) return { size, lastUsed: st.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const size = await diskUsage(this.path(diffId));
    await this.writeMeta(diffId, size);
    return { size, lastUsed: Date.now() };
  }

  private async writeMeta(diffId: string, size: number): Promise<void> {
    await fs.promises.mkdir(this.metaDir, { recursive: true });
    await writeFileAtomic(path.join(this.metaDir, hexOf(diffId)), `${size}\n`);
  }
}

function hexOf(digest: string): string {
  if (!DIGEST.test(digest))
    throw new InvalidArgumentError(`invalid digest ${JSON.stringify(digest)}`);
  return digest.slice('sha256:'.length);
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Bytes a tree takes on disk (its blocks), for a layer unpacked before sizes were recorded. */
async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdirOrEmpty(d)) {
      const p = path.join(d, entry);
      const st = await fs.promises.lstat(p);
      total += st.blocks * 512;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}
