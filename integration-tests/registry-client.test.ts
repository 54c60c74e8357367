/**
 * The registry client against Debian's real docker-registry: resolve and
 * pull in each auth mode and over TLS, refusals with clear errors,
 * tampered blobs never kept, one fetch per blob under concurrency, and a
 * download resumed with Range after a dropped connection.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { BlobStore } from '../driver/image/cache/blob-store';
import {
  ImageChecksumError,
  ImageReferenceNotFound,
  ImageSourceUnavailable,
  RegistryAuthError,
} from '../driver/image/image-errors';
import { InvalidArgumentError } from '../common/errors';
import { parseReference } from '../driver/image/registry/reference';
import { pullImage } from '../driver/image/registry/pull';
import {
  RegistryClient,
  type RegistryClientOptions,
} from '../driver/image/registry/registry-client';
import { buildOciImage, pushOciImage, type OciImage } from './fixtures/oci-image';
import { registryMissing, startRegistry, type TestRegistry } from './fixtures/registry';
import { imageDir, tempStateDir } from './harness';

const skip =
  registryMissing() ??
  (fs.existsSync(imageDir) ? undefined : `test image missing (${imageDir}); run scripts/build.sh`);

/** A logger whose every line lands in `lines`, at debug level. */
function capturingLog(): { log: winston.Logger; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, text: () => text };
}

function client(reg: TestRegistry, o: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({
    insecureRegistries: [reg.host, ...(reg.tokenHost ? [reg.tokenHost] : [])],
    maxConcurrentDownloads: 3,
    log: winston.createLogger({ silent: true }),
    ...o,
  });
}

/** Every blob of `image` in `store`, and nothing half-written beside them. */
function assertStored(store: BlobStore, image: OciImage): void {
  for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)])
    assert.ok(fs.existsSync(store.path(d)), `${d} stored`);
  assert.deepEqual(
    fs.readdirSync(store.dir).filter((n) => n.startsWith('.')),
    [],
    'no temporary files left',
  );
}

