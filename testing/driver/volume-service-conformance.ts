/**
 * The one behaviour every VolumeService must show; the fake's test and the
 * real one's (as root, on loop devices) run it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { VolumeService } from '../../driver/volume/volume-service';

export interface VolumeServiceUnderTest {
  service: VolumeService;
  cleanup(): Promise<void>;
}

const errorClass = (name: string) => (err: unknown) => {
  assert.equal((err as { remoteFault?: { class: string } }).remoteFault?.class, name);
  return true;
};

export function volumeServiceConformance(
  name: string,
  make: () => Promise<VolumeServiceUnderTest>,
): void {
  describe(`VolumeService conformance: ${name}`, () => {
    let under: VolumeServiceUnderTest;
    let svc: VolumeService;
    before(async () => {
      under = await make();
      svc = under.service;
      await svc.restore();
    });
    after(() => under.cleanup());

    test('create is idempotent per id and shows the size; a different size is InvalidVolume', async () => {
      const id = randomUUID();
      await svc.create({ id, sizeGb: 1, name: 'data' });
      await svc.create({ id, sizeGb: 1, name: 'data' });
      assert.equal((await svc.show(id)).sizeGb, 1);
      assert.ok((await svc.list()).some((v) => v.id === id));
      await assert.rejects(svc.create({ id, sizeGb: 2 }), errorClass('InvalidVolume'));
      await svc.delete(id);
    });

    test('bad ids and sizes are InvalidVolume; nothing is made', async () => {
      for (const sizeGb of [0, -1, 1.5, Number.NaN])
        await assert.rejects(svc.create({ id: randomUUID(), sizeGb }), errorClass('InvalidVolume'));
      await assert.rejects(svc.create({ id: '../x', sizeGb: 1 }), errorClass('InvalidVolume'));
      await assert.rejects(svc.delete('../../etc'), errorClass('InvalidVolume'));
    });

    test('unknown volumes are VolumeNotFound; delete of one succeeds', async () => {
      const id = randomUUID();
      await assert.rejects(svc.show(id), errorClass('VolumeNotFound'));
      await assert.rejects(svc.extend(id, 2), errorClass('VolumeNotFound'));
      await assert.rejects(svc.createSnapshot(id, randomUUID()), errorClass('VolumeNotFound'));
      assert.throws(() => svc.mountPath(id), errorClass('VolumeNotFound'));
      await svc.delete(id);
    });

    test('a claimed volume cannot be deleted until released', async () => {
      const id = randomUUID();
      await svc.create({ id, sizeGb: 1 });
      svc.claim(id, 'instance-a');
      svc.claim(id, 'instance-b');
      svc.release(id, 'instance-a');
      assert.deepEqual(svc.holders(id), ['instance-b']);
      await assert.rejects(svc.delete(id), errorClass('VolumeIsBusy'));
      svc.release(id, 'instance-b');
      await svc.delete(id);
      await assert.rejects(svc.show(id), errorClass('VolumeNotFound'));
    });

    test('extend grows; the same size again succeeds; smaller is InvalidVolume', async () => {
      const id = randomUUID();
      await svc.create({ id, sizeGb: 1 });
      await svc.extend(id, 2);
      await svc.extend(id, 2);
      assert.equal((await svc.show(id)).sizeGb, 2);
      await assert.rejects(svc.extend(id, 1), errorClass('InvalidVolume'));
      await svc.delete(id);
    });

    test('a snapshot makes volumes at least its size; unknown snapshots are SnapshotNotFound', async () => {
      const id = randomUUID();
      const snap = randomUUID();
      await svc.create({ id, sizeGb: 2 });
      await svc.createSnapshot(id, snap);
      await svc.createSnapshot(id, snap);
      const copy = randomUUID();
      await svc.create({ id: copy, sizeGb: 3 }, snap);
      assert.equal((await svc.show(copy)).sizeGb, 3);
      await assert.rejects(
        svc.create({ id: randomUUID(), sizeGb: 1 }, snap),
        errorClass('InvalidVolume'),
      );
      await assert.rejects(
        svc.create({ id: randomUUID(), sizeGb: 2 }, randomUUID()),
        errorClass('SnapshotNotFound'),
      );
      await svc.deleteSnapshot(id, snap);
      await svc.deleteSnapshot(id, snap);
      await assert.rejects(
        svc.create({ id: randomUUID(), sizeGb: 2 }, snap),
        errorClass('SnapshotNotFound'),
      );
      await svc.delete(copy);
      await svc.delete(id);
    });

    test('capacity reports whole GiB, free no more than total', async () => {
      const c = await svc.capacity();
      assert.ok(Number.isInteger(c.total_gb) && Number.isInteger(c.free_gb));
      assert.ok(c.free_gb >= 0 && c.free_gb <= c.total_gb);
    });

    test('restore keeps every complete volume', async () => {
      const id = randomUUID();
      await svc.create({ id, sizeGb: 1 });
      assert.ok((await svc.restore()).some((v) => v.id === id));
      assert.equal((await svc.show(id)).sizeGb, 1);
      await svc.delete(id);
    });
  });
}
