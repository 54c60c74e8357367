import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { sha256, tarArchive } from '../../testing/image/tar-writer';
import { ImageChecksumError } from './image-errors';
import { LocalImageStore } from './local-image-store';
import { MEDIA } from './oci';
import type { RegistryAccess } from './prepare';

const layerTar = (file: string, text: string) =>
  tarArchive([
    { type: 'dir', name: 'etc/' },
    { type: 'file', name: `etc/${file}`, data: text },
  ]);

/** A registry that serves blobs from memory and counts every fetch. */
function countingRegistry(blobs: Map<string, Buffer>) {
  const fetches = new Map<string, number>();
  const access: RegistryAccess<string> = {
    parseReference: (s) => s,
    client: {
      async fetchBlob(_ref, blob, dest, onProgress) {
        fetches.set(blob.digest, (fetches.get(blob.digest) ?? 0) + 1);
        const bytes = blobs.get(blob.digest);
        if (!bytes) throw new Error(`no blob ${blob.digest}`);
        // Yield, so that concurrent prepares really overlap.
        await new Promise((resolve) => setImmediate(resolve));
        if (typeof dest === 'string') await fs.promises.writeFile(dest, bytes);
        else {
          await dest.restart();
          await dest.write(bytes);
        }
        onProgress?.(bytes.length);
      },
    },
  };
  return { access, fetches };
}

/** A gzip layer blob and what its berth_layers entry says. */
function gzipLayer(tar: Buffer) {
  const blob = zlib.gzipSync(tar);
  return {
    blob,
    ref: {
      digest: sha256(blob),
      size: blob.length,
      mediaType: MEDIA.ociLayerGzip,
      diffId: sha256(tar),
    },
  };
}

