/**
 * The Glance client against the real image API (`berth api`'s router on
 * an ephemeral port, a LocalImageStore behind it) and a LocalImageStore
 * of its own as the host's cache: the conformance suite, then what only
 * a cache does.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestApi, type TestApi } from '../../testing/api/test-api';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import {
  imageServiceConformance,
  makeTarFixtures,
  type TarFixtures,
} from '../../testing/driver/image-service-conformance';
import { GlanceImageService } from './glance-image-service';
import { LocalImageStore } from './local-image-store';

const tempRoot = (what: string) => fs.mkdtempSync(path.join(os.tmpdir(), `berth-glance-${what}-`));

async function glanceWorld(token = 'admin:admin') {
  const serverRoot = tempRoot('server');
  const cacheRoot = tempRoot('cache');
  const store = new LocalImageStore(serverRoot);
  const api = await startTestApi({ images: store });
  const cache = new LocalImageStore(cacheRoot);
  const service = new GlanceImageService({ endpoint: `${api.url}/image`, token, cache });
  return {
    api,
    store,
    cache,
    service,
    serverRoot,
    cleanup: async () => {
      await api.close();
      for (const dir of [serverRoot, cacheRoot]) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

imageServiceConformance('GlanceImageService over the image API', glanceWorld);

describe('GlanceImageService as a compute host cache', () => {
  let world: Awaited<ReturnType<typeof glanceWorld>>;
  let api: TestApi;
  let tars: TarFixtures;

  before(async () => {
    tars = makeTarFixtures();
    world = await glanceWorld();
    api = world.api;
  });

  after(async () => {
    await world.cleanup();
    fs.rmSync(tars.dir, { recursive: true, force: true });
  });

  test('concurrent builds of one image download it once, into the cache under the same id', async () => {
    const record = await world.store.import('shared-boot', tars.one);
    let downloads = 0;
    const download = world.store.download.bind(world.store);
    world.store.download = (...args) => {
      downloads++;
      return download(...args);
    };
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, () => world.service.prepare(record.id)),
      );
      assert.equal(downloads, 1);
      assert.ok(results.every((r) => r.layers[0] === results[0].layers[0]));
      assert.equal(
        fs.readFileSync(path.join(results[0].layers[0], 'etc', 'marker'), 'utf8'),
        'one',
      );
      const cached = await world.cache.show(record.id);
      assert.deepEqual(
        [cached.os_hash_value, cached.checksum, cached.status],
        [record.os_hash_value, record.checksum, 'active'],
      );
      await world.service.prepare(record.id);
      assert.equal(downloads, 1, 'a cached image is not downloaded again');
    } finally {
      world.store.download = download;
    }
  });

  test('data that does not match os_hash_value is refused and nothing is cached', async () => {
    const record = await world.store.import('tampered', tars.two);
    const blobs = path.join(world.serverRoot, 'blobs', 'sha256');
    for (const blob of fs.readdirSync(blobs)) {
      const file = path.join(blobs, blob);
      const bytes = fs.readFileSync(file);
      if (bytes.equals(fs.readFileSync(tars.two)))
        fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, -1), Buffer.from('X')]));
    }
    await assert.rejects(world.service.prepare(record.id), InvalidArgumentError);
    await assert.rejects(world.cache.show(record.id), NotFoundError);
  });

  test('the recorded command travels through the image API', async () => {
    const record = await world.store.import('with-command', tars.one, {
      command: ['/bin/sh', '-c', 'echo hi'],
    });
    const seen = await world.service.show(record.id);
    assert.deepEqual(seen.config, { cmd: ['/bin/sh', '-c', 'echo hi'] });
    const raw = await api.request('GET', `/image/v2/images/${record.id}`, { token: 'admin' });
    assert.equal(raw.body.berth_config, '{"cmd":["/bin/sh","-c","echo hi"]}');
  });

  test('an image the token may not see is not found', async () => {
    const { id } = await world.store.create({
      name: 'private',
      visibility: 'private',
      owner: 'other',
      container_format: 'bare',
      disk_format: 'raw',
    });
    const outsider = new GlanceImageService({
      endpoint: `${api.url}/image/`,
      token: () => 'someone:elsewhere',
      cache: world.cache,
    });
    await assert.rejects(outsider.show(id), NotFoundError);
    await assert.rejects(outsider.prepare(id), NotFoundError);
  });
});
