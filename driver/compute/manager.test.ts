import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import winston from 'winston';
import { waitFor } from '../../testing/wait-for';
import { FakeTransport } from '../../testing/messaging/fake-transport';
import { RemoteError } from '../../messaging/transport';
import { NotFoundError } from '../../common/errors';
import { FakeDriver } from '../../testing/driver/fake-driver';
import { FakeImageService } from '../../testing/driver/fake-image-service';
import { PowerState } from '../../nova/power-state';
import { InstanceRecords } from './instance-records';
import { infoCachePrimitive } from '../../nova/instance-object';
import { buildVif } from '../../testing/network/vif-builder';
import { ComputeManager } from './manager';
import { ImageChecksumError } from '../image/image-errors';

const HOST = 'node-1';
const COMPUTE = { topic: 'compute', server: HOST, version: '6.0' };

let serial = 0;
function instance(overrides: Record<string, unknown> = {}, version = '2.7') {
  const uuid = `00000000-0000-4000-8000-${String(++serial).padStart(12, '0')}`;
  return {
    'nova_object.name': 'Instance',
    'nova_object.namespace': 'nova',
    'nova_object.version': version,
    'nova_object.data': {
      uuid,
      id: serial,
      vcpus: 1,
      memory_mb: 64,
      root_gb: 1,
      image_ref: 'img-1',
      hostname: 'vm',
      display_name: 'vm',
      vm_state: 'building',
      task_state: 'scheduling',
      power_state: 0,
      project_id: 'p-1',
      user_id: 'u-1',
      ...overrides,
    },
  };
}
const uuidOf = (i: ReturnType<typeof instance>) => i['nova_object.data'].uuid;

