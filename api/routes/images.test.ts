/** Nova's image proxy: Nova's shape over the image store, gone from 2.36. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { FakeImageService } from '../../testing/driver/fake-image-service';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase('/v2.1/images (Nova image proxy)', (database) => {
  let api: TestApi;
  const images = new FakeImageService();
  let activeId: string;
  let queuedId: string;
  let privateId: string;

  before(async () => {
    api = await startTestApi({ database, images });
    const active = await images.create({
      name: 'proxy-active',
      container_format: 'bare',
      disk_format: 'raw',
      visibility: 'public',
      min_ram: 128,
      properties: { os_command_line: 'sleep 1' },
    });
    await images.upload(active.id, Readable.from([Buffer.from('data')]));
    activeId = active.id;
    queuedId = (await images.create({ name: 'proxy-queued', owner: 'demo' })).id;
    privateId = (
      await images.create({ name: 'proxy-private', owner: 'other', visibility: 'private' })
    ).id;
  });

  after(() => api.close());

  test('show: Nova fields, statuses and links', async () => {
    const r = await api.request('GET', `/v2.1/images/${activeId}`);
    assert.equal(r.status, 200);
    const img = r.body.image;
    assert.equal(img.name, 'proxy-active');
    assert.equal(img.status, 'ACTIVE');
    assert.equal(img.progress, 100);
    assert.equal(img.minRam, 128);
    assert.equal(img.minDisk, 0);
    assert.equal(img['OS-EXT-IMG-SIZE:size'], 4);
    assert.deepEqual(img.metadata, { os_command_line: 'sleep 1' });
    assert.match(img.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(
      img.links.map((l: { rel: string }) => l.rel),
      ['self', 'bookmark', 'alternate'],
    );
    assert.equal(img.links[0].href, `${api.url}/v2.1/images/${activeId}`);
    const queued = (await api.request('GET', `/v2.1/images/${queuedId}`)).body.image;
    assert.deepEqual([queued.status, queued.progress], ['SAVING', 25]);
  });

  test('private images of other projects and unknown ids are 404', async () => {
    assert.equal((await api.request('GET', `/v2.1/images/${privateId}`)).status, 404);
    assert.equal(
      (await api.request('GET', `/v2.1/images/${privateId}`, { token: 'admin' })).status,
      200,
    );
    const missing = await api.request('GET', '/v2.1/images/00000000-0000-0000-0000-000000000000');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.itemNotFound.message, 'Image not found.');
  });

  test('list and detail, with filters and limit/marker links', async () => {
    const list = await api.request('GET', '/v2.1/images');
    assert.deepEqual(list.body.images.map((i: { name: string }) => i.name).sort(), [
      'proxy-active',
      'proxy-queued',
    ]);
    assert.deepEqual(Object.keys(list.body.images[0]).sort(), ['id', 'links', 'name']);
    const detail = await api.request('GET', '/v2.1/images/detail?status=ACTIVE');
    assert.deepEqual(
      detail.body.images.map((i: { id: string }) => i.id),
      [activeId],
    );
    assert.equal(
      (await api.request('GET', '/v2.1/images/detail?minRam=256')).body.images.length,
      0,
    );
    const paged = await api.request('GET', '/v2.1/images?limit=1');
    assert.equal(paged.body.images.length, 1);
    assert.match(paged.body.images_links[0].href, /marker=/);
    assert.equal((await api.request('GET', '/v2.1/images?minRam=x')).status, 400);
  });

  test("delete: the owner's image, any status; another project's is refused, an unknown one 404", async () => {
    const mine = await images.create({ name: 'proxy-doomed', owner: 'demo' });
    const shared = await images.create({
      name: 'proxy-public',
      owner: 'other',
      visibility: 'public',
    });
    const del = (id: string) => api.request('DELETE', `/v2.1/images/${id}`);
    assert.equal((await del(shared.id)).status, 403);
    assert.equal((await del(privateId)).status, 404);
    assert.equal((await del(mine.id)).status, 204);
    assert.equal((await del(mine.id)).status, 404);
    assert.equal(
      (await api.request('DELETE', `/v2.1/images/${shared.id}`, { version: '2.36' })).status,
      404,
    );
  });

  test('the server filter takes a server id or its link', async () => {
    const server = '11111111-2222-4333-8444-555555555555';
    await images.create({
      name: 'proxy-snap',
      owner: 'demo',
      properties: { instance_uuid: server },
    });
    for (const ref of [server, `http://example/v2.1/servers/${server}`]) {
      const r = await api.request('GET', `/v2.1/images?server=${encodeURIComponent(ref)}`);
      assert.deepEqual(
        r.body.images.map((i: { name: string }) => i.name),
        ['proxy-snap'],
      );
    }
  });

  test('gone from microversion 2.36', async () => {
    for (const p of ['/v2.1/images', '/v2.1/images/detail', `/v2.1/images/${activeId}`]) {
      assert.equal((await api.request('GET', p, { version: '2.36' })).status, 404);
      assert.equal((await api.request('GET', p, { version: '2.35' })).status, 200);
    }
  });
});
