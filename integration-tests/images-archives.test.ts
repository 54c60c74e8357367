/**
 * The image bar for archives, through Debian's unmodified `openstack` CLI
 * against `berth all-in-one`: a `docker save` archive, an OCI layout
 * archive and compressed rootfs tars boot, each running its image's own
 * entrypoint with its env and working directory; layers the images share
 * are unpacked once on the host; and malicious archives never write
 * outside their layer: breakouts, outside hardlinks and bombs put the
 * instance in ERROR with a fault saying why, absolute names and symlinks
 * resolve inside the layer, a device node is skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { imageTar, needsRoot, runName, waitFor } from './harness';
import { OPENSTACK } from './fixtures/osc';
import { type ImageCloud, startImageCloud } from './fixtures/image-cloud';
import {
  appImage,
  dockerSaveArchive,
  ociLayoutArchive,
  rootfsWith,
} from './fixtures/image-archives';
import { sha256, tarHeader } from '../testing/image/tar-writer';

const skip = needsRoot() ?? (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing`);

/** Where an escaping entry would land on the host: nothing may ever appear here. */
const escapeDir = `/tmp/${runName('escape')}`;
const RUNS = '/bin/sh -c "echo booted-$(hostname); exec sleep 100000"';

describe('booting image archives through the openstack CLI', { skip, concurrency: true }, () => {
  let cloud: ImageCloud;
  const files = path.join('/tmp', runName('imgfiles'));

  before(
    async () => {
      fs.mkdirSync(files, { recursive: true });
      cloud = await startImageCloud({ compute: { default_command: JSON.stringify(RUNS) } });
    },
    { timeout: 90_000 },
  );
  after(
    async () => {
      await cloud?.close();
      fs.rmSync(files, { recursive: true, force: true });
      assert.ok(!fs.existsSync(escapeDir), `an archive wrote outside its layer: ${escapeDir}`);
    },
    { timeout: 90_000 },
  );

  const write = (name: string, data: Buffer) => {
    const file = path.join(files, name);
    fs.writeFileSync(file, data);
    return file;
  };

  async function bootShows(
    t: TestContext,
    name: string,
    file: string,
    text: string,
    format = 'bare',
  ) {
    const image = await cloud.uploadImage(t, name, file, format);
    const id = await cloud.createServer(t, name, image);
    await cloud.settled(id);
    await cloud.consoleShows(id, text);
    return { image, id };
  }

  async function bootFails(t: TestContext, name: string, file: string, why: RegExp) {
    const image = await cloud.uploadImage(t, name, file);
    const id = await cloud.createServer(t, name, image);
    const s = await cloud.settled(id, 'ERROR');
    assert.match(s.fault?.message ?? '', why, `fault of ${name}`);
    const shown = await cloud.oscJson(t, ['server', 'show', id]);
    assert.match(JSON.stringify(shown.fault), why);
    return id;
  }

  test('a docker save archive runs its entrypoint with its env and working directory', async (t) => {
    const image = appImage('docker-save');
    const file = write('docker-save.tar', dockerSaveArchive(image, 'app:1'));
    await bootShows(t, 'img-docker-save', file, `${image.marker} docker-save /srv/app`, 'docker');
  });

  test('an OCI layout archive runs its entrypoint with its env and working directory', async (t) => {
    const image = appImage('oci');
    const file = write('oci.tar', ociLayoutArchive(image));
    await bootShows(t, 'img-oci', file, `${image.marker} oci /srv/app`);
  });

  for (const [kind, cmd] of [
    ['gzip', ['gzip', '-c']],
    ['xz', ['xz', '-c', '-T1']],
    ['zstd', ['zstd', '-c', '-q']],
  ] as const)
    test(`a ${kind} compressed rootfs tar boots`, async (t) => {
      const out = spawnSync(cmd[0], [...cmd.slice(1), imageTar], { maxBuffer: 1 << 30 });
      assert.equal(out.status, 0, String(out.stderr));
      const file = write(`busybox.tar.${kind}`, out.stdout);
      await bootShows(t, `img-${kind}`, file, 'booted-');
    });

  test('images sharing a base layer unpack it once on the host', async (t) => {
    const a = appImage('shared-a');
    const b = appImage('shared-b');
    await bootShows(
      t,
      'img-shared-a',
      write('a.tar', dockerSaveArchive(a, 'a:1')),
      a.marker,
      'docker',
    );
    await bootShows(t, 'img-shared-b', write('b.tar', ociLayoutArchive(b)), b.marker);
    const base = sha256(fs.readFileSync(imageTar)).slice('sha256:'.length);
    const layers = fs.readdirSync(path.join(cloud.stateDir, 'images', 'layers'));
    assert.equal(layers.filter((d) => d === base).length, 1);
    // No second unpack of the same tree under another name: one directory holds busybox's base.
    const withBusybox = layers.filter((d) =>
      fs.existsSync(path.join(cloud.stateDir, 'images', 'layers', d, 'bin', 'busybox')),
    );
    assert.deepEqual(withBusybox, [base]);
  });

  test('a `..` breakout is refused: ERROR with a fault naming the entry', async (t) => {
    const file = write(
      'dotdot.tar',
      rootfsWith([{ type: 'file', name: `../../../../../../..${escapeDir}/dotdot`, data: 'x' }]),
    );
    await bootFails(t, 'img-dotdot', file, /\.\./);
  });

  test('a hardlink to a file outside the layer is refused', async (t) => {
    const file = write(
      'hardlink.tar',
      rootfsWith([
        { type: 'hardlink', name: 'etc/stolen', target: '../../../../../../etc/passwd' },
      ]),
    );
    await bootFails(t, 'img-hardlink', file, /link|outside|escape/i);
  });

  test('a hardlink through a symlink made earlier in the same archive is refused', async (t) => {
    const file = write(
      'linkchain.tar',
      rootfsWith([
        { type: 'symlink', name: 'up', target: '../../../../../../..' },
        { type: 'hardlink', name: 'etc/stolen2', target: 'up/etc/shadow' },
      ]),
    );
    await bootFails(t, 'img-linkchain', file, /link|outside|escape|not found|no such/i);
  });

  test('absolute names and symlink traversal resolve inside the layer', async (t) => {
    const file = write(
      'inside.tar',
      rootfsWith([
        { type: 'file', name: `${escapeDir}/absolute`, data: 'abs' },
        { type: 'symlink', name: 'escape', target: escapeDir },
        { type: 'file', name: 'escape/through-symlink', data: 'sym' },
        { type: 'symlink', name: 'rel', target: `../../../../../..${escapeDir}` },
        { type: 'file', name: 'rel/through-relative', data: 'rel' },
      ]),
    );
    // Either refused or resolved inside; never written on the host (checked in `after`).
    const image = await cloud.uploadImage(t, 'img-inside', file);
    const id = await cloud.createServer(t, 'img-inside', image);
    const s = await waitForEither(id);
    if (s.status === 'ACTIVE') await cloud.consoleShows(id, 'booted-');
    else assert.match(s.fault?.message ?? '', /escape|outside|symlink|refus/i);
    assert.ok(!fs.existsSync(escapeDir));
  });

  test('an archive with device nodes boots without them', async (t) => {
    const file = write(
      'devices.tar',
      rootfsWith([
        { type: 'char', name: 'dev-kmsg', major: 1, minor: 11 },
        { type: 'block', name: 'dev-sda', major: 8, minor: 0 },
      ]),
    );
    const { id } = await bootShows(t, 'img-devices', file, 'booted-');
    const layers = path.join(cloud.stateDir, 'images', 'layers');
    for (const d of fs.readdirSync(layers))
      for (const n of ['dev-kmsg', 'dev-sda'])
        assert.ok(!fs.existsSync(path.join(layers, d, n)), `${n} created in layer ${d} (${id})`);
  });

  test('a decompression bomb is refused: ERROR with a fault saying so', async (t) => {
    const file = path.join(files, 'bomb.tar.gz');
    await writeBomb(file, 8 * 2 ** 30);
    await bootFails(t, 'img-bomb', file, /bomb|expan|too large|exceed/i);
  });

  const waitForEither = (id: string) =>
    waitFor(
      `server ${id} to settle`,
      async () => {
        const s = await cloud.server(id);
        const done = s && ['ACTIVE', 'ERROR'].includes(s.status) && !s['OS-EXT-STS:task_state'];
        return done ? s : undefined;
      },
      120_000,
      100,
    );
});

/** A gzip'd rootfs tar of a few MB declaring one zero-filled file of `bytes`. */
async function writeBomb(file: string, bytes: number): Promise<void> {
  const zero = Buffer.alloc(1 << 20);
  async function* chunks() {
    yield tarHeader({ name: 'bomb', size: bytes, typeflag: '0' });
    for (let n = 0; n < bytes; n += zero.length) yield zero;
    yield Buffer.alloc(1024);
  }
  await pipeline(Readable.from(chunks()), createGzip({ level: 1 }), fs.createWriteStream(file));
}