describe('ComputeManager', () => {
  let dir: string;
  let transport: FakeTransport;
  let driver: FakeDriver;
  let records: InstanceRecords;
  let images: FakeImageService;
  let saves: { vm_state: unknown; task_state: unknown; uuid: unknown; kwargs: unknown }[];

  async function newManager() {
    const manager = new ComputeManager({
      driver,
      transport,
      store: records,
      host: HOST,
      log: winston.createLogger({ silent: true }),
      stopTimeout: 1,
      images,
    });
    await transport.serve({ topic: 'compute', server: HOST }, manager.endpoints());
    return manager;
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-manager-'));
    transport = new FakeTransport();
    images = new FakeImageService();
    driver = new FakeDriver(undefined, images);
    await driver.initHost(HOST);
    records = new InstanceRecords(dir);
    saves = [];
    await transport.serve({ topic: 'conductor', server: 'c' }, [
      {
        version: '3.0',
        methods: {
          object_action: (args) => {
            const obj = args.objinst as {
              'nova_object.name': string;
              'nova_object.data': Record<string, unknown>;
            };
            const data = obj['nova_object.data'];
            if (obj['nova_object.name'] === 'Instance')
              saves.push({
                uuid: data.uuid,
                vm_state: data.vm_state,
                task_state: data.task_state,
                kwargs: args.kwargs,
              });
            return [{}, null];
          },
        },
      },
    ]);
    await newManager();
  });

  afterEach(async () => {
    await transport.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, args: Record<string, unknown>) =>
    transport.call(COMPUTE, method, args, { timeout: 5 });
  const events = (uuid: string) =>
    transport.notifications
      .filter(
        (n) =>
          (n.payload as { 'nova_object.data': { uuid: string } })['nova_object.data'].uuid === uuid,
      )
      .map((n) => n.eventType);
  const state = (uuid: string) => {
    const r = records.get(uuid);
    return r && [r.vm_state, r.task_state, r.power_state];
  };

  async function build() {
    const inst = instance();
    await call('build_and_run_instance', {
      instance: inst,
      image: { id: 'img-1', properties: {} },
    });
    return inst;
  }

  test('build_and_run_instance spawns, reports active to the conductor and notifies', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    assert.deepEqual(state(uuid), ['active', null, PowerState.RUNNING]);
    assert.deepEqual(events(uuid), ['instance.create.start', 'instance.create.end']);
    assert.deepEqual(saves.at(-1), {
      uuid,
      vm_state: 'active',
      task_state: null,
      kwargs: { expected_task_state: 'spawning' },
    });
    const publisher = transport.notifications.at(-1)!.publisherId;
    assert.equal(publisher, `nova-compute:${HOST}`);
  });

  test('a repeated build does not create a second instance', async () => {
    const inst = await build();
    await call('build_and_run_instance', { instance: inst, image: { id: 'img-1' } });
    assert.deepEqual(await driver.listInstanceUuids(), [uuidOf(inst)]);
    assert.deepEqual(events(uuidOf(inst)), ['instance.create.start', 'instance.create.end']);
  });

  test('a failed build ends in ERROR with a fault and leaves nothing in the driver', async () => {
    driver.failNext('spawn', new Error('no such image'));
    const inst = instance();
    await assert.rejects(call('build_and_run_instance', { instance: inst }), /no such image/);
    const r = records.get(uuidOf(inst))!;
    assert.deepEqual([r.vm_state, r.task_state], ['error', null]);
    assert.match(r.fault!.message, /no such image/);
    assert.deepEqual(await driver.listInstanceUuids(), []);
    assert.deepEqual(events(uuidOf(inst)), ['instance.create.start', 'instance.create.error']);
  });

  test('a build failing for its image is not rescheduled: ERROR with the image fault', async () => {
    driver.failNext('spawn', new ImageChecksumError('blob sha256:ab: checksum mismatch'));
    const inst = instance();
    await assert.rejects(
      call('build_and_run_instance', {
        instance: inst,
        image: { id: 'img-1' },
        filter_properties: { retry: { num_attempts: 1, hosts: [[HOST, HOST]] } },
      }),
      /checksum/,
    );
    const r = records.get(uuidOf(inst))!;
    assert.deepEqual([r.vm_state, r.task_state], ['error', null]);
    assert.match(r.fault!.message, /checksum mismatch/);
  });

  test('build_and_run_instance hands the info_cache VIFs to the driver, in order', async () => {
    const eth0 = buildVif({ ip: '10.0.0.5', mac: 'fa:16:3e:00:00:05' });
    const eth1 = buildVif({ ip: '10.1.0.6', cidr: '10.1.0.0/24' });
    const inst = instance();
    const uuid = uuidOf(inst);
    Object.assign(inst['nova_object.data'], {
      info_cache: infoCachePrimitive(uuid, [eth0, eth1]),
    });
    await call('build_and_run_instance', { instance: inst, image: { id: 'img-1' } });
    assert.deepEqual(driver.pluggedVifs(uuid), [eth0, eth1]);
    assert.deepEqual(records.get(uuid)!.spec.networkInfo, [eth0, eth1]);
  });

  test('a network_info that is not a JSON list of VIFs is refused before anything is made', async () => {
    const inst = instance();
    const cache = infoCachePrimitive(uuidOf(inst), []);
    for (const bad of ['{not json', '[{"id": "p"}]', '{}']) {
      cache['nova_object.data'].network_info = bad;
      Object.assign(inst['nova_object.data'], { info_cache: cache });
      await assert.rejects(
        call('build_and_run_instance', { instance: inst }),
        (err: RemoteError) =>
          err.exceptionClass === 'InvalidInput' && /network_info/.test(err.message),
      );
    }
    assert.deepEqual(await driver.listInstanceUuids(), []);
  });

  test('attach_interface plugs the VIF of the info_cache and answers it; detach unplugs', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    const vif = buildVif();
    const withPort = structuredClone(inst);
    Object.assign(withPort['nova_object.data'], { info_cache: infoCachePrimitive(uuid, [vif]) });
    const answer = await call('attach_interface', {
      instance: withPort,
      network_id: vif.network.id,
      port_id: vif.id,
      requested_ip: null,
      tag: null,
    });
    assert.deepEqual(answer, vif);
    assert.deepEqual(driver.pluggedVifs(uuid), [vif]);
    assert.deepEqual(records.get(uuid)!.spec.networkInfo, [vif]);
    // Action messages carry no info_cache: the host's own record knows the port.
    await call('detach_interface', { instance: inst, port_id: vif.id });
    assert.deepEqual(driver.pluggedVifs(uuid), []);
    assert.deepEqual(records.get(uuid)!.spec.networkInfo, []);
    await call('detach_interface', { instance: inst, port_id: vif.id });
    assert.deepEqual(events(uuid).slice(2), [
      'instance.interface_attach.start',
      'instance.interface_attach.end',
      'instance.interface_detach.start',
      'instance.interface_detach.end',
      'instance.interface_detach.start',
      'instance.interface_detach.end',
    ]);
  });

  test('attach_interface: refused in the wrong state, for an unknown port, and when the driver fails', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    const vif = buildVif();
    const withPort = structuredClone(inst);
    Object.assign(withPort['nova_object.data'], { info_cache: infoCachePrimitive(uuid, [vif]) });
    const attach = () => call('attach_interface', { instance: withPort, port_id: vif.id });
    await assert.rejects(
      call('attach_interface', { instance: inst, port_id: vif.id }),
      (err: RemoteError) => err.exceptionClass === 'InvalidInput',
    );
    await call('suspend_instance', { instance: inst });
    await assert.rejects(
      attach(),
      (err: RemoteError) => err.exceptionClass === 'InstanceInvalidState',
    );
    await call('resume_instance', { instance: inst });
    driver.failNext('attachInterface', new Error('veth refused'));
    await assert.rejects(attach(), /veth refused/);
    assert.deepEqual(records.get(uuid)!.spec.networkInfo, []);
    assert.ok(events(uuid).includes('instance.interface_attach.error'));
    await attach();
    assert.deepEqual(driver.pluggedVifs(uuid), [vif]);
  });

  test('stop, start, pause, unpause, suspend, resume and reboot move through Nova states', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    const steps: [string, Record<string, unknown>, unknown[]][] = [
      ['stop_instance', { clean_shutdown: true }, ['stopped', null, PowerState.SHUTDOWN]],
      ['start_instance', {}, ['active', null, PowerState.RUNNING]],
      ['pause_instance', {}, ['paused', null, PowerState.PAUSED]],
      ['unpause_instance', {}, ['active', null, PowerState.RUNNING]],
      ['suspend_instance', {}, ['suspended', null, PowerState.SUSPENDED]],
      ['resume_instance', {}, ['active', null, PowerState.RUNNING]],
      ['reboot_instance', { reboot_type: 'SOFT' }, ['active', null, PowerState.RUNNING]],
      ['reboot_instance', { reboot_type: 'HARD' }, ['active', null, PowerState.RUNNING]],
    ];
    for (const [method, args, expected] of steps) {
      await call(method, { instance: inst, ...args });
      assert.deepEqual(state(uuid), expected, method);
    }
    assert.ok(events(uuid).includes('instance.power_off.end'));
    assert.ok(events(uuid).includes('instance.suspend.start'));
    assert.ok(events(uuid).includes('instance.reboot.end'));
  });

  test('snapshot_instance: image_snapshot → image_pending_upload → image_uploading → None, each saved with the state it replaces', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    const snap = await images.create({ name: 's', container_format: 'bare', disk_format: 'raw' });
    const before = saves.length;
    await call('snapshot_instance', { instance: inst, image_id: snap.id });
    assert.equal((await images.show(snap.id)).status, 'active');
    assert.deepEqual(
      saves.slice(before).map((s) => [s.task_state, s.kwargs]),
      [
        ['image_snapshot', { expected_task_state: [null, 'image_snapshot'] }],
        ['image_pending_upload', { expected_task_state: 'image_snapshot' }],
        ['image_uploading', { expected_task_state: 'image_pending_upload' }],
        [null, { expected_task_state: 'image_uploading' }],
      ],
    );
    assert.ok(saves.slice(before).every((s) => s.vm_state === 'active'));
    assert.deepEqual(state(uuid), ['active', null, PowerState.RUNNING]);
    assert.deepEqual(events(uuid).slice(-2), ['instance.snapshot.start', 'instance.snapshot.end']);
  });

  test('a failed snapshot ends the task, records the fault, deletes the image and keeps the instance running', async () => {
    const { id } = await images.create({
      name: 'snap',
      container_format: 'bare',
      disk_format: 'raw',
    });
    const inst = await build();
    const uuid = uuidOf(inst);
    driver.failNext('snapshot', new Error('disk full while copying'));
    await assert.rejects(
      call('snapshot_instance', { instance: inst, image_id: id }),
      /disk full while copying/,
    );
    const r = records.get(uuid)!;
    assert.deepEqual(
      [r.vm_state, r.task_state, r.power_state],
      ['active', null, PowerState.RUNNING],
    );
    assert.match(r.fault!.message, /disk full/);
    await assert.rejects(images.show(id), /not found/);
    assert.deepEqual(events(uuid).slice(-2), [
      'instance.snapshot.start',
      'instance.snapshot.error',
    ]);
    assert.equal((await driver.getInfo(r.spec)).state, PowerState.RUNNING);
  });

  test('snapshot_instance is refused while another task runs and for a malformed image_id', async () => {
    const inst = await build();
    await assert.rejects(
      call('snapshot_instance', { instance: inst }),
      (err: RemoteError) => err.exceptionClass === 'InvalidInput' && /image_id/.test(err.message),
    );
    await records.save({ ...records.get(uuidOf(inst))!, task_state: 'rebooting' });
    await assert.rejects(
      call('snapshot_instance', { instance: inst, image_id: 'x' }),
      (err: RemoteError) => err.exceptionClass === 'InstanceInvalidState',
    );
  });

  test('rebuild_instance: rebuilding → rebuild_spawning → None, a new image, the same uuid and ports', async () => {
    const vif = buildVif();
    const inst = instance();
    const uuid = uuidOf(inst);
    Object.assign(inst['nova_object.data'], { info_cache: infoCachePrimitive(uuid, [vif]) });
    await call('build_and_run_instance', { instance: inst, image: { id: 'img-1' } });
    const before = saves.length;
    await call('rebuild_instance', { instance: inst, image_ref: 'img-2', orig_image_ref: 'img-1' });
    assert.deepEqual(
      saves.slice(before).map((s) => [s.vm_state, s.task_state, s.kwargs]),
      [
        ['active', 'rebuilding', { expected_task_state: [null, 'rebuilding'] }],
        ['active', 'rebuild_spawning', { expected_task_state: 'rebuilding' }],
        ['active', null, { expected_task_state: 'rebuild_spawning' }],
      ],
    );
    assert.equal(driver.imageOf(uuid), 'img-2');
    assert.deepEqual(driver.pluggedVifs(uuid), [vif]);
    assert.equal(records.get(uuid)!.spec.imageRef, 'img-2');
    assert.deepEqual(events(uuid).slice(-2), ['instance.rebuild.start', 'instance.rebuild.end']);
  });

  test('rebuild of a stopped instance leaves it stopped; a failed rebuild is ERROR with the fault', async () => {
    const inst = await build();
    const uuid = uuidOf(inst);
    await call('stop_instance', { instance: inst });
    await call('rebuild_instance', { instance: inst, image_ref: 'img-2' });
    assert.deepEqual(state(uuid), ['stopped', null, PowerState.SHUTDOWN]);
    assert.equal(driver.imageOf(uuid), 'img-2');
    driver.failNext('rebuild', new Error('image img-3 has no data'));
    await assert.rejects(
      call('rebuild_instance', { instance: inst, image_ref: 'img-3' }),
      /no data/,
    );
    const r = records.get(uuid)!;
    assert.deepEqual([r.vm_state, r.task_state], ['error', null]);
    assert.match(r.fault!.message, /img-3 has no data/);
    // Nova lets an ERROR instance be rebuilt: that is how it is repaired.
    await call('rebuild_instance', { instance: inst, image_ref: 'img-1' });
    assert.deepEqual(state(uuid), ['active', null, PowerState.RUNNING]);
    await assert.rejects(
      call('rebuild_instance', { instance: inst, image_ref: 'img-1', recreate: true }),
      (err: RemoteError) => /recreate/.test(err.message),
    );
  });

  test('an action invalid in the current state is refused with InstanceInvalidState and changes nothing', async () => {
    const inst = await build();
    const before = JSON.stringify(records.get(uuidOf(inst)));
    const notified = transport.notifications.length;
    for (const method of ['start_instance', 'unpause_instance', 'resume_instance']) {
      await assert.rejects(call(method, { instance: inst }), (err: RemoteError) => {
        assert.equal(err.exceptionClass, 'InstanceInvalidState');
        assert.equal(err.module, 'nova.exception');
        return true;
      });
    }
    assert.equal(JSON.stringify(records.get(uuidOf(inst))), before);
    assert.equal(transport.notifications.length, notified);
  });

  test('operations on one instance run in arrival order', async () => {
    const inst = await build();
    await Promise.all([
      transport.cast(COMPUTE, 'stop_instance', { instance: inst }),
      transport.cast(COMPUTE, 'start_instance', { instance: inst }),
      transport.cast(COMPUTE, 'pause_instance', { instance: inst }),
    ]);
    await call('get_host_uptime', {}); // the casts are in flight; wait for their turn to end
    await waitFor(
      'the pause, last of the casts',
      () => records.get(uuidOf(inst))!.vm_state === 'paused',
    );
    assert.deepEqual(state(uuidOf(inst)), ['paused', null, PowerState.PAUSED]);
  });

  test('queries: console output, diagnostics, host uptime; unknown instance is InstanceNotFound', async () => {
    const inst = await build();
    const full = (await call('get_console_output', { instance: inst })) as string;
    assert.ok(full.endsWith('\n'));
    for (const n of [1, 2]) {
      const tail = (await call('get_console_output', { instance: inst, tail_length: n })) as string;
      assert.equal(tail, full.split('\n').slice(-n).join('\n'));
    }
    const diag = (await call('get_instance_diagnostics', { instance: inst })) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(diag['nova_object.name'], 'Diagnostics');
    assert.equal(diag['nova_object.data'].num_cpus, 1);
    assert.equal(typeof (await call('get_host_uptime', {})), 'string');
    await assert.rejects(
      call('get_console_output', { instance: instance() }),
      (err: RemoteError) => err.exceptionClass === 'InstanceNotFound',
    );
  });

  test('cache_images: each image cached, existing or error, as Nova reports them', async () => {
    driver.failNext('cacheImage', new NotFoundError('image gone not found'));
    assert.deepEqual(await call('cache_images', { image_ids: ['gone', 'img-1', 'img-1'] }), {
      gone: 'error',
      'img-1': 'existing',
    });
    assert.deepEqual(await call('cache_images', { image_ids: ['img-2'] }), { 'img-2': 'cached' });
    await assert.rejects(
      call('cache_images', { image_ids: 'img-3' }),
      (err: RemoteError) => err.exceptionClass === 'InvalidInput',
    );
  });

  test('malformed arguments are refused with a clear failure', async () => {
    await assert.rejects(
      call('stop_instance', {}),
      (err: RemoteError) => err.exceptionClass === 'InvalidInput' && /instance/.test(err.message),
    );
    await assert.rejects(
      call('stop_instance', { instance: 'nope' }),
      (err: RemoteError) => err.exceptionClass === 'InvalidInput',
    );
    await assert.rejects(
      call('stop_instance', { instance: instance({}, '3.0') }),
      (err: RemoteError) => err.exceptionClass === 'IncompatibleObjectVersion',
    );
    await assert.rejects(
      call('stop_instance', { instance: instance({ vcpus: 'two' }) }),
      (err: RemoteError) => /vcpus/.test(err.message),
    );
    const inst = await build();
    await assert.rejects(
      call('reboot_instance', { instance: inst, reboot_type: 'WARM' }),
      (err: RemoteError) => /reboot_type/.test(err.message),
    );
    await assert.rejects(
      call('no_such_method', {}),
      (err: RemoteError) => err.exceptionClass === 'NoSuchMethod',
    );
  });

  test('a workload that exits on its own makes the instance stopped (crashed when OOM-killed)', async () => {
    const a = await build();
    driver.endWorkload(uuidOf(a), { code: 0, signal: 0, oomKilled: false });
    const b = await build();
    driver.endWorkload(uuidOf(b), { code: 137, signal: 9, oomKilled: true });
    await waitFor('both exits recorded', () =>
      [a, b].every((i) => records.get(uuidOf(i))!.vm_state === 'stopped'),
    );
    assert.deepEqual(state(uuidOf(a)), ['stopped', null, PowerState.SHUTDOWN]);
    assert.deepEqual(state(uuidOf(b)), ['stopped', null, PowerState.CRASHED]);
  });

  test('terminate_instance destroys the instance and forgets it', async () => {
    const inst = await build();
    await call('terminate_instance', { instance: inst, bdms: null });
    assert.equal(records.get(uuidOf(inst)), undefined);
    assert.deepEqual(await driver.listInstanceUuids(), []);
    assert.deepEqual(events(uuidOf(inst)).slice(-2), [
      'instance.delete.start',
      'instance.delete.end',
    ]);
    assert.deepEqual(saves.at(-1)!.vm_state, 'deleted');
  });

  test('reconcile after a crash: no task_state is left, orphans are removed', async () => {
    const running = await build();
    const spawning = instance();
    // A record written just before a crash in the middle of a build, whose container never came.
    const r = { ...records.get(uuidOf(running))! };
    await records.save({
      ...r,
      uuid: uuidOf(spawning),
      vm_state: 'building',
      task_state: 'spawning',
      spec: { ...r.spec, uuid: uuidOf(spawning) },
    });
    await records.save({ ...records.get(uuidOf(running))!, task_state: 'powering-off' });
    await driver.spawn(
      { ...r.spec, uuid: '00000000-0000-4000-8000-999999999999' },
      { id: 'img-1' },
    );
    const manager = await newManager();
    await manager.reconcile();
    assert.deepEqual(state(uuidOf(running)), ['active', null, PowerState.RUNNING]);
    const failed = records.get(uuidOf(spawning))!;
    assert.deepEqual([failed.vm_state, failed.task_state], ['error', null]);
    assert.match(failed.fault!.message, /interrupted/);
    assert.deepEqual(await driver.listInstanceUuids(), [uuidOf(running)]);
  });

  describe('volumes', () => {
    const VOL = '11111111-1111-4111-8111-111111111111';
    const bdm = (data: Record<string, unknown> = {}) => ({
      volume_id: VOL,
      destination_type: 'volume',
      connection_info: JSON.stringify({
        driver_volume_type: 'berth',
        data: { volume_id: VOL, mount_point: '/data', read_only: false, ...data },
      }),
    });
    const mounted = async (inst: ReturnType<typeof instance>) =>
      (await driver.volumeAttachments(records.get(uuidOf(inst))!.spec)).map((v) => [
        v.volumeId,
        v.mountPoint,
      ]);
    const refusedAs = (exceptionClass: string) => (err: RemoteError) => {
      assert.equal(err.exceptionClass, exceptionClass, err.message);
      return true;
    };

    test("attach_volume mounts the bdm's volume and notifies; a redelivery changes nothing", async () => {
      const inst = await build();
      await call('attach_volume', { instance: inst, bdm: bdm() });
      await call('attach_volume', { instance: inst, bdm: bdm() });
      assert.deepEqual(await mounted(inst), [[VOL, '/data']]);
      assert.deepEqual(events(uuidOf(inst)).slice(2, 4), [
        'instance.volume_attach.start',
        'instance.volume_attach.end',
      ]);
    });

    test('attach_volume refuses a malformed bdm, a wrong state and a volume another instance has', async () => {
      const inst = await build();
      await assert.rejects(
        call('attach_volume', { instance: inst, bdm: bdm({ mount_point: 'data' }) }),
        refusedAs('InvalidVolume'),
      );
      await assert.rejects(
        call('attach_volume', { instance: inst, bdm: { connection_info: '{' } }),
        refusedAs('InvalidInput'),
      );
      const other = await build();
      await call('attach_volume', { instance: other, bdm: bdm() });
      await assert.rejects(
        call('attach_volume', { instance: inst, bdm: bdm({ mount_point: '/b' }) }),
        refusedAs('VolumeIsBusy'),
      );
      await call('attach_volume', { instance: inst, bdm: bdm({ multiattach: true }) });
      await call('suspend_instance', { instance: other });
      await assert.rejects(
        call('detach_volume', { instance: other, volume_id: VOL, attachment_id: 'a-1' }),
        refusedAs('InstanceInvalidState'),
      );
      assert.deepEqual(await mounted(other), [[VOL, '/data']]);
      const unknown = instance();
      await assert.rejects(
        call('attach_volume', { instance: unknown, bdm: bdm() }),
        refusedAs('InstanceNotFound'),
      );
    });

    test('detach_volume unmounts, and is done already for a volume or instance without it', async () => {
      const inst = await build();
      await call('attach_volume', { instance: inst, bdm: bdm() });
      const detach = (i: ReturnType<typeof instance>) =>
        call('detach_volume', { instance: i, volume_id: VOL, attachment_id: 'a-1' });
      await detach(inst);
      assert.deepEqual(await mounted(inst), []);
      await detach(inst);
      await detach(instance());
      assert.deepEqual(
        events(uuidOf(inst)).filter((e) => e.includes('volume_detach')),
        ['instance.volume_detach.start', 'instance.volume_detach.end'],
      );
      await assert.rejects(
        call('detach_volume', { instance: inst, volume_id: 'x', attachment_id: 'a-1' }),
        refusedAs('InvalidVolume'),
      );
    });

    test('build_and_run_instance spawns with the volumes of block_device_mapping', async () => {
      const inst = instance();
      await call('build_and_run_instance', {
        instance: inst,
        image: { id: 'img-1' },
        block_device_mapping: [
          { source_type: 'image', destination_type: 'local', boot_index: 0 },
          bdm({ read_only: true }),
        ],
      });
      assert.deepEqual(state(uuidOf(inst)), ['active', null, PowerState.RUNNING]);
      const [v] = await driver.volumeAttachments(records.get(uuidOf(inst))!.spec);
      assert.deepEqual(v, {
        volumeId: VOL,
        mountPoint: '/data',
        readOnly: true,
        multiattach: false,
      });
    });

    test('a build with a malformed block_device_mapping ends in ERROR, not rescheduled', async () => {
      const inst = instance();
      await assert.rejects(
        call('build_and_run_instance', {
          instance: inst,
          image: { id: 'img-1' },
          block_device_mapping: [bdm({ mount_point: '/proc' })],
          filter_properties: { retry: { num_attempts: 1, hosts: [[HOST, HOST]] } },
        }),
        refusedAs('InvalidVolume'),
      );
      const r = records.get(uuidOf(inst))!;
      assert.deepEqual([r.vm_state, r.task_state], ['error', null]);
      assert.match(r.fault!.message, /mount point/);
      assert.deepEqual(await driver.listInstanceUuids(), []);
    });
  });
});