describe('registry client against docker-registry', { skip }, () => {
  const dirs: string[] = [];
  let image: OciImage;
  before(() => {
    image = buildOciImage();
  });
  after(() => {
    image?.remove();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const blobStore = () => {
    const dir = tempStateDir('blobs');
    dirs.push(dir);
    return new BlobStore(dir);
  };

  test('no auth: resolve gives the layers bottom-first with diff ids; pull stores every blob', async () => {
    const reg = await startRegistry();
    const c = client(reg);
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'test/busybox'));
      const resolved = await c.resolve(ref);
      assert.equal(resolved.manifestDigest, image.manifestDigest);
      assert.deepEqual(
        resolved.layers.map((l) => [l.digest, l.size, l.diffId]),
        image.layers.map((l) => [l.digest, l.size, l.diffId]),
      );
      assert.deepEqual(resolved.config.config?.Entrypoint, ['/bin/sh', '-c']);
      const store = blobStore();
      const seen = new Set<string>();
      await pullImage(c, ref, store, (p) => seen.add(`${p.blob}:${p.state}`));
      assertStored(store, image);
      assert.ok(
        seen.has('config:done') && seen.has('0:done') && seen.has('2:done'),
        [...seen].join(),
      );
    } finally {
      c.close();
      await reg.stop();
    }
  });

  test('basic auth (htpasswd) with credentials from an auth.json; nothing secret is logged', async () => {
    const reg = await startRegistry({ auth: 'basic' });
    const authFile = path.join(reg.dir, 'auth.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth } } }));
    const captured = capturingLog();
    const c = client(reg, { authFile, log: captured.log });
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'private/busybox', reg));
      const store = blobStore();
      await pullImage(c, ref, store);
      assertStored(store, image);
      assert.match(captured.text(), /registry request/, 'the capture saw the requests');
      assert.doesNotMatch(captured.text(), new RegExp(reg.password));
      assert.ok(!captured.text().includes(auth), 'the basic credentials are not logged');
    } finally {
      c.close();
      await reg.stop();
    }
  });

  test('basic auth: wrong or missing credentials are a RegistryAuthError naming registry and repo', async () => {
    const reg = await startRegistry({ auth: 'basic' });
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'private/busybox', reg));
      const wrong = client(reg, { credentials: { username: reg.username, password: 'wrong' } });
      await assert.rejects(wrong.resolve(ref), (err: Error) => {
        assert.ok(err instanceof RegistryAuthError, String(err));
        assert.equal(
          err.message,
          `registry ${reg.host} refused the credentials for repo private/busybox`,
        );
        assert.doesNotMatch(err.message, /wrong/);
        return true;
      });
      const none = client(reg);
      await assert.rejects(none.resolve(ref), (err: Error) => {
        assert.ok(err instanceof RegistryAuthError, String(err));
        assert.match(
          err.message,
          /refused the credentials for repo private\/busybox \(no credentials are configured/,
        );
        return true;
      });
      wrong.close();
      none.close();
    } finally {
      await reg.stop();
    }
  });

  test('token auth: the Bearer flow with basic credentials at the token server; tokens not logged', async () => {
    const reg = await startRegistry({ auth: 'token' });
    const captured = capturingLog();
    const c = client(reg, {
      credentials: { username: reg.username, password: reg.password },
      log: captured.log,
    });
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'team/busybox', reg));
      const pushTokens = reg.issuedTokens.length;
      const store = blobStore();
      await pullImage(c, ref, store);
      assertStored(store, image);
      const ours = reg.issuedTokens.slice(pushTokens);
      assert.equal(ours.length, 1, 'one token for the pull scope, cached for every request');
      assert.match(captured.text(), /registry token received/);
      for (const token of ours) assert.ok(!captured.text().includes(token), 'token not logged');
      assert.doesNotMatch(captured.text(), new RegExp(reg.password));

      const wrong = client(reg, { credentials: { username: reg.username, password: 'nope' } });
      await assert.rejects(wrong.resolve(ref), (err: Error) => {
        assert.ok(err instanceof RegistryAuthError, String(err));
        assert.equal(
          err.message,
          `registry ${reg.host} refused the credentials for repo team/busybox`,
        );
        return true;
      });
      wrong.close();
    } finally {
      c.close();
      await reg.stop();
    }
  });

  test('TLS: trusted through ca_file; refused without it; plain HTTP only when listed', async () => {
    const reg = await startRegistry({ tls: true });
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'tls/busybox'));
      const trusting = client(reg, { insecureRegistries: [], caFile: reg.caFile });
      const store = blobStore();
      await pullImage(trusting, ref, store);
      assertStored(store, image);
      trusting.close();

      const untrusting = client(reg, { insecureRegistries: [] });
      await assert.rejects(untrusting.resolve(ref), (err: Error) => {
        assert.ok(err instanceof ImageSourceUnavailable, String(err));
        assert.match(err.message, new RegExp(`cannot reach https://${reg.host}`));
        return true;
      });
      untrusting.close();
    } finally {
      await reg.stop();
    }
    const plain = await startRegistry();
    try {
      const ref = parseReference(await pushOciImage(image, plain.host, 'plain/busybox'));
      const strict = client(plain, { insecureRegistries: [] });
      await assert.rejects(strict.resolve(ref), (err: Error) => {
        assert.ok(err instanceof ImageSourceUnavailable, String(err));
        assert.match(err.message, /insecure_registries/);
        return true;
      });
      strict.close();
    } finally {
      await plain.stop();
    }
  });

  test('a plain-HTTP token realm of a host not listed as insecure is refused', async () => {
    const reg = await startRegistry({ auth: 'token' });
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'team/busybox', reg));
      const c = client(reg, {
        insecureRegistries: [reg.host],
        credentials: { username: reg.username, password: reg.password },
      });
      await assert.rejects(c.resolve(ref), (err: Error) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, new RegExp(`refusing plain HTTP to ${reg.tokenHost}`));
        return true;
      });
      c.close();
    } finally {
      await reg.stop();
    }
  });

  test('an index: linux/amd64 is picked; an index without it names the platforms it has', async () => {
    const multi = buildOciImage({ platforms: ['linux/arm64', 'linux/amd64'] });
    const armOnly = buildOciImage({ platforms: ['linux/arm64', 'linux/s390x'] });
    const reg = await startRegistry();
    const c = client(reg);
    try {
      const ref = parseReference(await pushOciImage(multi, reg.host, 'multi/busybox'));
      const resolved = await c.resolve(ref);
      assert.equal(resolved.manifestDigest, multi.manifestDigest);
      assert.equal(resolved.config.architecture, 'amd64');
      const armRef = parseReference(await pushOciImage(armOnly, reg.host, 'arm/busybox'));
      await assert.rejects(c.resolve(armRef), (err: Error) => {
        assert.ok(err instanceof ImageReferenceNotFound, String(err));
        assert.match(
          err.message,
          /no linux\/amd64 image; the index has linux\/arm64, linux\/s390x/,
        );
        return true;
      });
      await assert.rejects(
        c.resolve(parseReference(`${reg.host}/multi/busybox:nosuchtag`)),
        (err: Error) =>
          err instanceof ImageReferenceNotFound && /nosuchtag: not found/.test(err.message),
      );
      await assert.rejects(
        c.resolve(parseReference(`${reg.host}/multi/busybox@sha256:${'0'.repeat(64)}`)),
        ImageReferenceNotFound,
      );
    } finally {
      c.close();
      multi.remove();
      armOnly.remove();
      await reg.stop();
    }
  });

  test('a tampered blob is an ImageChecksumError and is not kept', async () => {
    const reg = await startRegistry();
    const c = client(reg);
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'tampered/busybox'));
      const victim = image.layers[1].digest;
      reg.tamperBlob(victim);
      const store = blobStore();
      await assert.rejects(pullImage(c, ref, store), (err: Error) => {
        assert.ok(err instanceof ImageChecksumError, String(err));
        assert.match(err.message, new RegExp(`blob ${victim}.*checksum`));
        return true;
      });
      assert.equal(fs.existsSync(store.path(victim)), false, 'the tampered blob is not stored');
      assert.deepEqual(
        fs.readdirSync(store.dir).filter((n) => n.startsWith('.')),
        [],
        'no temporary file left',
      );
    } finally {
      c.close();
      await reg.stop();
    }
  });

  test('20 concurrent pulls of one image through one client and store fetch each blob once', async () => {
    const reg = await startRegistry();
    const c = client(reg);
    try {
      const ref = parseReference(await pushOciImage(image, reg.host, 'many/busybox'));
      const store = blobStore();
      await Promise.all(Array.from({ length: 20 }, () => pullImage(c, ref, store)));
      assertStored(store, image);
      const gets = reg.blobGets();
      for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)])
        assert.equal(gets.get(d), 1, `${d} fetched once`);
    } finally {
      c.close();
      await reg.stop();
    }
  });

  test('a dropped connection resumes with a Range request', async () => {
    const big = buildOciImage({ padding: 3 << 20 });
    const reg = await startRegistry();
    const proxy = await cuttingProxy(reg.host, 1 << 20);
    const captured = capturingLog();
    const c = client(reg, { insecureRegistries: [proxy.host], log: captured.log });
    try {
      await pushOciImage(big, reg.host, 'big/busybox');
      const ref = parseReference(`${proxy.host}/big/busybox:${big.tag}`);
      const store = blobStore();
      await pullImage(c, ref, store);
      assertStored(store, big);
      assert.equal(proxy.cuts(), 1, 'the proxy cut one connection');
      assert.match(captured.text(), /registry download interrupted, resuming/);
      // The access log has no headers; a 206 is the answer to a Range request.
      assert.ok(
        /"GET \/v2\/big\/busybox\/blobs\/sha256:[0-9a-f]{64} HTTP\/1.1" 206/.test(reg.output()),
        'the rest came as a 206 answer to a Range request',
      );
    } finally {
      c.close();
      proxy.close();
      big.remove();
      await reg.stop();
    }
  });
});

/**
 * A loopback TCP proxy to `target` that, once, cuts a connection after
 * it has carried `after` bytes from the server.
 */
async function cuttingProxy(
  target: string,
  after: number,
): Promise<{ host: string; cuts: () => number; close: () => void }> {
  const [host, port] = target.split(':');
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    sockets.add(client).add(upstream);
    let carried = 0;
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      carried += chunk.length;
      if (cuts === 0 && carried > after) {
        cuts++;
        client.write(chunk.subarray(0, chunk.length - (carried - after)));
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cuts: () => cuts,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
