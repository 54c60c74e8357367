/**
 * The per-host image cache: blobs (BlobStore) and unpacked layers
 * (LayerCache) under one root, with a size cap kept by evicting least
 * recently used first, `prune`, and the clean-up of an image's layers when
 * it is deleted. What may go, and what never does:
 *
 *   - a layer an instance uses (its container's lower dir) or a prepare in
 *     flight holds (a Lease): never;
 *   - anything used less than `minUnusedAgeMs` ago: never (it covers the
 *     gap between a prepare and its container being made, and a prepare in
 *     another process, e.g. `berth image prune` beside a running compute);
 *   - a blob an image record refers to (an image's data, a registry
 *     image's layers): only when that image is deleted;
 *   - any other layer (it can be unpacked again from its blob) and any
 *     other blob (layers read out of an archive): on eviction, and on prune
 *     when no record refers to it.
 *
 * When everything left is in use the cache stays over its cap with a
 * warning rather than failing a boot: a layer an instance needs is working
 * set, not cache, and refusing it would only move the failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { KeyedLocks } from '../../../common/keyed-locks';
import { type BlobFetch, BlobStore, type BlobWant, type StoredBlob } from './blob-store';
import { type CachedLayer, type LayerBlob, LayerCache, Lease } from './layer-cache';

export interface CacheReferences {
  /** blob digests image records refer to */
  blobs: Set<string>;
  /** diff ids image records are known to unpack to */
  layers: Set<string>;
}

export interface ImageCacheOptions {
  /** bytes the cache is kept under (0 = no cap) */
  maxBytes?: number;
  /** default 0 */
  minUnusedAgeMs?: number;
  unpackMaxRatio?: number;
  /** layer directories instances use (their containers' lower dirs) */
  inUse?: () => Iterable<string> | Promise<Iterable<string>>;
  /** what the image records of this host's store refer to */
  references?: () => Promise<CacheReferences>;
  log?: Logger;
  now?: () => number;
}

export interface FreedItem {
  /** `layer` a diff id, `blob` a digest */
  kind: 'layer' | 'blob';
  digest: string;
  bytes: number;
}

export interface Usage {
  bytes: number;
  layers: { diffId: string; bytes: number; lastUsed: number }[];
  blobs: { digest: string; bytes: number; lastUsed: number }[];
}

export class ImageCache {
  readonly blobs: BlobStore;
  readonly layers: LayerCache;
  private readonly blobPins = new Map<string, number>();
  /** one eviction or prune at a time */
  private readonly gc = new KeyedLocks();

  constructor(
    readonly root: string,
    private readonly opts: ImageCacheOptions = {},
  ) {
    this.blobs = new BlobStore(root);
    this.layers = new LayerCache(this.blobs, root, {
      limits: opts.unpackMaxRatio ? { maxRatio: opts.unpackMaxRatio } : undefined,
      log: opts.log,
    });
  }

  /**
   * Runs `work` holding a lease: what it pins stays until it returns. The
   * cap is enforced before the lease is released, so the image just
   * prepared is never what makes room.
   */
  async withLease<T>(work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = new Lease();
    try {
      const result = await work(lease);
      await this.enforceCap();
      return result;
    } finally {
      this.layers.release(lease);
      this.releaseBlobs(lease);
    }
  }

  /** A blob, fetched unless here, pinned by the lease; its use is recorded. */
  async blob(want: BlobWant, fetch: BlobFetch, lease: Lease): Promise<StoredBlob> {
    this.pinBlob(lease, want.digest);
    const blob = await this.blobs.ensure(want, fetch);
    await touch(blob.path);
    return blob;
  }

  /** Pins a blob already in the store (an image's data, an archive's layers). */
  pinBlob(lease: Lease, digest: string): void {
    if (lease.blobs.has(digest)) return;
    lease.blobs.add(digest);
    this.blobPins.set(digest, (this.blobPins.get(digest) ?? 0) + 1);
  }

  layer(blob: LayerBlob, label: string, lease: Lease): Promise<CachedLayer> {
    this.pinBlob(lease, blob.digest);
    return this.layers.layer(blob, label, lease);
  }

  async usage(): Promise<Usage> {
    const layers = (await this.layers.list()).map((l) => ({
      diffId: l.diffId,
      bytes: l.size,
      lastUsed: l.lastUsed,
    }));
    const blobs: Usage['blobs'] = [];
    for (const b of await this.blobs.list()) {
      const st = await fs.promises.stat(b.path).catch(() => undefined);
      if (st) blobs.push({ digest: b.digest, bytes: b.size, lastUsed: st.mtimeMs });
    }
    const bytes = [...layers, ...blobs].reduce((n, x) => n + x.bytes, 0);
    return { bytes, layers, blobs };
  }

