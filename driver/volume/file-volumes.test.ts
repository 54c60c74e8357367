/**
 * The real VolumeService on loop devices (root only): the conformance
 * suite, and what only a kernel shows: the size enforced, online growth,
 * snapshot contents, remount at restore, nothing left behind.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { native } from '../../native';
import { volumeServiceConformance } from '../../testing/driver/volume-service-conformance';
import { DiskTemplates } from '../runtime/disk-templates';
import { FileVolumes } from './file-volumes';
import { mountSource } from './mountinfo';

const canRun = process.getuid?.() === 0 && fs.existsSync('/dev/loop-control');
const skip = canRun ? false : 'needs root and /dev/loop-control';
const GiB = 2 ** 30;

function tempVolumes() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-volumes-'));
  const service = new FileVolumes({
    root: path.join(dir, 'volumes'),
    snapshots: path.join(dir, 'volume-snapshots'),
    templates: new DiskTemplates(dir),
    addon: native(),
    log: winston.createLogger({ silent: true }),
  });
  const cleanup = async () => {
    for (const v of await service.list()) {
      for (const h of service.holders(v.id)) service.release(v.id, h);
      await service.delete(v.id);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { dir, service, cleanup };
}

/** Loop devices whose backing file lies under `dir`. */
function loopsUnder(dir: string): string[] {
  return fs
    .readdirSync('/sys/block')
    .filter((d) => d.startsWith('loop'))
    .filter((d) => {
      try {
        return fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').startsWith(dir);
      } catch {
        return false;
      }
    });
}

if (canRun) volumeServiceConformance('FileVolumes', async () => tempVolumes());

describe('FileVolumes on the kernel', { skip }, () => {
  let t: ReturnType<typeof tempVolumes>;
  before(async () => {
    t = tempVolumes();
    await t.service.restore();
  });
  after(async () => {
    await t.cleanup();
    assert.deepEqual(loopsUnder(t.dir), []);
  });

  test('a volume is an ext4 mount of its size; writing past it is ENOSPC', async () => {
    const id = randomUUID();
    await t.service.create({ id, sizeGb: 1 });
    const mnt = t.service.mountPath(id);
    assert.match(mountSource(mnt) ?? '', /^\/dev\/loop\d+$/);
    const st = fs.statfsSync(mnt);
    assert.ok(st.blocks * st.bsize > 0.9 * GiB && st.blocks * st.bsize <= GiB);
    const fd = fs.openSync(path.join(mnt, 'fill'), 'w');
    const chunk = Buffer.alloc(8 << 20, 1);
    assert.throws(
      () => {
        for (let i = 0; i < 200; i++) fs.writeSync(fd, chunk);
      },
      { code: 'ENOSPC' },
    );
    fs.closeSync(fd);
    await t.service.delete(id);
    assert.equal(mountSource(mnt), undefined);
    assert.equal(fs.existsSync(path.dirname(mnt)), false);
  });

  test('extend grows the mounted file system online', async () => {
    const id = randomUUID();
    await t.service.create({ id, sizeGb: 1 });
    const mnt = t.service.mountPath(id);
    fs.writeFileSync(path.join(mnt, 'kept'), 'before');
    await t.service.extend(id, 3);
    const st = fs.statfsSync(mnt);
    assert.ok(st.blocks * st.bsize > 2.5 * GiB, `size ${st.blocks * st.bsize}`);
    assert.equal(fs.readFileSync(path.join(mnt, 'kept'), 'utf8'), 'before');
    await t.service.delete(id);
  });

  test('a held volume grows online where the kernel lets the compute, else stays as it was', async () => {
    const id = randomUUID();
    await t.service.create({ id, sizeGb: 1 });
    const mnt = t.service.mountPath(id);
    t.service.claim(id, 'instance');
    const sizeOf = () => fs.statfsSync(mnt).blocks * fs.statfsSync(mnt).bsize;
    try {
      await t.service.extend(id, 2);
      assert.ok(sizeOf() > 1.5 * GiB);
    } catch (err) {
      assert.equal(
        (err as { remoteFault?: { class: string } }).remoteFault?.class,
        'VolumeBackendAPIException',
      );
      assert.match((err as Error).message, /CAP_SYS_RESOURCE/);
      assert.equal((await t.service.show(id)).sizeGb, 1);
      assert.equal(fs.statSync(path.join(path.dirname(mnt), 'disk.img')).size, GiB);
    }
    t.service.release(id, 'instance');
    await t.service.delete(id);
  });

  test("a volume made from a snapshot has the snapshot's files, not later ones", async () => {
    const id = randomUUID();
    const snap = randomUUID();
    const copy = randomUUID();
    await t.service.create({ id, sizeGb: 1 });
    fs.writeFileSync(path.join(t.service.mountPath(id), 'file'), 'at snapshot');
    await t.service.createSnapshot(id, snap);
    fs.writeFileSync(path.join(t.service.mountPath(id), 'file'), 'later');
    await t.service.create({ id: copy, sizeGb: 2 }, snap);
    const mnt = t.service.mountPath(copy);
    assert.equal(fs.readFileSync(path.join(mnt, 'file'), 'utf8'), 'at snapshot');
    assert.ok(fs.statfsSync(mnt).blocks * fs.statfsSync(mnt).bsize > 1.5 * GiB);
    await t.service.deleteSnapshot(id, snap);
    await t.service.delete(copy);
    await t.service.delete(id);
  });

  test('restore mounts again what lost its mount and removes half-made volumes', async () => {
    const id = randomUUID();
    await t.service.create({ id, sizeGb: 1 });
    const mnt = t.service.mountPath(id);
    fs.writeFileSync(path.join(mnt, 'kept'), 'yes');
    native().umount(mnt, false);
    const half = path.join(t.dir, 'volumes', randomUUID());
    fs.mkdirSync(half);
    await t.service.restore();
    assert.equal(fs.readFileSync(path.join(mnt, 'kept'), 'utf8'), 'yes');
    assert.equal(fs.existsSync(half), false);
    await t.service.delete(id);
  });
});
