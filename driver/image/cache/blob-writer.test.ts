/**
 * The BlobStore's promise with fetches that write through its BlobWriter
 * (hashed as written, never read back): a blob is renamed into place only
 * when the bytes the writer put in the file hash to its digest.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ImageChecksumError } from '../image-errors';
import { BlobStore } from './blob-store';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-blob-writer-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** what is in the store's directory besides stored blobs (temp files left behind) */
const leftovers = (store: BlobStore) =>
  fs.readdirSync(store.dir).filter((n) => !/^[0-9a-f]{64}$/.test(n));

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

test('many chunks through the writer, more than it queues: stored whole, verified', async () => {
  const store = new BlobStore(path.join(root, 'big'));
  const data = randomBytes(20 << 20);
  const blob = await store.ensure({ digest: sha(data), size: data.length }, async (_tmp, w) => {
    for (const c of chunks(data, 64 << 10)) await w.write(c);
  });
  assert.equal(blob.size, data.length);
  assert.deepEqual(fs.readFileSync(store.path(sha(data))), data);
  assert.deepEqual(leftovers(store), []);
});

test('bytes through the writer that do not hash to the digest: refused, nothing kept', async () => {
  const store = new BlobStore(path.join(root, 'bad'));
  const data = randomBytes(300 << 10);
  const tampered = Buffer.from(data);
  tampered[1000] ^= 1;
  await assert.rejects(
    store.ensure({ digest: sha(data), size: data.length }, async (_tmp, w) => {
      for (const c of chunks(tampered, 4096)) await w.write(c);
    }),
    (err: Error) => err instanceof ImageChecksumError && /checksum/.test(err.message),
  );
  assert.equal(await store.stat(sha(data)), undefined);
  assert.deepEqual(leftovers(store), []);
});

test('a fetch that also writes the temp file by path: the writer digest is not trusted', async () => {
  const store = new BlobStore(path.join(root, 'mixed'));
  const data = randomBytes(64 << 10);
  await assert.rejects(
    store.ensure({ digest: sha(data), size: data.length }, async (tmp, w) => {
      await w.write(data);
      await fs.promises.appendFile(tmp, 'more');
    }),
  );
  assert.equal(await store.stat(sha(data)), undefined);
  assert.deepEqual(leftovers(store), []);
});

test('restart: what came before is forgotten, by the file and by the hash', async () => {
  const store = new BlobStore(path.join(root, 'restart'));
  const data = randomBytes(100 << 10);
  await store.ensure({ digest: sha(data), size: data.length }, async (_tmp, w) => {
    await w.write(randomBytes(70 << 10));
    await w.restart();
    for (const c of chunks(data, 1000)) await w.write(c);
  });
  assert.deepEqual(fs.readFileSync(store.path(sha(data))), data);
});

test('a fetch that writes the temp file by path is still hashed by the store', async () => {
  const store = new BlobStore(path.join(root, 'by-path'));
  const data = randomBytes(10 << 10);
  await assert.rejects(
    store.ensure({ digest: sha(data) }, (tmp) => fs.promises.writeFile(tmp, 'not it')),
    ImageChecksumError,
  );
  const blob = await store.ensure({ digest: sha(data) }, (tmp) => fs.promises.writeFile(tmp, data));
  assert.equal(blob.size, data.length);
  assert.deepEqual(leftovers(store), []);
});

test('an empty blob through the writer', async () => {
  const store = new BlobStore(path.join(root, 'empty'));
  const empty = Buffer.alloc(0);
  const blob = await store.ensure({ digest: sha(empty), size: 0 }, (_tmp, w) => w.restart());
  assert.equal(blob.size, 0);
  assert.equal(fs.statSync(blob.path).size, 0);
});
