/**
 * Image archives built byte by byte (a `docker save` and an OCI layout,
 * plain and gzip), read into a real BlobStore in a temp dir.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempStateDir, uniqueId } from '../../integration-tests/harness';
import { sha256, tarArchive, type TarEntry } from '../../testing/image/tar-writer';
import { detectArchive, readImageArchive } from './archive';
import { BlobStore } from './cache/blob-store';
import { ImageChecksumError, ImageFormatError } from './image-errors';
import { MEDIA } from './oci';

const hex = (digest: string) => digest.slice('sha256:'.length);

const layer1 = tarArchive([
  { type: 'dir', name: 'bin/' },
  { type: 'file', name: 'bin/app', data: '#!/bin/sh\necho app\n', mode: 0o755 },
]);
const layer2Tar = tarArchive([{ type: 'file', name: 'etc/motd', data: 'hello\n' }]);
const layer2Gz = execFileSync('gzip', ['-c', '-n'], { input: layer2Tar });

const config = Buffer.from(
  JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: ['/bin/app'], Env: ['A=1'], WorkingDir: '/srv' },
    rootfs: { type: 'layers', diff_ids: [sha256(layer1), sha256(layer2Tar)] },
  }),
);

function ociLayout(opts: { nested?: boolean; tamper?: boolean } = {}): Buffer {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha256(config), size: config.length },
      layers: [
        { mediaType: MEDIA.ociLayer, digest: sha256(layer1), size: layer1.length },
        { mediaType: MEDIA.ociLayerGzip, digest: sha256(layer2Gz), size: layer2Gz.length },
      ],
    }),
  );
  const descriptors = [
    // an arm64 image whose blobs this archive lacks: must not be picked
    {
      mediaType: MEDIA.ociManifest,
      digest: sha256('other'),
      size: 5,
      platform: { os: 'linux', architecture: 'arm64' },
    },
    {
      mediaType: MEDIA.ociManifest,
      digest: sha256(manifest),
      size: manifest.length,
      platform: { os: 'linux', architecture: 'amd64' },
    },
  ];
  const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: descriptors }));
  const index = opts.nested
    ? {
        schemaVersion: 2,
        manifests: [{ mediaType: MEDIA.ociIndex, digest: sha256(inner), size: inner.length }],
      }
    : { schemaVersion: 2, manifests: descriptors };
  const blob = (data: Buffer): TarEntry => ({
    type: 'file',
    name: `blobs/sha256/${hex(sha256(data))}`,
    data,
  });
  const tamperedLayer = Buffer.from(layer1);
  tamperedLayer[600] ^= 1;
  return tarArchive([
    { type: 'file', name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { type: 'dir', name: 'blobs/' },
    { type: 'dir', name: 'blobs/sha256/' },
    opts.tamper
      ? { type: 'file', name: `blobs/sha256/${hex(sha256(layer1))}`, data: tamperedLayer }
      : blob(layer1),
    blob(layer2Gz),
    blob(config),
    blob(manifest),
    ...(opts.nested ? [blob(inner)] : []),
    // index.json last: readers must not depend on member order
    { type: 'file', name: 'index.json', data: JSON.stringify(index) },
  ]);
}

function dockerSave(opts: { lie?: boolean } = {}): Buffer {
  const cfgHex = hex(sha256(config));
  const l1 = 'a'.repeat(64);
  const l2 = 'b'.repeat(64);
  const l3 = 'c'.repeat(64);
  const manifest = [
    {
      Config: `${cfgHex}.json`,
      RepoTags: ['app:latest'],
      Layers: [`${l1}/layer.tar`, `${l2}/layer.tar`],
    },
  ];
  return tarArchive([
    { type: 'file', name: 'manifest.json', data: JSON.stringify(manifest) },
    { type: 'dir', name: `${l1}/` },
    { type: 'file', name: `${l1}/VERSION`, data: '1.0' },
    { type: 'file', name: `${l1}/layer.tar`, data: opts.lie ? layer2Tar : layer1 },
    { type: 'dir', name: `${l3}/` },
    { type: 'file', name: `${l3}/layer.tar`, data: layer2Tar },
    // docker save writes a layer it holds twice as a symlink to the first copy
    { type: 'dir', name: `${l2}/` },
    { type: 'symlink', name: `${l2}/layer.tar`, target: `../${l3}/layer.tar` },
    { type: 'file', name: `${cfgHex}.json`, data: config },
    { type: 'file', name: 'repositories', data: '{}' },
  ]);
}

describe('image archives', () => {
  let root: string;
  before(() => {
    root = tempStateDir('archive');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const write = (data: Buffer, gzip = false): string => {
    const file = path.join(root, uniqueId('archive'));
    fs.writeFileSync(file, gzip ? execFileSync('gzip', ['-c'], { input: data }) : data);
    return file;
  };
  const store = () => new BlobStore(path.join(root, uniqueId('images')));

  test('detectArchive tells formats and compression by content', async () => {
    const rootfs = tarArchive([
      { type: 'dir', name: './' },
      { type: 'file', name: './manifest.json', data: '[]' },
      { type: 'dir', name: './bin/' },
    ]);
    assert.deepEqual(await detectArchive(write(rootfs, true)), {
      kind: 'rootfs',
      compression: 'gzip',
    });
    assert.deepEqual(await detectArchive(write(dockerSave())), {
      kind: 'docker-archive',
      compression: 'none',
    });
    assert.deepEqual(await detectArchive(write(ociLayout(), true)), {
      kind: 'oci-archive',
      compression: 'gzip',
    });
    await assert.rejects(detectArchive(write(Buffer.alloc(4096, 1))), ImageFormatError);
  });

  for (const gzip of [false, true]) {
    test(`an OCI layout archive${gzip ? ' (gzip)' : ''} is read into the blob store`, async () => {
      const blobs = store();
      const image = await readImageArchive(write(ociLayout(), gzip), blobs, { label: 'app.oci' });
      assert.equal(image.manifest.config.digest, sha256(config));
      assert.deepEqual(image.config.config?.Entrypoint, ['/bin/app']);
      assert.deepEqual(image.layers, [
        {
          digest: sha256(layer1),
          size: layer1.length,
          mediaType: MEDIA.ociLayer,
          diffId: sha256(layer1),
        },
        {
          digest: sha256(layer2Gz),
          size: layer2Gz.length,
          mediaType: MEDIA.ociLayerGzip,
          diffId: sha256(layer2Tar),
        },
      ]);
      for (const l of image.layers) assert.ok(await blobs.stat(l.digest), `${l.digest} stored`);
      assert.ok(fs.readFileSync(blobs.path(sha256(layer2Gz))).equals(layer2Gz));
    });
  }

  test('a nested index is followed to the linux/amd64 manifest', async () => {
    const image = await readImageArchive(write(ociLayout({ nested: true })), store());
    assert.equal(image.layers.length, 2);
    assert.equal(image.config.config?.WorkingDir, '/srv');
  });

  for (const gzip of [false, true]) {
    test(`a docker save archive${gzip ? ' (gzip)' : ''} becomes an OCI-shaped image`, async () => {
      const blobs = store();
      const image = await readImageArchive(write(dockerSave(), gzip), blobs);
      assert.equal(image.manifest.mediaType, MEDIA.ociManifest);
      assert.deepEqual(image.manifest.config, {
        mediaType: MEDIA.ociConfig,
        digest: sha256(config),
        size: config.length,
      });
      assert.deepEqual(
        image.layers.map((l) => [l.digest, l.diffId, l.mediaType]),
        [
          [sha256(layer1), sha256(layer1), MEDIA.ociLayer],
          [sha256(layer2Tar), sha256(layer2Tar), MEDIA.ociLayer],
        ],
      );
      assert.deepEqual(image.config.config?.Env, ['A=1']);
      for (const l of image.layers) assert.ok(await blobs.stat(l.digest));
    });
  }

  test('a tampered blob in an OCI layout is refused and not stored', async () => {
    const blobs = store();
    await assert.rejects(
      readImageArchive(write(ociLayout({ tamper: true })), blobs, { label: 'evil.oci' }),
      (err) => {
        assert.ok(err instanceof ImageChecksumError);
        assert.match((err as Error).message, /checksum/);
        return true;
      },
    );
    assert.equal(await blobs.stat(sha256(layer1)), undefined);
    assert.deepEqual(
      fs.readdirSync(blobs.dir).filter((n) => n.startsWith('.incoming')),
      [],
      'no temporary file left',
    );
  });

  test('a docker save layer that is not its diff_id is refused and not kept', async () => {
    const blobs = store();
    await assert.rejects(
      readImageArchive(write(dockerSave({ lie: true })), blobs),
      ImageChecksumError,
    );
    assert.equal(await blobs.stat(sha256(layer2Tar)), undefined);
  });

  test('a tar that is no image archive is refused', async () => {
    const rootfs = tarArchive([
      { type: 'file', name: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' },
    ]);
    await assert.rejects(readImageArchive(write(rootfs), store()), ImageFormatError);
  });
});
