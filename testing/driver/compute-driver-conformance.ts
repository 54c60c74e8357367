/**
 * What every ComputeDriver must do, as one suite each driver's tests run
 * (Nova's test_virt_drivers.py): the FakeDriver in unit tests, the
 * ContainerDriver against the real kernel. A manager tested on the fake
 * can then trust the real driver to answer the same way.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, NotFoundError } from '../../common/errors';
import { type ComputeDriver, type LifecycleEvent } from '../../driver/virt/driver';
import { type ImageMeta, type InstanceSpec } from '../../nova/instance-object';
import { PowerState } from '../../nova/power-state';
import { AttachInterfaceNotSupported } from '../../nova/exceptions';
import type { Vif } from '../../nova/network-model';
import { buildVif } from '../network/vif-builder';
import type { ImageService } from '../../driver/image/image-service';
import { TaskState } from '../../nova/states';
import type { VolumeService } from '../../driver/volume/volume-service';

export interface DriverUnderTest {
  /** not yet initialised: the suite calls initHost(host) */
  driver: ComputeDriver;
  host: string;
  image: ImageMeta;
  /** matches the console line the workload prints each time it starts */
  bootMarker: RegExp;
  /** ends the workload without the driver asking: it exits with status 0, or SIGKILL kills it */
  endWorkload(instance: InstanceSpec, how: 'exit' | 'kill'): Promise<void>;
  /** the instance's writable files, for drivers that have them */
  writableLayer?: {
    write(instance: InstanceSpec, text: string): Promise<void>;
    read(instance: InstanceSpec): Promise<string>;
    /** bytes the running workload's root file system holds in all, for drivers that size it */
    capacityBytes?(instance: InstanceSpec): Promise<number>;
  };
  /**
   * For drivers that plug ports: a VIF the driver can really plug (on a
   * network the test made), and the ids of the ports an instance has now.
   */
  ports?: {
    vif(): Promise<Vif>;
    plugged(instance: InstanceSpec): Promise<string[]>;
  };
  /**
   * Where snapshot images are made (the driver's image service). With
   * `snapshotFile`, the suite also checks what the snapshot's data holds:
   * the text of `file` in the root filesystem it captured, or undefined.
   */
  snapshots?: {
    images: ImageService;
    snapshotFile?(imageId: string, file: string): Promise<string | undefined>;
  };
  /**
   * The driver's volume service (the suite makes volumes in it), and for
   * drivers with real mounts, how to read and write a file of the
   * instance's file system (at a volume's mount point, say).
   */
  volumes?: {
    service: VolumeService;
    files?: {
      write(instance: InstanceSpec, file: string, text: string): Promise<void>;
      read(instance: InstanceSpec, file: string): Promise<string>;
    };
  };
  /** after the suite destroyed its instances and called cleanupHost */
  cleanup(): Promise<void>;
}

const { RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED } = PowerState;

