/**
 * The one behaviour every ImageService implementation must show; each
 * implementation's test file runs it (containerd's snapshot testsuite
 * pattern).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import { ImageForbiddenError, type ImageService } from '../../driver/image/image-service';

export interface ImageServiceUnderTest {
  service: ImageService;
  cleanup(): Promise<void>;
}

/** Root filesystem tars made for a test run, and a file that is not a tar. */
export interface TarFixtures {
  dir: string;
  /** holds etc/marker = "one" */
  one: string;
  /** holds etc/marker = "two" */
  two: string;
  notTar: string;
}

export function makeTarFixtures(): TarFixtures {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-fixtures-'));
  const tarOf = (marker: string) => {
    const root = path.join(dir, `root-${marker}`);
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc', 'marker'), marker);
    const tar = path.join(dir, `${marker}.tar`);
    execFileSync('tar', ['-cf', tar, '-C', root, '.']);
    return tar;
  };
  const notTar = path.join(dir, 'not-a.tar');
  fs.writeFileSync(notTar, 'this is not an archive\n'.repeat(64));
  return { dir, one: tarOf('one'), two: tarOf('two'), notTar };
}

const digest = (algo: string, file: string) =>
  createHash(algo).update(fs.readFileSync(file)).digest('hex');

export function imageServiceConformance(
  name: string,
  setup: () => Promise<ImageServiceUnderTest>,
): void {
  describe(`ImageService conformance: ${name}`, () => {
    let sut: ImageServiceUnderTest;
    let images: ImageService;
    let tars: TarFixtures;

    before(async () => {
      tars = makeTarFixtures();
      sut = await setup();
      images = sut.service;
    });

    after(async () => {
      await sut?.cleanup();
      fs.rmSync(tars.dir, { recursive: true, force: true });
    });

    test('import records a Glance-shaped active image with the digests of the tar', async () => {
      const record = await images.import('conf-one', tars.one, { command: ['/bin/sh', '-c', 'x'] });
      assert.match(record.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(record.name, 'conf-one');
      assert.equal(record.status, 'active');
      assert.equal(record.size, fs.statSync(tars.one).size);
      assert.equal(record.os_hash_algo, 'sha512');
      assert.equal(record.os_hash_value, digest('sha512', tars.one));
      assert.equal(record.visibility, 'public');
      assert.equal(record.protected, false);
      assert.equal(record.checksum, digest('md5', tars.one));
      assert.deepEqual([record.container_format, record.disk_format], ['bare', 'raw']);
      assert.ok(!Number.isNaN(Date.parse(record.created_at)));
      assert.deepEqual(record.config, { cmd: ['/bin/sh', '-c', 'x'] });
      assert.deepEqual(await images.show(record.id), record);
      await images.delete(record.id);
    });

    test('show finds an image by id or by a unique name; list holds every image', async () => {
      const one = await images.import('conf-show', tars.one, {
        properties: { os_command_line: 'sleep 5' },
      });
      const two = await images.import('conf-other', tars.two);
      assert.equal((await images.show('conf-show')).id, one.id);
      assert.equal((await images.show(one.id)).properties.os_command_line, 'sleep 5');
      const ids = (await images.list()).map((r) => r.id);
      assert.ok(ids.includes(one.id) && ids.includes(two.id));
      const twin = await images.import('conf-show', tars.two);
      await assert.rejects(images.show('conf-show'), ConflictError);
      assert.equal((await images.show(twin.id)).id, twin.id);
      for (const r of [one, two, twin]) await images.delete(r.id);
    });

    test('prepare gives absolute lower directories, the same for the same bytes', async () => {
      const a = await images.import('conf-layers-a', tars.one, { command: ['/bin/true'] });
      const b = await images.import('conf-layers-b', tars.one);
      const prepared = await images.prepare(a.id);
      const { layers } = prepared;
      assert.ok(layers.length >= 1);
      assert.ok(layers.every((l) => path.isAbsolute(l)));
      assert.equal(prepared.diffIds.length, layers.length);
      assert.deepEqual(prepared.config.cmd, ['/bin/true']);
      assert.deepEqual((await images.prepare(b.id)).layers, layers);
      await images.delete(a.id);
      assert.deepEqual(
        (await images.prepare(b.id)).layers,
        layers,
        'deleting one image broke its twin',
      );
      await images.delete(b.id);
    });

    test('delete makes the image unknown; unknown references are NotFoundError', async () => {
      const record = await images.import('conf-delete', tars.two);
      await images.delete(record.id);
      await assert.rejects(images.show(record.id), NotFoundError);
      await assert.rejects(images.delete(record.id), NotFoundError);
      await assert.rejects(images.prepare(record.id), NotFoundError);
      await assert.rejects(images.show('no-such-image'), NotFoundError);
      assert.ok(!(await images.list()).some((r) => r.id === record.id));
    });

    test('bad imports are refused with typed errors and register nothing', async () => {
      const before = (await images.list()).length;
      await assert.rejects(images.import('x', path.join(tars.dir, 'missing.tar')), NotFoundError);
      await assert.rejects(images.import('x', tars.dir), InvalidArgumentError);
      await assert.rejects(images.import('x', tars.notTar), InvalidArgumentError);
      await assert.rejects(images.import('', tars.one), InvalidArgumentError);
      for (const command of [[], [''], [1], 'sh'] as unknown as string[][])
        await assert.rejects(images.import('x', tars.one, { command }), InvalidArgumentError);
      assert.equal((await images.list()).length, before);
    });

    test('create makes a queued record with Glance defaults, under a given id', async () => {
      const id = randomUUID();
      const record = await images.create({
        id,
        name: 'conf-queued',
        tags: ['a', 'a', 'b'],
        owner: 'p1',
        properties: { hw_architecture: 'x86_64' },
      });
      assert.deepEqual(
        {
          ...record,
          created_at: undefined,
          updated_at: undefined,
        },
        {
          id,
          name: 'conf-queued',
          status: 'queued',
          container_format: null,
          disk_format: null,
          size: null,
          checksum: null,
          os_hash_algo: null,
          os_hash_value: null,
          visibility: 'shared',
          protected: false,
          os_hidden: false,
          min_disk: 0,
          min_ram: 0,
          owner: 'p1',
          tags: ['a', 'b'],
          created_at: undefined,
          updated_at: undefined,
          properties: { hw_architecture: 'x86_64' },
        },
      );
      assert.deepEqual(await images.show(id), record);
      await assert.rejects(images.create({ id, name: 'again' }), ConflictError);
      assert.equal(await images.download(id), undefined, 'a queued image has no data');
      await assert.rejects(images.prepare(id), ConflictError);
      await images.delete(id);
    });

    test('upload: queued → active with sha512, md5 and size; download gives the bytes', async () => {
      const { id } = await images.create({ name: 'conf-upload' });
      const bytes = fs.readFileSync(tars.one);
      await assert.rejects(images.upload(id, Readable.from([bytes])), InvalidArgumentError);
      assert.equal((await images.show(id)).status, 'queued', 'a refused upload left it queued');
      await images.update(id, { container_format: 'bare', disk_format: 'raw' });
      const active = await images.upload(id, Readable.from([bytes]));
      assert.equal(active.status, 'active');
      assert.equal(active.size, bytes.length);
      assert.equal(active.os_hash_algo, 'sha512');
      assert.equal(active.os_hash_value, digest('sha512', tars.one));
      assert.equal(active.checksum, digest('md5', tars.one));
      assert.deepEqual(await images.show(id), active);
      const data = await images.download(id);
      assert.ok(data);
      assert.equal(data.size, bytes.length);
      assert.equal(await text(data.stream), bytes.toString());
      const part = await images.download(id, { start: 1, end: 3 });
      assert.equal(await text(part!.stream), bytes.subarray(1, 4).toString());
      assert.equal((await images.prepare(id)).layers.length, 1);
      await assert.rejects(images.upload(id, Readable.from([bytes])), ConflictError);
      await images.delete(id);
    });

    test('upload refuses data that does not match what was promised; the image stays queued', async () => {
      const { id } = await images.create({
        name: 'conf-expect',
        container_format: 'bare',
        disk_format: 'raw',
      });
      const bytes = fs.readFileSync(tars.two);
      await assert.rejects(
        images.upload(id, Readable.from([bytes]), { expect: { os_hash_value: 'ab'.repeat(64) } }),
        InvalidArgumentError,
      );
      assert.equal((await images.show(id)).status, 'queued');
      const record = await images.upload(id, Readable.from([bytes]), {
        expect: { os_hash_value: digest('sha512', tars.two), checksum: digest('md5', tars.two) },
      });
      assert.equal(record.status, 'active');
      await images.delete(id);
    });

    test('any bytes upload; only their layers are refused when they are not a tar', async () => {
      const { id } = await images.create({
        name: 'conf-not-tar',
        container_format: 'bare',
        disk_format: 'qcow2',
      });
      const record = await images.upload(id, Readable.from([fs.readFileSync(tars.notTar)]));
      assert.equal(record.status, 'active');
      await assert.rejects(images.prepare(id), InvalidArgumentError);
      await images.delete(id);
    });

    test('update sets fields, replaces properties; a protected image is not deleted', async () => {
      const record = await images.import('conf-update', tars.one, {
        properties: { a: '1', b: '2' },
      });
      const updated = await images.update(record.id, {
        name: 'conf-renamed',
        protected: true,
        min_ram: 64,
        tags: ['x'],
        properties: { a: '1', c: '3' },
      });
      assert.equal(updated.name, 'conf-renamed');
      assert.equal(updated.min_ram, 64);
      assert.deepEqual(updated.tags, ['x']);
      assert.deepEqual(updated.properties, { a: '1', c: '3' });
      assert.equal(updated.os_hash_value, record.os_hash_value);
      assert.deepEqual(await images.show(record.id), updated);
      await assert.rejects(images.delete(record.id), ImageForbiddenError);
      assert.equal((await images.show(record.id)).id, record.id);
      await images.update(record.id, { protected: false });
      await images.delete(record.id);
      await assert.rejects(images.update(record.id, { name: 'x' }), NotFoundError);
      await assert.rejects(images.update(randomUUID(), { name: 'x' }), NotFoundError);
    });
  });
}
