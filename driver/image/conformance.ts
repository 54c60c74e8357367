/**
 * The one behaviour every ImageService implementation must show; each
 * implementation's test file runs it (containerd's snapshot testsuite
 * pattern).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import type { ImageService } from './image-service';

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
      assert.equal(record.os_hash_algo, 'sha256');
      assert.equal(record.os_hash_value, digest('sha256', tars.one));
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

    test('layers gives absolute lower directories, the same for the same bytes', async () => {
      const a = await images.import('conf-layers-a', tars.one);
      const b = await images.import('conf-layers-b', tars.one);
      const layers = await images.layers(a.id);
      assert.ok(layers.length >= 1);
      assert.ok(layers.every((l) => path.isAbsolute(l)));
      assert.deepEqual(await images.layers(b.id), layers);
      await images.delete(a.id);
      assert.deepEqual(await images.layers(b.id), layers, 'deleting one image broke its twin');
      await images.delete(b.id);
    });

    test('delete makes the image unknown; unknown references are NotFoundError', async () => {
      const record = await images.import('conf-delete', tars.two);
      await images.delete(record.id);
      await assert.rejects(images.show(record.id), NotFoundError);
      await assert.rejects(images.delete(record.id), NotFoundError);
      await assert.rejects(images.layers(record.id), NotFoundError);
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
  });
}