// A deadline, not a pace: generous, because on a busy host a boot takes seconds.
async function eventually<T>(what: string, probe: () => Promise<T>, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function computeDriverConformance(
  name: string,
  setup: () => Promise<DriverUnderTest>,
  opts: { skip?: string } = {},
) {
  describe(`ComputeDriver conformance: ${name}`, { skip: opts.skip }, () => {
    let sut: DriverUnderTest;
    let driver: ComputeDriver;
    const events: LifecycleEvent[] = [];

    before(async () => {
      sut = await setup();
      driver = sut.driver;
      driver.onLifecycleEvent((event) => events.push(event));
      await driver.initHost(sut.host);
    });

    after(async () => {
      if (!driver) return;
      for (const uuid of await driver.listInstanceUuids()) await driver.destroy(spec({ uuid }));
      await driver.cleanupHost();
      await sut.cleanup();
    });

    function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
      return {
        uuid: randomUUID(),
        name: 'conformance',
        hostname: 'conformance',
        vcpus: 1,
        memoryMb: 64,
        rootGb: 1,
        imageRef: sut.image.id,
        networkInfo: [],
        ...overrides,
      };
    }

    const state = async (instance: InstanceSpec) => (await driver.getInfo(instance)).state;

    /** The boot marker as a line pattern (flags 'm'), or to count boots (flags 'gm'). */
    const marker = (flags: string) => new RegExp(sut.bootMarker.source, flags);

    async function boots(instance: InstanceSpec): Promise<number> {
      return (await driver.getConsoleOutput(instance)).match(marker('gm'))?.length ?? 0;
    }

    const booted = (instance: InstanceSpec, count: number) =>
      eventually(
        `boot ${count} of ${instance.uuid}`,
        async () => (await boots(instance)) === count,
      );

    /** Spawns an instance and waits until its workload is up. */
    async function spawned(overrides: Partial<InstanceSpec> = {}): Promise<InstanceSpec> {
      const instance = spec(overrides);
      await driver.spawn(instance, sut.image);
      await booted(instance, 1);
      return instance;
    }

    /** Writes through the writable layer, when the driver has one; returns a check for later. */
    async function markDisk(instance: InstanceSpec): Promise<() => Promise<void>> {
      const layer = sut.writableLayer;
      if (!layer) return async () => {};
      const text = `written before ${randomUUID()}`;
      await layer.write(instance, text);
      return async () => assert.equal((await layer.read(instance)).trim(), text);
    }

    const eventsFor = (instance: InstanceSpec) => events.filter((e) => e.uuid === instance.uuid);
    const firstEvent = (instance: InstanceSpec) =>
      eventually('a lifecycle event', async () => eventsFor(instance)[0]);

    test('spawn runs the instance: RUNNING, listed, existing', async () => {
      const instance = await spawned();
      assert.equal(await state(instance), RUNNING);
      assert.ok((await driver.listInstanceUuids()).includes(instance.uuid));
      assert.equal(await driver.instanceExists(instance.uuid), true);
      await driver.destroy(instance);
    });

    test('a second spawn of a running instance makes no second workload', async () => {
      const instance = await spawned();
      await driver.spawn(instance, sut.image);
      const listed = (await driver.listInstanceUuids()).filter((u) => u === instance.uuid);
      assert.equal(listed.length, 1);
      assert.equal(await state(instance), RUNNING);
      await sleep(200);
      assert.equal(await boots(instance), 1, 'the workload was restarted');
      await driver.destroy(instance);
    });

    test('powerOff gives SHUTDOWN, idempotently and without a lifecycle event', async () => {
      const instance = await spawned();
      await driver.powerOff(instance, 5);
      assert.equal(await state(instance), SHUTDOWN);
      await driver.powerOff(instance, 5);
      assert.equal(await state(instance), SHUTDOWN);
      await driver.powerOff(instance, 0);
      await sleep(100);
      assert.deepEqual(eventsFor(instance), [], 'a requested stop is not news');
      await driver.destroy(instance);
    });

    test('powerOn starts a stopped instance again on the same writable data', async () => {
      const instance = await spawned();
      const stillThere = await markDisk(instance);
      await driver.powerOff(instance, 5);
      await driver.powerOn(instance);
      assert.equal(await state(instance), RUNNING);
      await booted(instance, 2);
      await stillThere();
      await driver.powerOn(instance);
      await sleep(200);
      assert.equal(await boots(instance), 2, 'powerOn of a running instance restarted it');
      await driver.destroy(instance);
    });

    test('pause freezes (PAUSED) and unpause thaws; other requests in between conflict', async () => {
      const instance = await spawned();
      await driver.pause(instance);
      assert.equal(await state(instance), PAUSED);
      await assert.rejects(driver.pause(instance), ConflictError);
      await assert.rejects(driver.suspend(instance), ConflictError);
      await assert.rejects(driver.resume(instance), ConflictError);
      await assert.rejects(driver.powerOn(instance), ConflictError);
      await driver.unpause(instance);
      assert.equal(await state(instance), RUNNING);
      await assert.rejects(driver.unpause(instance), ConflictError);
      await driver.destroy(instance);
    });

    test('suspend is told apart from pause (SUSPENDED) and resume undoes it', async () => {
      const instance = await spawned();
      await driver.suspend(instance);
      assert.equal(await state(instance), SUSPENDED);
      await assert.rejects(driver.unpause(instance), ConflictError);
      await assert.rejects(driver.pause(instance), ConflictError);
      await driver.resume(instance);
      assert.equal(await state(instance), RUNNING);
      await assert.rejects(driver.resume(instance), ConflictError);
      await driver.destroy(instance);
    });

    test('reboot SOFT and HARD restart the workload and keep its writable data', async () => {
      const instance = await spawned();
      const stillThere = await markDisk(instance);
      await driver.reboot(instance, 'SOFT');
      assert.equal(await state(instance), RUNNING);
      await booted(instance, 2);
      await stillThere();
      await driver.reboot(instance, 'HARD');
      assert.equal(await state(instance), RUNNING);
      await booted(instance, 3);
      await stillThere();
      assert.deepEqual(eventsFor(instance), [], 'a requested reboot is not news');
      await driver.destroy(instance);
    });

    test('reboot brings a stopped, paused or suspended instance back to RUNNING', async () => {
      const instance = await spawned();
      const stops = [
        () => driver.powerOff(instance, 5),
        () => driver.pause(instance),
        () => driver.suspend(instance),
      ];
      for (const [i, stop] of stops.entries()) {
        await stop();
        await driver.reboot(instance, 'SOFT');
        assert.equal(await state(instance), RUNNING);
        await booted(instance, i + 2);
      }
      await driver.destroy(instance);
    });

    test('destroy removes any instance; destroying again or an unknown one succeeds', async () => {
      for (const leave of ['running', 'paused', 'suspended', 'stopped']) {
        const instance = await spawned();
        if (leave === 'paused') await driver.pause(instance);
        if (leave === 'suspended') await driver.suspend(instance);
        if (leave === 'stopped') await driver.powerOff(instance, 5);
        await driver.destroy(instance);
        await assert.rejects(driver.getInfo(instance), NotFoundError, leave);
        assert.equal(await driver.instanceExists(instance.uuid), false);
        assert.ok(!(await driver.listInstanceUuids()).includes(instance.uuid));
        await driver.destroy(instance);
      }
      await driver.destroy(spec());
    });

    test('an unknown instance is NotFoundError for getInfo and every operation', async () => {
      const unknown = spec();
      const operations = [
        () => driver.getInfo(unknown),
        () => driver.reboot(unknown, 'HARD'),
        () => driver.powerOff(unknown),
        () => driver.powerOn(unknown),
        () => driver.pause(unknown),
        () => driver.unpause(unknown),
        () => driver.suspend(unknown),
        () => driver.resume(unknown),
        () => driver.getConsoleOutput(unknown),
        () => driver.getDiagnostics(unknown),
      ];
      for (const operation of operations) await assert.rejects(operation(), NotFoundError);
      assert.equal(await driver.instanceExists(unknown.uuid), false);
    });

    test('console output holds what the workload printed; tailLength keeps the last lines', async () => {
      const instance = await spawned();
      assert.match(await driver.getConsoleOutput(instance), marker('m'));
      await driver.reboot(instance, 'HARD');
      await booted(instance, 2);
      const last = await driver.getConsoleOutput(instance, 1);
      assert.equal(last.trimEnd().split('\n').length, 1);
      assert.match(last, marker('m'));
      assert.equal(await driver.getConsoleOutput(instance, 0), '');
      await driver.destroy(instance);
    });

    test('diagnostics report the state, the memory limit, cpu time and processes', async () => {
      const instance = await spawned({ memoryMb: 96 });
      const d = await driver.getDiagnostics(instance);
      assert.equal(d.state, 'running');
      assert.ok(d.driver);
      assert.equal(d.memoryLimitBytes, 96 * 2 ** 20);
      assert.equal(typeof d.cpuNanos, 'number');
      assert.ok(d.pids! >= 1);
      assert.ok(d.uptimeSeconds! >= 0);
      assert.deepEqual([d.nics, d.disks, d.oomKilled], [[], [], false]);
      await driver.pause(instance);
      assert.equal((await driver.getDiagnostics(instance)).state, 'paused');
      await driver.destroy(instance);
    });

    test("available resource: host totals, and each instance's flavor counted until destroy", async () => {
      const before = await driver.getAvailableResource();
      assert.equal(before.hypervisor_hostname, sut.host);
      assert.ok(before.hypervisor_type);
      for (const key of ['vcpus', 'memory_mb', 'local_gb', 'hypervisor_version'] as const)
        assert.ok(Number.isInteger(before[key]) && before[key] > 0, key);
      const instance = await spawned({ vcpus: 2, memoryMb: 96, rootGb: 3 });
      const used = await driver.getAvailableResource();
      const delta = (r: typeof used) => [
        r.vcpus_used - before.vcpus_used,
        r.memory_mb_used - before.memory_mb_used,
        r.local_gb_used - before.local_gb_used,
        r.running_vms - before.running_vms,
      ];
      assert.deepEqual(delta(used), [2, 96, 3, 1]);
      await driver.powerOff(instance, 5);
      assert.deepEqual(delta(await driver.getAvailableResource()), [2, 96, 3, 0]);
      await driver.destroy(instance);
      assert.deepEqual(delta(await driver.getAvailableResource()), [0, 0, 0, 0]);
    });

    test('a workload that exits by itself is SHUTDOWN and reported; powerOn restarts it', async () => {
      const instance = await spawned();
      await sut.endWorkload(instance, 'exit');
      const event = await firstEvent(instance);
      assert.deepEqual([event.state, event.reason], [SHUTDOWN, 'exited with code 0']);
      assert.equal(await state(instance), SHUTDOWN);
      await driver.powerOn(instance);
      assert.equal(await state(instance), RUNNING);
      await driver.destroy(instance);
      assert.equal(eventsFor(instance).length, 1, 'destroy is not news');
    });

    test('a workload killed by a signal berth did not send is CRASHED and reported', async () => {
      const instance = await spawned();
      await sut.endWorkload(instance, 'kill');
      const event = await firstEvent(instance);
      assert.deepEqual([event.state, event.reason], [CRASHED, 'killed by signal 9']);
      assert.equal(await state(instance), CRASHED);
      await driver.reboot(instance, 'HARD');
      assert.equal(await state(instance), RUNNING);
      await driver.destroy(instance);
    });

    test('attach/detach interface: refused as unsupported unless the capability says so', async (t) => {
      if (driver.capabilities.supports_attach_interface) return t.skip('the driver attaches');
      const instance = await spawned();
      const vif = buildVif();
      await assert.rejects(driver.attachInterface(instance, vif), AttachInterfaceNotSupported);
      await assert.rejects(driver.detachInterface(instance, vif), AttachInterfaceNotSupported);
      await driver.destroy(instance);
    });

    test('ports given at spawn are plugged; attach and detach work running and stopped', async (t) => {
      const ports = sut.ports;
      if (!driver.capabilities.supports_attach_interface || !ports)
        return t.skip('the driver plugs no ports');
      const first = await ports.vif();
      const instance = await spawned({ networkInfo: [first] });
      assert.deepEqual(await ports.plugged(instance), [first.id]);
      const second = await ports.vif();
      await driver.attachInterface(instance, second);
      await driver.attachInterface(instance, second);
      assert.deepEqual(await ports.plugged(instance), [first.id, second.id]);
      await driver.powerOff(instance, 5);
      await driver.detachInterface(instance, first);
      await driver.detachInterface(instance, first);
      assert.deepEqual(await ports.plugged(instance), [second.id]);
      const third = await ports.vif();
      await driver.attachInterface(instance, third);
      await driver.powerOn(instance);
      assert.deepEqual(await ports.plugged(instance), [second.id, third.id]);
      await assert.rejects(driver.attachInterface(spec(), await ports.vif()), NotFoundError);
      await driver.detachInterface(spec(), third);
      await driver.destroy(instance);
    });

    test('volumes: attached running and stopped, kept across power off/on and reboot, never deleted', async (t) => {
      const vols = sut.volumes;
      if (!vols) return t.skip('the driver has no volume service');
      const [a, b] = [randomUUID(), randomUUID()];
      await vols.service.create({ id: a, sizeGb: 1 });
      await vols.service.create({ id: b, sizeGb: 1 });
      const conn = (volumeId: string, mountPoint: string, multiattach = false) => ({
        volumeId,
        mountPoint,
        readOnly: false,
        multiattach,
      });
      const instance = await spawned();
      await driver.attachVolume(instance, conn(a, '/mnt/a'));
      await driver.attachVolume(instance, conn(a, '/mnt/a'));
      await vols.files?.write(instance, '/mnt/a/file', 'on a');
      await driver.powerOff(instance, 5);
      await driver.attachVolume(instance, conn(b, '/mnt/b'));
      await driver.powerOn(instance);
      await driver.reboot(instance, 'HARD');
      await booted(instance, 3);
      assert.deepEqual(
        (await driver.volumeAttachments(instance)).map((v) => [v.volumeId, v.mountPoint]),
        [
          [a, '/mnt/a'],
          [b, '/mnt/b'],
        ],
      );
      if (vols.files) assert.equal(await vols.files.read(instance, '/mnt/a/file'), 'on a');
      await vols.files?.write(instance, '/mnt/b/file', 'on b');
      await assert.rejects(vols.service.delete(a), /still attached/);
      await driver.detachVolume(instance, a);
      await driver.detachVolume(instance, a);
      await driver.detachVolume(spec(), a);
      assert.deepEqual(
        (await driver.volumeAttachments(instance)).map((v) => v.volumeId),
        [b],
      );
      await driver.destroy(instance);
      // Destroy released b and kept it: another instance mounts it at spawn and reads it.
      const second = spec();
      await driver.spawn(second, sut.image, [conn(b, '/data')]);
      await booted(second, 1);
      if (vols.files) assert.equal(await vols.files.read(second, '/data/file'), 'on b');
      await driver.destroy(second);
      await vols.service.delete(a);
      await vols.service.delete(b);
    });

    test('volume attach refusals: unknown volume or instance, bad or taken mount point, busy volume', async (t) => {
      const vols = sut.volumes;
      if (!vols) return t.skip('the driver has no volume service');
      const id = randomUUID();
      await vols.service.create({ id, sizeGb: 1 });
      const conn = (mountPoint: string, multiattach = false, volumeId = id) => ({
        volumeId,
        mountPoint,
        readOnly: false,
        multiattach,
      });
      const fault = (name: string) => (err: unknown) =>
        (err as { remoteFault?: { class: string } }).remoteFault?.class === name;
      const one = await spawned();
      const two = await spawned();
      await assert.rejects(
        driver.attachVolume(one, conn('/mnt/x', false, randomUUID())),
        fault('VolumeNotFound'),
      );
      for (const bad of ['mnt', '/proc/x', '/sys', '/dev/shm/x', '/mnt/../etc', '/'])
        await assert.rejects(driver.attachVolume(one, conn(bad)), fault('InvalidVolume'));
      await assert.rejects(driver.attachVolume(spec(), conn('/mnt/x')), NotFoundError);
      await driver.attachVolume(one, conn('/mnt/x'));
      await assert.rejects(driver.attachVolume(one, conn('/mnt/y')), fault('InvalidVolume'));
      await assert.rejects(driver.attachVolume(two, conn('/mnt/x')), fault('VolumeIsBusy'));
      await driver.detachVolume(one, id);
      // Multiattach: both instances have it at once.
      await driver.attachVolume(one, conn('/mnt/x', true));
      await driver.attachVolume(two, conn('/mnt/x', true));
      assert.deepEqual(vols.service.holders(id).sort(), [one.uuid, two.uuid].sort());
      await driver.destroy(one);
      await driver.destroy(two);
      assert.deepEqual(vols.service.holders(id), []);
      await vols.service.delete(id);
    });

    test('cacheImage prepares an image; the second time it is there', async () => {
      assert.equal(driver.capabilities.has_imagecache, true);
      const first = await driver.cacheImage(sut.image.id);
      assert.equal(await driver.cacheImage(sut.image.id), false, 'the second time it is there');
      assert.equal(typeof first, 'boolean');
    });

    test('snapshot: the task moves through pending upload and uploading, the image gets data, the instance keeps its state', async (t) => {
      const snapshots = sut.snapshots;
      if (!snapshots) return t.skip('no image service for snapshots');
      const instance = await spawned();
      const text = `snapshot ${randomUUID()}`;
      await sut.writableLayer?.write(instance, text);
      for (const [power, prepare] of [
        [RUNNING, async () => {}],
        [PAUSED, () => driver.pause(instance)],
      ] as const) {
        await prepare();
        const target = await snapshots.images.create({
          name: 'conformance-snapshot',
          container_format: 'bare',
          disk_format: 'raw',
        });
        const updates: unknown[] = [];
        const result = await driver.snapshot(instance, target.id, async (state, expected) => {
          updates.push([state, expected]);
        });
        assert.deepEqual(updates, [
          [TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_SNAPSHOT],
          [TaskState.IMAGE_UPLOADING, TaskState.IMAGE_PENDING_UPLOAD],
        ]);
        assert.equal(await state(instance), power);
        const image = await snapshots.images.show(target.id);
        assert.equal(image.status, 'active');
        assert.equal(image.size, result.size);
        if (power !== RUNNING)
          assert.equal(result.frozenMs, 0, 'a frozen instance is not frozen again');
        if (sut.writableLayer && snapshots.snapshotFile)
          assert.equal((await snapshots.snapshotFile(target.id, 'root/data'))?.trim(), text);
        await snapshots.images.delete(target.id);
      }
      await assert.rejects(
        driver.snapshot(spec(), randomUUID(), async () => {}),
        NotFoundError,
      );
      await driver.destroy(instance);
    });

    test('rebuild: a fresh root filesystem, the same uuid and ports, the workload running again', async () => {
      const ports = sut.ports;
      const vifs = ports ? [await ports.vif()] : [];
      const instance = await spawned({ networkInfo: vifs });
      const layer = sut.writableLayer;
      const text = `before the rebuild ${randomUUID()}`;
      await layer?.write(instance, text);
      await driver.rebuild(instance, sut.image, vifs);
      assert.equal(await state(instance), RUNNING);
      await eventually('the rebuilt workload', async () => (await boots(instance)) >= 1);
      assert.deepEqual(
        await driver.listInstanceUuids().then((l) => l.filter((u) => u === instance.uuid)),
        [instance.uuid],
      );
      if (ports)
        assert.deepEqual(
          await ports.plugged(instance),
          vifs.map((v) => v.id),
        );
      if (layer)
        assert.notEqual(
          (await layer.read(instance).catch(() => '')).trim(),
          text,
          'the old files are gone',
        );
      await driver.powerOff(instance, 5);
      await driver.rebuild(instance, sut.image, vifs);
      assert.equal(await state(instance), RUNNING);
      await driver.destroy(instance);
    });

    test('resize: new limits, a root disk grown never shrunk, the same files and power state', async () => {
      const instance = await spawned();
      const check = await markDisk(instance);
      const capacity = sut.writableLayer?.capacityBytes?.bind(sut.writableLayer);
      const before = await capacity?.(instance);
      await driver.resize(instance, { vcpus: 2, memoryMb: 96, rootGb: 2 });
      assert.equal(await state(instance), RUNNING);
      await booted(instance, 2);
      await check();
      assert.equal((await driver.getDiagnostics(instance)).memoryLimitBytes, 96 * 2 ** 20);
      const grown = await capacity?.(instance);
      if (before !== undefined) assert.ok(grown! > before + 2 ** 29, `${before} grew to ${grown}`);

      await driver.powerOff(instance, 5);
      await driver.resize(instance, { vcpus: 1, memoryMb: 64, rootGb: 1 });
      assert.equal(await state(instance), SHUTDOWN, 'a stopped instance stays stopped');
      await driver.powerOn(instance);
      await booted(instance, 3);
      await check();
      if (grown !== undefined) assert.equal(await capacity!(instance), grown, 'never shrunk');
      await driver.destroy(instance);
      await assert.rejects(
        driver.resize(spec(), { vcpus: 1, memoryMb: 64, rootGb: 1 }),
        NotFoundError,
      );
    });

    test('host uptime reads like uptime(1)', async () => {
      assert.match(await driver.getHostUptime(), /^ \d\d:\d\d:\d\d up .+ load average: /);
    });
  });
}