describe('ImagePreparer through LocalImageStore', () => {
  let root: string;
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const store = (registry?: RegistryAccess<string>) => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-prepare-'));
    return new LocalImageStore(path.join(root, 'images'), { registry });
  };
  const layersDir = () => {
    const dir = path.join(root, 'images', 'layers');
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };
  const layerDirs = () => layersDir().filter((n) => /^[0-9a-f]{64}$/.test(n));
  const leftovers = () => layersDir().filter((n) => n.startsWith('.'));

  const registryImage = (
    images: LocalImageStore,
    name: string,
    layers: ReturnType<typeof gzipLayer>[],
  ) =>
    images.create({
      name,
      container_format: 'docker',
      disk_format: 'raw',
      properties: {
        docker_image_ref: `127.0.0.1:5000/test/${name}:latest`,
        docker_image_digest: sha256(name),
        berth_layers: JSON.stringify(layers.map((l) => l.ref)),
      },
      config: { entrypoint: ['/bin/app'], env: ['A=1'], workingDir: '/srv' },
    });

  test('N concurrent prepares of one uncached registry image fetch each blob once', async () => {
    const base = gzipLayer(layerTar('base', 'base'));
    const top = gzipLayer(layerTar('top', 'top'));
    const { access, fetches } = countingRegistry(
      new Map([base, top].map((l) => [l.ref.digest, l.blob])),
    );
    const images = store(access);
    const { id } = await registryImage(images, 'app', [base, top]);
    const progress: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        images.prepare(id, { onProgress: (p) => progress.push(p.bytes) }),
      ),
    );
    assert.deepEqual([...fetches.values()], [1, 1]);
    for (const r of results) assert.deepEqual(r, results[0]);
    const [first] = results;
    assert.deepEqual(first.diffIds, [base.ref.diffId, top.ref.diffId], 'diff ids bottom-first');
    assert.equal(fs.readFileSync(path.join(first.layers[0], 'etc', 'top'), 'utf8'), 'top');
    assert.equal(fs.readFileSync(path.join(first.layers[1], 'etc', 'base'), 'utf8'), 'base');
    assert.deepEqual(first.config, { entrypoint: ['/bin/app'], env: ['A=1'], workingDir: '/srv' });
    assert.ok(progress.length >= 2, 'progress reported');
    assert.equal(layerDirs().length, 2);
    await images.prepare(id);
    assert.deepEqual([...fetches.values()], [1, 1], 'a cached image fetches nothing');
  });

  test('two images sharing a base layer store and unpack it once', async () => {
    const base = gzipLayer(layerTar('base', 'shared'));
    const one = gzipLayer(layerTar('one', '1'));
    const two = gzipLayer(layerTar('two', '2'));
    const { access, fetches } = countingRegistry(
      new Map([base, one, two].map((l) => [l.ref.digest, l.blob])),
    );
    const images = store(access);
    const a = await registryImage(images, 'a', [base, one]);
    const b = await registryImage(images, 'b', [base, two]);
    const [pa, pb] = await Promise.all([images.prepare(a.id), images.prepare(b.id)]);
    assert.equal(pa.layers[1], pb.layers[1], 'one lower dir for the shared layer');
    assert.equal(fetches.get(base.ref.digest), 1);
    assert.equal(layerDirs().length, 3);
    // Deleting one image keeps what the other uses.
    await images.delete(a.id);
    assert.ok(fs.existsSync(pb.layers[1]));
    assert.ok(!fs.existsSync(pa.layers[0]), "a's own layer went with it");
    assert.equal(layerDirs().length, 2);
  });

  test('a layer that does not unpack to its diff id is a checksum fault and nothing is cached', async () => {
    const good = gzipLayer(layerTar('x', 'x'));
    const lying = { ...good, ref: { ...good.ref, diffId: sha256('something else') } };
    const { access } = countingRegistry(new Map([[good.ref.digest, good.blob]]));
    const images = store(access);
    const { id } = await registryImage(images, 'lying', [lying]);
    await assert.rejects(
      images.prepare(id),
      (err: Error) => err instanceof ImageChecksumError && /checksum/.test(err.message),
    );
    assert.deepEqual(layerDirs(), []);
    assert.deepEqual(
      leftovers().filter((n) => n !== 'by-blob' && n !== 'meta'),
      [],
    );
  });

  test('a tampered registry blob is refused and not kept', async () => {
    const good = gzipLayer(layerTar('x', 'x'));
    const { access } = countingRegistry(
      new Map([[good.ref.digest, Buffer.concat([good.blob, Buffer.from('junk')])]]),
    );
    const images = store(access);
    const { id } = await registryImage(images, 'tampered', [good]);
    await assert.rejects(images.prepare(id), ImageChecksumError);
    assert.deepEqual(layerDirs(), []);
    assert.equal(await images.cache.blobs.stat(good.ref.digest), undefined);
  });

  test('a docker save archive: its layers stacked, its config under the record', async () => {
    const l1 = layerTar('one', '1');
    const l2 = layerTar('two', '2');
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'x'], Env: ['PATH=/bin'], WorkingDir: '/w' },
      rootfs: { type: 'layers', diff_ids: [sha256(l1), sha256(l2)] },
    };
    // Named as `docker save` names its members: detection goes by them.
    const configText = JSON.stringify(config);
    const configName = `${sha256(configText).slice(7)}.json`;
    const [n1, n2] = [l1, l2].map((l) => `${sha256(l).slice(7)}/layer.tar`);
    const archive = tarArchive([
      { type: 'file', name: configName, data: configText },
      { type: 'file', name: n1, data: l1 },
      { type: 'file', name: n2, data: l2 },
      {
        type: 'file',
        name: 'manifest.json',
        data: JSON.stringify([{ Config: configName, Layers: [n1, n2] }]),
      },
    ]);
    const images = store();
    const file = path.join(root, 'saved.tar');
    fs.writeFileSync(file, zlib.gzipSync(archive));
    const { id } = await images.import('saved', file, { command: ['echo', 'hi'] });
    const prepared = await images.prepare(id);
    assert.deepEqual(prepared.diffIds, [sha256(l1), sha256(l2)]);
    assert.ok(fs.existsSync(path.join(prepared.layers[0], 'etc', 'two')));
    assert.ok(fs.existsSync(path.join(prepared.layers[1], 'etc', 'one')));
    assert.deepEqual(prepared.config, {
      entrypoint: ['/bin/sh'],
      cmd: ['echo', 'hi'],
      env: ['PATH=/bin'],
      workingDir: '/w',
    });
    // A warm boot reads what the archive held from the cache, not the archive again.
    const blob = path.join(
      root,
      'images',
      'blobs',
      'sha256',
      sha256(fs.readFileSync(file)).slice(7),
    );
    fs.truncateSync(blob, 0);
    assert.deepEqual(await images.prepare(id), prepared);
  });

  test('an OCI layout archive: layers by the manifest, config from the archive', async () => {
    const l1 = gzipLayer(layerTar('oci', 'o'));
    const tar1 = layerTar('oci', 'o');
    const config = Buffer.from(
      JSON.stringify({
        config: { Cmd: ['/probe'], User: '1000:1000' },
        rootfs: { type: 'layers', diff_ids: [sha256(tar1)] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MEDIA.ociLayerGzip, digest: l1.ref.digest, size: l1.ref.size }],
      }),
    );
    const blob = (b: Buffer) => ({
      type: 'file' as const,
      name: `blobs/sha256/${sha256(b).slice(7)}`,
      data: b,
    });
    const archive = tarArchive([
      { type: 'file', name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      {
        type: 'file',
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [
            { mediaType: MEDIA.ociManifest, digest: sha256(manifest), size: manifest.length },
          ],
        }),
      },
      blob(manifest),
      blob(config),
      blob(l1.blob),
    ]);
    const images = store();
    const file = path.join(root, 'oci.tar');
    fs.writeFileSync(file, archive);
    const { id } = await images.import('oci', file);
    const prepared = await images.prepare(id);
    assert.deepEqual(prepared.diffIds, [sha256(tar1)]);
    assert.ok(fs.existsSync(path.join(prepared.layers[0], 'etc', 'oci')));
    assert.deepEqual(prepared.config, { cmd: ['/probe'], user: '1000:1000' });
  });

  test('a snapshot is its base image with its own data on top', async () => {
    const images = store();
    const baseFile = path.join(root, 'base.tar');
    fs.writeFileSync(baseFile, layerTar('base', 'b'));
    const base = await images.import('base', baseFile, { command: ['/init'] });
    const own = layerTar('changed', 'c');
    const snap = await images.create({
      name: 'snap',
      container_format: 'bare',
      disk_format: 'raw',
      properties: {
        image_type: 'snapshot',
        base_image_ref: base.id,
        berth_layers: JSON.stringify([
          { digest: sha256(own), size: own.length, mediaType: MEDIA.ociLayer, diffId: sha256(own) },
        ]),
      },
    });
    await images.upload(snap.id, Readable.from([own]));
    const prepared = await images.prepare(snap.id);
    const basePrepared = await images.prepare(base.id);
    assert.deepEqual(prepared.layers.slice(1), basePrepared.layers);
    assert.ok(fs.existsSync(path.join(prepared.layers[0], 'etc', 'changed')));
    assert.deepEqual(prepared.diffIds, [...basePrepared.diffIds, sha256(own)]);
    assert.deepEqual(prepared.config, { cmd: ['/init'] });
  });
});
