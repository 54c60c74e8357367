/**
 * The client's policy against a fake registry on loopback: what the real
 * docker-registry cannot be made to do (ignore Range, fail with 5xx,
 * redirect, lie about a digest) and the download limit.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import winston from 'winston';
import { BlobStore } from '../cache/blob-store';
import { ImageChecksumError, ImageSourceUnavailable } from '../image-errors';
import { MEDIA } from '../oci';
import { parseReference } from './reference';
import { RegistryClient } from './registry-client';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = Buffer.alloc(256 << 10, 7);
const blobDigest = sha(blob);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(500).end();
let server: http.Server;
let host: string;
let dir: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-registry-client-'));
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const client = (o: { limit?: number; retries?: number } = {}) =>
  new RegistryClient({
    insecureRegistries: [host],
    maxConcurrentDownloads: o.limit ?? 3,
    retries: o.retries,
    log: winston.createLogger({ silent: true }),
  });
const ref = () => parseReference(`${host}/test/app:v1`);

test('a server that ignores Range after a drop: the download starts over and verifies', async () => {
  let requests = 0;
  const ranges: (string | undefined)[] = [];
  handler = (req, res) => {
    requests++;
    ranges.push(req.headers.range);
    res.writeHead(200, { 'content-length': blob.length });
    // The first answer breaks off halfway; later ones send the whole blob, Range or not.
    if (requests === 1) {
      res.write(blob.subarray(0, blob.length / 2));
      setImmediate(() => res.socket?.destroy());
    } else res.end(blob);
  };
  const c = client();
  const dest = path.join(dir, 'restart');
  const seen: number[] = [];
  await c.fetchBlob(ref(), { digest: blobDigest, size: blob.length }, dest, (n) => seen.push(n));
  c.close();
  assert.deepEqual(fs.readFileSync(dest), blob);
  assert.equal(ranges[0], undefined);
  assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
  assert.equal(seen.at(-1), blob.length);
});

test('into a BlobStore through its writer: resumed after a drop, kept; a lying registry: not kept', async () => {
  let requests = 0;
  let lie = false;
  handler = (req, res) => {
    requests++;
    const body = lie ? Buffer.alloc(blob.length, 8) : blob;
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    if (from) {
      res.writeHead(206, { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` });
      res.end(body.subarray(from));
    } else {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(body.subarray(0, blob.length / 2));
      if (requests === 1) setImmediate(() => res.socket?.destroy());
      else res.end(body.subarray(blob.length / 2));
    }
  };
  const c = client();
  const want = { digest: blobDigest, size: blob.length };
  const store = new BlobStore(path.join(dir, 'store'));
  const kept = await store.ensure(want, (_tmp, w) => c.fetchBlob(ref(), want, w));
  assert.deepEqual(fs.readFileSync(kept.path), blob);
  assert.equal(requests, 2);
  lie = true;
  const other = new BlobStore(path.join(dir, 'store-lied-to'));
  await assert.rejects(
    other.ensure(want, (_tmp, w) => c.fetchBlob(ref(), want, w)),
    (err: Error) => err instanceof ImageChecksumError && /checksum/.test(err.message),
  );
  assert.equal(await other.stat(blobDigest), undefined);
  assert.deepEqual(fs.readdirSync(other.dir), []);
  c.close();
});

test('5xx and refused connections: ImageSourceUnavailable after limited retries', async () => {
  let requests = 0;
  handler = (_req, res) => {
    requests++;
    res.writeHead(503).end();
  };
  const c = client({ retries: 2 });
  await assert.rejects(
    c.fetchBlob(ref(), { digest: blobDigest, size: blob.length }, path.join(dir, 'x')),
    (err: Error) => err instanceof ImageSourceUnavailable && /failed 3 times/.test(err.message),
  );
  assert.equal(requests, 3);
  await assert.rejects(c.resolve(ref()), ImageSourceUnavailable);
  c.close();
});

test('a manifest whose bytes do not match Docker-Content-Digest is a checksum error', async () => {
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: {}, layers: [] }),
  );
  handler = (_req, res) =>
    res
      .writeHead(200, {
        'content-type': MEDIA.ociManifest,
        'docker-content-digest': `sha256:${'0'.repeat(64)}`,
      })
      .end(manifest);
  const c = client();
  await assert.rejects(
    c.resolve(ref()),
    (err: Error) => err instanceof ImageChecksumError && /checksum mismatch/.test(err.message),
  );
  c.close();
});

test('a blob longer than its descriptor is refused as it arrives', async () => {
  handler = (_req, res) => res.writeHead(200).end(Buffer.concat([blob, Buffer.from('extra')]));
  const c = client();
  await assert.rejects(
    c.fetchBlob(ref(), { digest: blobDigest, size: blob.length }, path.join(dir, 'long')),
    (err: Error) => err instanceof ImageChecksumError && /checksum/.test(err.message),
  );
  c.close();
});

test('redirects are followed; Authorization does not follow to another origin', async () => {
  const other = http.createServer((req, res) => {
    seenAuth = req.headers.authorization;
    res.writeHead(200).end(blob);
  });
  let seenAuth: string | undefined = 'unset';
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const otherHost = `127.0.0.1:${(other.address() as AddressInfo).port}`;
  handler = (req, res) => {
    if (!req.headers.authorization)
      return res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end();
    res.writeHead(307, { location: `http://${otherHost}/storage/blob` }).end();
  };
  const c = new RegistryClient({
    insecureRegistries: [host, otherHost],
    maxConcurrentDownloads: 1,
    credentials: { username: 'u', password: 'p' },
    log: winston.createLogger({ silent: true }),
  });
  try {
    const dest = path.join(dir, 'redirected');
    await c.fetchBlob(ref(), { digest: blobDigest, size: blob.length }, dest);
    assert.deepEqual(fs.readFileSync(dest), blob);
    assert.equal(seenAuth, undefined);
  } finally {
    c.close();
    other.close();
  }
});

test('maxConcurrentDownloads bounds blob fetches across calls', async () => {
  let active = 0;
  let peak = 0;
  handler = (_req, res) => {
    active++;
    peak = Math.max(peak, active);
    setTimeout(() => {
      active--;
      res.writeHead(200).end(blob);
    }, 20);
  };
  const c = client({ limit: 2 });
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      c.fetchBlob(ref(), { digest: blobDigest, size: blob.length }, path.join(dir, `p${i}`)),
    ),
  );
  c.close();
  assert.equal(peak, 2);
});
