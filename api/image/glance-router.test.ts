/** The image API's wire behaviour: Glance's statuses, fields and policy, over a real store. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalImageStore } from '../../driver/image/local-image-store';
import { startTestApi, type TestApi } from '../../testing/api/test-api';

const PATCH = 'application/openstack-images-v2.1-json-patch';
const DATA = Buffer.from('not a tar, but Glance takes any bytes\n'.repeat(100));

describe('image API (Glance v2 subset)', () => {
  let api: TestApi;
  let root: string;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-glance-api-'));
    api = await startTestApi({
      images: new LocalImageStore(root),
      config: { api: { max_request_body_size: 4096 } },
    });
  });

  after(async () => {
    await api.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const create = (body: unknown, token = 'demo:demo') =>
    api.request('POST', '/image/v2/images', { body, token });
  const patch = (id: string, ops: unknown, token = 'demo:demo') =>
    api.request('PATCH', `/image/v2/images/${id}`, {
      body: ops,
      token,
      headers: { 'content-type': PATCH },
    });
  const put = (id: string, data: Buffer, type = 'application/octet-stream', token = 'demo:demo') =>
    fetch(`${api.url}/image/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'content-type': type, 'x-auth-token': token },
      body: data,
    });

  test('version discovery needs no token; everything else does', async () => {
    for (const p of ['/image', '/image/', '/image/versions']) {
      const r = await api.request('GET', p, { token: null });
      assert.equal(r.status, p.endsWith('versions') ? 200 : 300);
      const current = r.body.versions.find((v: { status: string }) => v.status === 'CURRENT');
      assert.match(current.id, /^v2\.\d+$/);
      assert.equal(current.links[0].href, `${api.url}/image/v2/`);
    }
    const r = await api.request('GET', '/image/v2/images', { token: null });
    assert.equal(r.status, 401);
    assert.ok(r.body.message);
  });

  test('create: 201, Location, Glance fields; read-only and reserved attributes are 403', async () => {
    const r = await create({
      name: 'cirros',
      container_format: 'bare',
      disk_format: 'raw',
      tags: ['t'],
      hw_architecture: 'x86_64',
    });
    assert.equal(r.status, 201);
    const img = r.body;
    assert.equal(r.headers.get('location'), `${api.url}/image/v2/images/${img.id}`);
    assert.deepEqual(
      [img.status, img.visibility, img.owner, img.size, img.checksum, img.protected],
      ['queued', 'shared', 'demo', null, null, false],
    );
    assert.equal(img.hw_architecture, 'x86_64');
    assert.equal(img.file, `/v2/images/${img.id}/file`);
    assert.equal(img.self, `/v2/images/${img.id}`);
    assert.equal(img.schema, '/v2/schemas/image');

    assert.equal((await create({ name: 'x', status: 'active' })).status, 403);
    assert.equal((await create({ name: 'x', checksum: 'abc' })).status, 403);
    assert.equal((await create({ name: 'x', deleted: 'yes' })).status, 403);
    assert.equal((await create({ name: 'x', os_glance_foo: 'y' })).status, 403);
    assert.equal((await create({ name: 'x', disk_format: 'root-tar' })).status, 400);
    assert.equal((await create({ name: 'x', min_ram: -1 })).status, 400);
    assert.equal((await create({ name: 'x', protected: 'yes' })).status, 400);
    assert.equal((await create({ name: 'x', custom: 5 })).status, 400);
    assert.equal((await create({ id: 'not-a-uuid' })).status, 400);
    assert.equal((await create({ id: img.id })).status, 409);
    assert.equal((await create({ name: 'x', visibility: 'public' })).status, 403);
    assert.equal((await create({ name: 'x', owner: 'someone-else' })).status, 403);
    assert.equal((await create({ name: 'x', visibility: 'public' }, 'admin')).status, 201);
    assert.equal((await create([1])).status, 400);
    assert.equal((await create({ name: 'x'.repeat(5000) })).status, 413);
  });

  test('upload and download stream the data with Glance statuses and headers', async () => {
    const { body: img } = await create({ name: 'data' });
    assert.equal((await put(img.id, DATA)).status, 400, 'formats must be set first');
    assert.equal((await put(img.id, DATA, 'application/json')).status, 415);
    const noData = await fetch(`${api.url}/image/v2/images/${img.id}/file`, {
      headers: { 'x-auth-token': 'demo:demo' },
    });
    assert.equal(noData.status, 204);
    await patch(img.id, [
      { op: 'replace', path: '/container_format', value: 'bare' },
      { op: 'replace', path: '/disk_format', value: 'raw' },
    ]);
    assert.equal(
      (await put(img.id, DATA, 'application/octet-stream', 'other:project')).status,
      404,
    );
    assert.equal((await put(img.id, DATA)).status, 204);
    assert.equal((await put(img.id, DATA)).status, 409);
    const shown = (await api.request('GET', `/image/v2/images/${img.id}`)).body;
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, DATA.length);
    assert.equal(shown.os_hash_algo, 'sha512');
    assert.equal(shown.os_hash_value, createHash('sha512').update(DATA).digest('hex'));
    assert.equal(shown.checksum, createHash('md5').update(DATA).digest('hex'));

    const file = await fetch(`${api.url}/image/v2/images/${img.id}/file`, {
      headers: { 'x-auth-token': 'demo:demo' },
    });
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'application/octet-stream');
    assert.equal(file.headers.get('content-md5'), shown.checksum);
    assert.equal(file.headers.get('content-length'), String(DATA.length));
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(DATA));
    const part = await fetch(`${api.url}/image/v2/images/${img.id}/file`, {
      headers: { 'x-auth-token': 'demo:demo', range: 'bytes=10-19' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${DATA.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(DATA.subarray(10, 20)));
    const beyond = await fetch(`${api.url}/image/v2/images/${img.id}/file`, {
      headers: { 'x-auth-token': 'demo:demo', range: `bytes=${DATA.length}-` },
    });
    assert.equal(beyond.status, 416);
  });

  test('PATCH: add, replace and remove as Glance applies them', async () => {
    const { body: img } = await create({
      name: 'p',
      container_format: 'bare',
      disk_format: 'raw',
      a: '1',
    });
    const r = await patch(img.id, [
      { op: 'replace', path: '/name', value: 'renamed' },
      { op: 'add', path: '/b', value: '2' },
      { op: 'remove', path: '/a' },
      { op: 'replace', path: '/min_disk', value: 3 },
      { op: 'replace', path: '/tags', value: ['x', 'y'] },
      { op: 'replace', path: '/protected', value: true },
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'renamed');
    assert.equal(r.body.b, '2');
    assert.equal(r.body.a, undefined);
    assert.equal(r.body.min_disk, 3);
    assert.deepEqual(r.body.tags, ['x', 'y']);
    assert.equal(r.body.protected, true);

    const status = async (ops: unknown, token?: string) => (await patch(img.id, ops, token)).status;
    assert.equal(await status([{ op: 'replace', path: '/missing', value: 'v' }]), 409);
    assert.equal(await status([{ op: 'remove', path: '/missing' }]), 409);
    assert.equal(await status([{ op: 'remove', path: '/name' }]), 403);
    assert.equal(await status([{ op: 'replace', path: '/status', value: 'active' }]), 403);
    assert.equal(await status([{ op: 'replace', path: '/visibility', value: 'public' }]), 403);
    assert.equal(await status([{ op: 'replace', path: '/a/b', value: 'x' }]), 400);
    assert.equal(await status([{ op: 'move', path: '/name', value: 'x' }]), 400);
    assert.equal(await status({ op: 'replace' }), 400);
    assert.equal(
      await status([{ op: 'replace', path: '/name', value: 'x' }], 'other:project'),
      404,
    );
    const wrongType = await api.request('PATCH', `/image/v2/images/${img.id}`, {
      body: [{ op: 'replace', path: '/name', value: 'x' }],
    });
    assert.equal(wrongType.status, 415);
    assert.match(wrongType.headers.get('accept-patch')!, /openstack-images-v2.1-json-patch/);

    assert.equal((await api.request('DELETE', `/image/v2/images/${img.id}`)).status, 403);
    await patch(img.id, [{ op: 'replace', path: '/protected', value: false }]);
    assert.equal((await api.request('PUT', `/image/v2/images/${img.id}/tags/z`)).status, 204);
    assert.deepEqual((await api.request('GET', `/image/v2/images/${img.id}`)).body.tags, [
      'x',
      'y',
      'z',
    ]);
    assert.equal((await api.request('DELETE', `/image/v2/images/${img.id}/tags/x`)).status, 204);
    assert.equal((await api.request('DELETE', `/image/v2/images/${img.id}`)).status, 204);
    assert.equal((await api.request('GET', `/image/v2/images/${img.id}`)).status, 404);
    assert.equal((await api.request('DELETE', `/image/v2/images/${img.id}`)).status, 404);
  });

  test('visibility: private images are their project’s and admins’; public ones everyone’s', async () => {
    const mine = (await create({ name: 'vis-private', visibility: 'private' }, 'alice:pa')).body;
    const pub = (await create({ name: 'vis-public', visibility: 'public' }, 'admin')).body;
    const community = (await create({ name: 'vis-community', visibility: 'community' }, 'alice:pa'))
      .body;
    const names = async (token: string, query = '') =>
      (await api.request('GET', `/image/v2/images?limit=1000${query}`, { token })).body.images
        .map((i: { name: string }) => i.name)
        .filter((n: string) => n.startsWith('vis-'))
        .sort();
    assert.deepEqual(await names('alice:pa'), ['vis-community', 'vis-private', 'vis-public']);
    assert.deepEqual(await names('bob:pb'), ['vis-public']);
    assert.deepEqual(await names('bob:pb', '&visibility=community'), ['vis-community']);
    assert.deepEqual(await names('admin'), ['vis-community', 'vis-private', 'vis-public']);
    assert.equal(
      (await api.request('GET', `/image/v2/images/${mine.id}`, { token: 'bob:pb' })).status,
      404,
    );
    assert.equal(
      (await api.request('GET', `/image/v2/images/${mine.id}`, { token: 'admin' })).status,
      200,
    );
    assert.equal(
      (await api.request('GET', `/image/v2/images/${community.id}`, { token: 'bob:pb' })).status,
      200,
    );
    assert.equal(
      (await api.request('DELETE', `/image/v2/images/${pub.id}`, { token: 'bob:pb' })).status,
      403,
    );
    assert.equal((await api.request('GET', '/image/v2/images/not-a-uuid')).status, 404);
  });

  test('list: filters, sorting, limit and marker with first and next links', async () => {
    for (const n of ['list-c', 'list-a', 'list-b'])
      await create(
        { name: n, container_format: 'bare', disk_format: n === 'list-b' ? 'qcow2' : 'raw' },
        'lister:pl',
      );
    const get = (q: string) => api.request('GET', `/image/v2/images?${q}`, { token: 'lister:pl' });
    const names = (r: { body: { images: { name: string }[] } }) =>
      r.body.images.map((i) => i.name).filter((n) => n.startsWith('list-'));

    assert.deepEqual(
      names(await get('')),
      ['list-b', 'list-a', 'list-c'],
      'newest first by default',
    );
    assert.deepEqual(names(await get('sort_key=name&sort_dir=asc')), [
      'list-a',
      'list-b',
      'list-c',
    ]);
    assert.deepEqual(names(await get('sort=name:desc')), ['list-c', 'list-b', 'list-a']);
    assert.deepEqual(names(await get('name=list-a')), ['list-a']);
    assert.deepEqual(names(await get('disk_format=qcow2')), ['list-b']);
    assert.deepEqual(names(await get('name=in:list-a,list-c&sort_key=name&sort_dir=asc')), [
      'list-a',
      'list-c',
    ]);
    assert.deepEqual(names(await get('status=active')), []);

    const first = await get('owner=pl&sort_key=name&sort_dir=asc&limit=2');
    assert.deepEqual(names(first), ['list-a', 'list-b']);
    assert.equal(first.body.first, '/v2/images?owner=pl&sort_key=name&sort_dir=asc&limit=2');
    assert.equal(first.body.schema, '/v2/schemas/images');
    const next = first.body.next as string;
    assert.match(next, /^\/v2\/images\?.*marker=/);
    const second = await api.request('GET', `/image${next}`, { token: 'lister:pl' });
    assert.deepEqual(names(second), ['list-c']);
    assert.equal(second.body.next, undefined);

    assert.equal((await get('limit=x')).status, 400);
    assert.equal((await get('limit=-1')).status, 400);
    assert.equal((await get('sort_key=bogus')).status, 400);
    assert.equal((await get('visibility=bogus')).status, 400);
    assert.equal((await get('marker=00000000-0000-0000-0000-000000000000')).status, 400);
  });

  test('schemas are served for clients that read them', async () => {
    const image = await api.request('GET', '/image/v2/schemas/image');
    assert.equal(image.body.name, 'image');
    assert.deepEqual(image.body.additionalProperties, { type: 'string' });
    assert.equal((await api.request('GET', '/image/v2/schemas/images')).body.name, 'images');
  });
});
