import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { sha256, tarArchive } from '../../../testing/image/tar-writer';
import { ImageCache, type ImageCacheOptions } from './image-cache';

const layerTar = (text: string) => tarArchive([{ type: 'file', name: text, data: text }]);

describe('ImageCache', () => {
  let root: string;
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const cacheWith = (opts: ImageCacheOptions) => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-cache-'));
    return new ImageCache(root, opts);
  };

  /** Stores and unpacks a layer whose last use was `ageMs` ago. */
  async function addLayer(cache: ImageCache, name: string, ageMs: number) {
    const tar = layerTar(name);
    const layer = await cache.withLease(async (lease) => {
      await cache.blobs.put(Readable.from([tar]));
      return cache.layer({ digest: sha256(tar) }, name, lease);
    });
    const when = new Date(Date.now() - ageMs);
    fs.utimesSync(path.join(cache.layers.dir, 'meta', layer.diffId.slice(7)), when, when);
    fs.utimesSync(cache.blobs.path(sha256(tar)), when, when);
    return layer;
  }
  const stored = (cache: ImageCache) =>
    fs.readdirSync(cache.layers.dir).filter((n) => /^[0-9a-f]{64}$/.test(n));

  test('over the cap: least recently used first, never a layer an instance uses', async () => {
    const inUse: string[] = [];
    // Records refer to every blob: only layers may go.
    const references = async () => ({
      blobs: new Set(['oldest', 'older', 'recent'].map((n) => sha256(layerTar(n)))),
      layers: new Set<string>(),
    });
    const cache = cacheWith({ inUse: () => inUse, references });
    // The same store under another cap, as a restart with a new max_size_mb would see it.
    const capped = (maxBytes: number) =>
      new ImageCache(root, { inUse: () => inUse, references, maxBytes });
    const oldest = await addLayer(cache, 'oldest', 30_000);
    const older = await addLayer(cache, 'older', 20_000);
    const recent = await addLayer(cache, 'recent', 10_000);
    inUse.push(oldest.dir);
    const usage = await cache.usage();
    const layerBytes = usage.layers.find((l) => l.diffId === older.diffId)!.bytes;
    // Room for everything but one layer and its blob.
    const freed = await capped(usage.bytes - 1).enforceCap();
    assert.deepEqual(
      freed.map((f) => f.digest),
      [older.diffId],
      'the oldest is in use: the next oldest goes, and only it',
    );
    assert.equal(freed[0].bytes, layerBytes);
    assert.ok(fs.existsSync(oldest.dir) && fs.existsSync(recent.dir) && !fs.existsSync(older.dir));
    // Everything left in use: over the cap, nothing evicted.
    inUse.push(recent.dir);
    const second = await capped(1).enforceCap();
    assert.deepEqual(second, [], 'all in use or referenced: over the cap, with a warning');
    assert.ok(fs.existsSync(oldest.dir) && fs.existsSync(recent.dir));
  });

  test('prune removes what no record refers to and no instance uses; recent items stay', async () => {
    const inUse: string[] = [];
    const refs = { blobs: new Set<string>(), layers: new Set<string>() };
    const cache = cacheWith({
      inUse: () => inUse,
      references: async () => refs,
      minUnusedAgeMs: 5_000,
    });
    const orphan = await addLayer(cache, 'orphan', 60_000);
    const used = await addLayer(cache, 'used', 60_000);
    const kept = await addLayer(cache, 'kept', 60_000);
    const fresh = await addLayer(cache, 'fresh', 0);
    inUse.push(used.dir);
    refs.blobs.add(sha256(layerTar('kept')));
    const freed = await cache.prune();
    assert.deepEqual(
      freed.map((f) => `${f.kind} ${f.digest}`).sort(),
      [
        `blob ${sha256(layerTar('orphan'))}`,
        `blob ${sha256(layerTar('used'))}`,
        `layer ${orphan.diffId}`,
      ].sort(),
    );
    assert.deepEqual(
      stored(cache).sort(),
      [used, kept, fresh].map((l) => l.diffId.slice(7)).sort(),
    );
  });

  test('a layer held by a prepare in flight is never removed', async () => {
    const cache = cacheWith({});
    const layer = await addLayer(cache, 'held', 60_000);
    await cache.withLease(async (lease) => {
      await cache.layer({ digest: sha256(layerTar('held')) }, 'held', lease);
      assert.equal(await cache.layers.remove(layer.diffId), false);
      assert.deepEqual(await cache.prune(), [], 'nothing pinned goes');
    });
    assert.equal(await cache.layers.remove(layer.diffId), true);
    assert.ok(!fs.existsSync(layer.dir));
  });

  test('concurrent requests for one blob unpack it once', async () => {
    const cache = cacheWith({});
    const tar = layerTar('once');
    await cache.blobs.put(Readable.from([tar]));
    const layers = await Promise.all(
      Array.from({ length: 8 }, () =>
        cache.withLease((lease) => cache.layer({ digest: sha256(tar) }, 'once', lease)),
      ),
    );
    assert.ok(layers.every((l) => l.dir === layers[0].dir));
    assert.deepEqual(stored(cache), [sha256(tar).slice(7)]);
    const log = fs.readdirSync(cache.layers.dir).filter((n) => n.startsWith('.'));
    assert.deepEqual(log, [], 'no temporary directory left');
  });

  test('layer dirs of the old LayerStore (named by the tar sha256) are found, not unpacked again', async () => {
    const cache = cacheWith({});
    const tar = layerTar('legacy');
    const hex = sha256(tar).slice(7);
    fs.mkdirSync(path.join(cache.layers.dir, hex), { recursive: true });
    fs.writeFileSync(path.join(cache.layers.dir, hex, 'marker'), 'old');
    await cache.blobs.put(Readable.from([tar]));
    const layer = await cache.withLease((lease) =>
      cache.layer({ digest: sha256(tar) }, 'legacy', lease),
    );
    assert.equal(layer.dir, path.join(cache.layers.dir, hex));
    assert.ok(fs.existsSync(path.join(layer.dir, 'marker')), 'the old dir is used as it is');
  });
});