  /** Evicts while over the cap: unused layers, then unreferenced blobs, least recently used first. */
  enforceCap(): Promise<FreedItem[]> {
    const max = this.opts.maxBytes ?? 0;
    if (!max) return Promise.resolve([]);
    return this.gc.run('gc', async () => {
      const usage = await this.usage();
      if (usage.bytes <= max) return [];
      const { blobs: referenced } = await this.references();
      const keep = await this.keeper(usage);
      const candidates = [
        ...usage.layers.map((l) => ({ kind: 'layer' as const, digest: l.diffId, ...l })),
        ...usage.blobs
          .filter((b) => !referenced.has(b.digest))
          .map((b) => ({ kind: 'blob' as const, ...b })),
      ].sort((a, b) => a.lastUsed - b.lastUsed);
      const freed: FreedItem[] = [];
      let bytes = usage.bytes;
      for (const c of candidates) {
        if (bytes <= max) break;
        if (await this.removeItem(c.kind, c.digest, keep)) {
          freed.push({ kind: c.kind, digest: c.digest, bytes: c.bytes });
          bytes -= c.bytes;
        }
      }
      if (freed.length)
        this.opts.log?.info('image cache evicted least recently used', {
          freed_bytes: usage.bytes - bytes,
          items: freed.map((f) => f.digest),
        });
      if (bytes > max)
        this.opts.log?.warn('image cache over its cap: what is left is in use or recent', {
          bytes,
          max_bytes: max,
        });
      return freed;
    });
  }

  /** Removes every layer no instance uses and no record refers to, and every unreferenced blob. */
  prune(): Promise<FreedItem[]> {
    return this.gc.run('gc', async () => {
      const usage = await this.usage();
      const refs = await this.references();
      const keep = await this.keeper(usage);
      const freed: FreedItem[] = [];
      for (const l of usage.layers)
        if (!refs.layers.has(l.diffId) && (await this.removeItem('layer', l.diffId, keep)))
          freed.push({ kind: 'layer', digest: l.diffId, bytes: l.bytes });
      for (const b of usage.blobs)
        if (!refs.blobs.has(b.digest) && (await this.removeItem('blob', b.digest, keep)))
          freed.push({ kind: 'blob', digest: b.digest, bytes: b.bytes });
      return freed;
    });
  }

  /**
   * After an image record is gone: removes the layers and blobs it had
   * that no other record refers to and no instance uses.
   */
  forget(had: { layers: Iterable<string>; blobs: Iterable<string> }): Promise<FreedItem[]> {
    return this.gc.run('gc', async () => {
      const usage = await this.usage();
      const refs = await this.references();
      const keep = await this.keeper(usage);
      const freed: FreedItem[] = [];
      const stored = new Map(usage.layers.map((l) => [l.diffId, l.bytes]));
      for (const diffId of new Set(had.layers))
        if (
          stored.has(diffId) &&
          !refs.layers.has(diffId) &&
          (await this.removeItem('layer', diffId, keep))
        )
          freed.push({ kind: 'layer', digest: diffId, bytes: stored.get(diffId)! });
      for (const digest of new Set(had.blobs)) {
        const blob = await this.blobs.stat(digest);
        if (blob && !refs.blobs.has(digest) && (await this.removeItem('blob', digest, keep)))
          freed.push({ kind: 'blob', digest, bytes: blob.size });
      }
      return freed;
    });
  }

  /** What must stay whatever its age: layers instances use. */
  private async keeper(
    usage: Usage,
  ): Promise<(kind: 'layer' | 'blob', digest: string) => Promise<boolean>> {
    const inUse = new Set<string>();
    for (const dir of (await this.opts.inUse?.()) ?? []) {
      const resolved = path.resolve(dir);
      if (path.dirname(resolved) === this.layers.dir)
        inUse.add(`sha256:${path.basename(resolved)}`);
    }
    const minAge = this.opts.minUnusedAgeMs ?? 0;
    const now = this.opts.now ?? Date.now;
    const lastUsed = new Map<string, number>();
    for (const x of [...usage.layers.map((l) => ({ ...l, digest: l.diffId })), ...usage.blobs])
      lastUsed.set(x.digest, x.lastUsed);
    return async (kind, digest) => {
      if (kind === 'layer' && inUse.has(digest)) return true;
      const used = lastUsed.get(digest);
      return used !== undefined && now() - used < minAge;
    };
  }

  private async removeItem(
    kind: 'layer' | 'blob',
    digest: string,
    keep: (kind: 'layer' | 'blob', digest: string) => Promise<boolean>,
  ): Promise<boolean> {
    if (kind === 'layer') return this.layers.remove(digest, () => keep('layer', digest));
    if (this.blobPins.has(digest) || (await keep('blob', digest))) return false;
    await this.blobs.remove(digest);
    // Kept, the mapping would only grow: a blob fetched again is unpacked once more at worst.
    await this.layers.forgetBlob(digest);
    return true;
  }

  private releaseBlobs(lease: Lease): void {
    for (const digest of lease.blobs) {
      const n = (this.blobPins.get(digest) ?? 1) - 1;
      if (n > 0) this.blobPins.set(digest, n);
      else this.blobPins.delete(digest);
    }
    lease.blobs.clear();
  }

  private async references(): Promise<CacheReferences> {
    const refs = (await this.opts.references?.()) ?? { blobs: new Set(), layers: new Set() };
    const layers = new Set(refs.layers);
    // A referenced blob's layer is the record's too (an image's data unpacked).
    for (const digest of refs.blobs) {
      const mapped = await this.layers.diffIdOf(digest);
      if (mapped) layers.add(mapped);
    }
    return { blobs: refs.blobs, layers };
  }
}

async function touch(file: string): Promise<void> {
  const now = new Date();
  await fs.promises.utimes(file, now, now).catch(() => undefined);
}
