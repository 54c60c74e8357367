import assert from 'node:assert/strict';
import { createHash, randomUUID as randomUuid } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ConflictError, NotFoundError, ResourceExhaustedError } from '../../common/errors';
import {
  imageServiceConformance,
  makeTarFixtures,
  type TarFixtures,
} from '../../testing/driver/image-service-conformance';
import { LocalImageStore } from './local-image-store';

const tempRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-store-'));

imageServiceConformance('LocalImageStore', async () => {
  const root = tempRoot();
  return {
    service: new LocalImageStore(root),
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});

describe('LocalImageStore on disk', () => {
  let root: string;
  let tars: TarFixtures;

  before(() => {
    tars = makeTarFixtures();
  });

  after(() => {
    fs.rmSync(tars.dir, { recursive: true, force: true });
  });

  const fresh = () => {
    root = tempRoot();
    return new LocalImageStore(root);
  };
  const blobs = () => listDir(path.join('blobs', 'sha256'));
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });

  test('settle: a queued record without data becomes active (or killed) with its changes, once', async () => {
    const store = fresh();
    const queued = await store.create({
      name: 'registry-image',
      container_format: 'docker',
      disk_format: 'raw',
      properties: { docker_image_ref: '127.0.0.1:5000/busybox:1' },
    });
    const config = { entrypoint: ['/bin/sh'], env: ['A=1'], workingDir: '/srv', user: '1:1' };
    const active = await store.settle(queued.id, 'active', {
      properties: { ...queued.properties, docker_image_digest: `sha256:${'a'.repeat(64)}` },
      config,
    });
    assert.equal(active.status, 'active');
    assert.equal(active.size, null);
    assert.deepEqual(active.config, config);
    // A new store on the same directory reads what was written.
    const again = await new LocalImageStore(root).show(queued.id);
    assert.equal(again.status, 'active');
    assert.equal(again.properties.docker_image_digest, `sha256:${'a'.repeat(64)}`);
    assert.deepEqual(again.config, config);
    await assert.rejects(store.settle(queued.id, 'killed'), ConflictError);
    await assert.rejects(store.upload(queued.id, Readable.from([Buffer.from('x')])), ConflictError);

    const doomed = await store.create({ name: 'bad-ref', container_format: 'docker' });
    assert.equal((await store.settle(doomed.id, 'killed')).status, 'killed');
    await assert.rejects(store.settle(randomUuid(), 'active'), NotFoundError);
  });

  test('an import survives a new store on the same directory, layers unpacked', async () => {
    const record = await fresh().import('persisted', tars.one, { command: ['/bin/true'] });
    const reopened = new LocalImageStore(root);
    assert.deepEqual(await reopened.show(record.id), record);
    const {
      layers: [layer],
    } = await reopened.prepare(record.id);
    assert.equal(fs.readFileSync(path.join(layer, 'etc', 'marker'), 'utf8'), 'one');
    assert.equal(path.dirname(layer), path.join(root, 'layers'));
    cleanup();
  });

  test('the same bytes are stored once, by sha256; blob and layer go with the last image using them', async () => {
    const store = fresh();
    const a = await store.import('a', tars.one);
    const b = await store.import('b', tars.one);
    const key = sha256(tars.one);
    assert.deepEqual(blobs(), [key]);
    await store.delete(a.id);
    assert.deepEqual(blobs(), [key]);
    assert.ok(fs.existsSync(path.join(root, 'layers', key)), 'the twin keeps the layer');
    await store.delete(b.id);
    assert.deepEqual(blobs(), []);
    assert.ok(
      !fs.existsSync(path.join(root, 'layers', key)),
      'no image and no instance uses the layer: it goes',
    );
    cleanup();
  });

  test('a refused import leaves no blob, temporary file or metadata', async () => {
    const store = fresh();
    await assert.rejects(store.import('bad', tars.notTar), /not a valid image archive/);
    assert.deepEqual(blobs(), []);
    assert.deepEqual(listDir('metadata'), []);
    assert.deepEqual(
      listDir('layers').filter((n) => !n.startsWith('.')),
      [],
    );
    cleanup();
  });

  test('metadata is readable JSON named by the id, with the blob key beside Glance fields', async () => {
    const store = fresh();
    const record = await store.import('json', tars.two);
    const file = path.join(root, 'metadata', `${record.id}.json`);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      ...record,
      blob_sha256: sha256(tars.two),
      diff_ids: [`sha256:${sha256(tars.two)}`],
      layer_blobs: [`sha256:${sha256(tars.two)}`],
    });
    cleanup();
  });

  test('an upload over the size cap is 413-worthy, leaves the image queued and nothing behind', async () => {
    root = tempRoot();
    const store = new LocalImageStore(root, { sizeCap: 1000 });
    const { id } = await store.create({
      name: 'big',
      container_format: 'bare',
      disk_format: 'raw',
    });
    await assert.rejects(
      store.upload(id, Readable.from([Buffer.alloc(600), Buffer.alloc(600)])),
      ResourceExhaustedError,
    );
    assert.equal((await store.show(id)).status, 'queued');
    assert.deepEqual(blobs(), []);
    const ok = await store.upload(id, Readable.from([Buffer.alloc(1000)]));
    assert.equal(ok.size, 1000);
    cleanup();
  });

  test('an image deleted while its data streams in is gone, and so is the data', async () => {
    const store = fresh();
    const { id } = await store.create({
      name: 'racing',
      container_format: 'bare',
      disk_format: 'raw',
    });
    const source = new PassThrough();
    const upload = store.upload(id, source);
    source.write(Buffer.alloc(100));
    await waitForStatus(store, id, 'saving');
    await store.delete(id);
    source.end(Buffer.alloc(100));
    await assert.rejects(upload, NotFoundError);
    assert.deepEqual(blobs(), []);
    assert.deepEqual(listDir('metadata'), []);
    cleanup();
  });

  test('records of older stores (sha256 hashes, no visibility) are upgraded on first use', async () => {
    const store = fresh();
    const record = await store.import('legacy', tars.one, { command: ['/bin/true'] });
    const file = path.join(root, 'metadata', `${record.id}.json`);
    const legacy = {
      id: record.id,
      name: 'legacy',
      status: 'active',
      container_format: 'bare',
      disk_format: 'raw',
      size: record.size,
      checksum: record.checksum,
      os_hash_algo: 'sha256',
      os_hash_value: sha256(tars.one),
      created_at: record.created_at,
      updated_at: record.updated_at,
      properties: {},
      config: { cmd: ['/bin/true'] },
    };
    fs.writeFileSync(file, JSON.stringify(legacy));
    const reopened = new LocalImageStore(root);
    const upgraded = await reopened.show(record.id);
    assert.deepEqual(upgraded, { ...record, visibility: 'public', owner: null });
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).os_hash_algo, 'sha512');
    assert.equal((await reopened.prepare(record.id)).layers.length, 1);
    await reopened.delete(record.id);
    assert.deepEqual(blobs(), []);
    cleanup();
  });

  const listDir = (dir: string) =>
    fs.existsSync(path.join(root, dir)) ? fs.readdirSync(path.join(root, dir)) : [];
});

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

async function waitForStatus(store: LocalImageStore, id: string, status: string) {
  for (let i = 0; i < 200 && (await store.show(id)).status !== status; i++)
    await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((await store.show(id)).status, status);
}
