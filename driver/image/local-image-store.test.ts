import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { imageServiceConformance, makeTarFixtures, type TarFixtures } from './conformance';
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
  const blobs = () => fs.readdirSync(path.join(root, 'blobs', 'sha256'));
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });

  test('an import survives a new store on the same directory, layers unpacked', async () => {
    const record = await fresh().import('persisted', tars.one, { command: ['/bin/true'] });
    const reopened = new LocalImageStore(root);
    assert.deepEqual(await reopened.show(record.id), record);
    const [layer] = await reopened.layers(record.id);
    assert.equal(fs.readFileSync(path.join(layer, 'etc', 'marker'), 'utf8'), 'one');
    assert.equal(path.dirname(layer), path.join(root, 'layers'));
    cleanup();
  });

  test('the same bytes are stored once; the blob goes with the last image that uses it', async () => {
    const store = fresh();
    const a = await store.import('a', tars.one);
    const b = await store.import('b', tars.one);
    assert.deepEqual(blobs(), [a.os_hash_value]);
    await store.delete(a.id);
    assert.deepEqual(blobs(), [b.os_hash_value]);
    await store.delete(b.id);
    assert.deepEqual(blobs(), []);
    assert.ok(
      fs.existsSync(path.join(root, 'layers', b.os_hash_value)),
      'the unpacked layer stays for the instances using it',
    );
    cleanup();
  });

  test('a refused import leaves no blob, temporary file or metadata', async () => {
    const store = fresh();
    await assert.rejects(store.import('bad', tars.notTar), /not a valid image archive/);
    assert.deepEqual(blobs(), []);
    assert.deepEqual(fs.readdirSync(path.join(root, 'metadata')), []);
    assert.deepEqual(
      fs.readdirSync(path.join(root, 'layers')).filter((n) => !n.startsWith('.')),
      [],
    );
    cleanup();
  });

  test('metadata is readable JSON named by the id', async () => {
    const store = fresh();
    const record = await store.import('json', tars.two);
    const file = path.join(root, 'metadata', `${record.id}.json`);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), record);
    cleanup();
  });
});
