/**
 * Volumes on a real `berth compute` over a real RabbitMQ: the API's
 * berth-volume client makes a volume on the host (a loop-mounted ext4
 * file), the compute mounts it into a running instance on attach_volume,
 * refuses to delete it while mounted, and unmounts it on detach_volume.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isRemote, TransportVolumeRpcAPI } from '../api/volume/volume-rpc';
import { mountSource } from '../driver/volume/mountinfo';
import { AmqpTransport } from '../messaging/amqp-transport';
import { native } from '../native';
import { NOVA_FAULTS } from '../nova/faults';
import {
  cleanUpNode,
  type ComputeNode,
  createVhost,
  importImage,
  instanceStatus,
  novaInstance,
  type RunningCompute,
  startCompute,
  stopProcess,
} from './compute-harness';
import { needsRoot, runName, tempStateDir, waitFor } from './harness';

const COMPUTE_VERSION = '6.0';
const MOUNT_POINT = '/data';
const skip =
  needsRoot() ?? (fs.existsSync('/dev/loop-control') ? undefined : 'no /dev/loop-control');

/** The mount points of a process's mount namespace. */
function mountPointsOf(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]);
}

describe('volumes on a real compute', { skip }, () => {
  const vhost = runName('volumes');
  const node: ComputeNode = {
    host: vhost,
    stateDir: tempStateDir('volumes'),
    cgroupParent: vhost,
    url: '',
  };
  const ctx = { request_id: `req-${randomUUID()}` };
  const made: string[] = [];
  let api: AmqpTransport;
  let volumes: TransportVolumeRpcAPI;
  let compute: RunningCompute | undefined;
  let imageId: string;

  const connectionInfo = (id: string) =>
    JSON.stringify({
      driver_volume_type: 'berth',
      data: { volume_id: id, mount_point: MOUNT_POINT, read_only: false, multiattach: false },
    });
  const mountOf = (id: string) => path.join(node.stateDir, 'volumes', id, 'mnt');
  /** What the instance wrote into the volume: its hostname, once it has the volume mounted. */
  const written = (id: string) =>
    waitFor(
      'the instance writes into the volume',
      () => {
        const file = path.join(mountOf(id), 'hello');
        return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
      },
      20000,
    );

  async function build(id: number, blockDeviceMapping: unknown[] | null) {
    const uuid = randomUUID();
    const instance = novaInstance(uuid, id, imageId);
    await api.cast(
      { topic: 'compute', server: node.host, version: COMPUTE_VERSION },
      'build_and_run_instance',
      {
        instance,
        image: { id: imageId, properties: {} },
        block_device_mapping: blockDeviceMapping,
      },
      { context: ctx },
    );
    const { pid } = await waitFor(
      'instance active',
      async () => {
        const s = (await instanceStatus(compute!.statusUrl, uuid)).instance;
        return s?.vm_state === 'active' && s.pid ? s : undefined;
      },
      60000,
    );
    return { uuid, instance, pid: pid! };
  }

  const computeCall = (method: string, args: Record<string, unknown>) =>
    api.call({ topic: 'compute', server: node.host, version: COMPUTE_VERSION }, method, args, {
      context: ctx,
      timeout: 60,
    });

  before(async () => {
    node.url = createVhost(vhost);
    api = new AmqpTransport({
      transportUrl: node.url,
      controlExchange: 'nova',
      faults: NOVA_FAULTS,
    });
    await api.serve({ topic: 'conductor', server: 'it' }, [
      { version: '3.0', methods: { object_action: () => [{}, null] } },
    ]);
    volumes = new TransportVolumeRpcAPI(api);
    // The workload adds its hostname to /booted in its root at each start, and writes it
    // into the volume whenever one is mounted at /data.
    imageId = await importImage(node.stateDir, [
      'sh',
      '-c',
      `hostname >> /booted; while :; do grep -q ' ${MOUNT_POINT} ' /proc/self/mountinfo && hostname > ${MOUNT_POINT}/hello; sleep 1; done`,
    ]);
    compute = await startCompute(node);
  });

  after(async () => {
    await stopProcess(compute?.child);
    await api?.close();
    await cleanUpNode(node, vhost);
    // Volumes outlive the compute by design; a test that failed midway leaves its mount.
    for (const id of made) if (mountSource(mountOf(id))) native().umount(mountOf(id), true);
    fs.rmSync(node.stateDir, { recursive: true, force: true });
  });

  test('create, attach into a running instance, busy while mounted, detach, delete', async () => {
    const volumeId = randomUUID();
    made.push(volumeId);
    const capacity = await volumes.getCapacity(node.host, ctx);
    assert.ok(
      capacity.total_gb > 0 && capacity.free_gb <= capacity.total_gb,
      JSON.stringify(capacity),
    );
    await volumes.createVolume(node.host, { id: volumeId, size: 1, name: 'data' }, null, ctx);
    assert.match(mountSource(mountOf(volumeId)) ?? '', /^\/dev\/loop/);

    const { instance, pid } = await build(7001, null);
    await computeCall('attach_volume', {
      instance,
      bdm: { volume_id: volumeId, connection_info: connectionInfo(volumeId) },
    });
    assert.ok(mountPointsOf(pid).includes(MOUNT_POINT), 'mounted in the instance');
    assert.equal(await written(volumeId), 'vm-7001');

    await assert.rejects(volumes.deleteVolume(node.host, volumeId, ctx), (err: unknown) =>
      isRemote(err, 'VolumeIsBusy'),
    );

    const detach = () =>
      computeCall('detach_volume', { instance, volume_id: volumeId, attachment_id: randomUUID() });
    await detach();
    assert.ok(!mountPointsOf(pid).includes(MOUNT_POINT), 'unmounted from the instance');
    await detach();

    await volumes.deleteVolume(node.host, volumeId, ctx);
    assert.equal(mountSource(mountOf(volumeId)), undefined);
    assert.ok(!fs.existsSync(path.join(node.stateDir, 'volumes', volumeId)));
    await volumes.deleteVolume(node.host, volumeId, ctx);
  });

  test('a build mounts its block_device_mapping; after a compute restart the volume is still held', async () => {
    const volumeId = randomUUID();
    made.push(volumeId);
    await volumes.createVolume(node.host, { id: volumeId, size: 1, name: 'boot-data' }, null, ctx);
    const { uuid, pid } = await build(7002, [
      { source_type: 'image', destination_type: 'local', boot_index: 0 },
      {
        volume_id: volumeId,
        destination_type: 'volume',
        connection_info: connectionInfo(volumeId),
      },
    ]);
    assert.ok(mountPointsOf(pid).includes(MOUNT_POINT), 'mounted in the instance');
    assert.equal(await written(volumeId), 'vm-7002');

    // Restored and claimed again at start: the volume is still mounted and still busy.
    await stopProcess(compute?.child);
    compute = await startCompute(node);
    assert.match(mountSource(mountOf(volumeId)) ?? '', /^\/dev\/loop/);
    await assert.rejects(volumes.deleteVolume(node.host, volumeId, ctx), (err: unknown) =>
      isRemote(err, 'VolumeIsBusy'),
    );

    await api.cast(
      { topic: 'compute', server: node.host, version: COMPUTE_VERSION },
      'terminate_instance',
      { instance: novaInstance(uuid, 7002, imageId), bdms: [], reservations: [] },
      { context: ctx },
    );
    await waitFor(
      'instance gone',
      async () => (await instanceStatus(compute!.statusUrl, uuid)).code === 404,
      60000,
    );
    await volumes.deleteVolume(node.host, volumeId, ctx);
    assert.equal(mountSource(mountOf(volumeId)), undefined);
  });

  test('boot from volume: the root layer is on the volume, outlives the instance and boots the next', async () => {
    const volumeId = randomUUID();
    made.push(volumeId);
    await volumes.createVolume(node.host, { id: volumeId, size: 1, name: 'root' }, null, ctx);
    const rootMapping = {
      volume_id: volumeId,
      boot_index: 0,
      source_type: 'volume',
      destination_type: 'volume',
      connection_info: JSON.stringify({
        driver_volume_type: 'berth',
        data: { volume_id: volumeId, mount_point: '/', read_only: false, multiattach: false },
      }),
    };
    const booted = path.join(mountOf(volumeId), 'root', 'upper', 'booted');
    const terminate = async (uuid: string, id: number) => {
      await api.cast(
        { topic: 'compute', server: node.host, version: COMPUTE_VERSION },
        'terminate_instance',
        { instance: novaInstance(uuid, id, imageId), bdms: [], reservations: [] },
        { context: ctx },
      );
      await waitFor(
        'instance gone',
        async () => (await instanceStatus(compute!.statusUrl, uuid)).code === 404,
        60000,
      );
    };

    const first = await build(7003, [rootMapping]);
    assert.equal(
      await waitFor(
        'the first boot is written',
        () => (fs.existsSync(booted) && fs.readFileSync(booted, 'utf8')) || undefined,
        20000,
      ),
      'vm-7003\n',
    );
    await assert.rejects(volumes.deleteVolume(node.host, volumeId, ctx), (err: unknown) =>
      isRemote(err, 'VolumeIsBusy'),
    );
    await terminate(first.uuid, 7003);
    assert.equal(
      fs.readFileSync(booted, 'utf8'),
      'vm-7003\n',
      'the root layer outlived the instance',
    );

    // Booted again from the volume: the second instance starts on the first one's files.
    const second = await build(7004, [rootMapping]);
    assert.equal(
      await waitFor(
        'the second boot is written',
        () =>
          fs.readFileSync(booted, 'utf8').includes('vm-7004')
            ? fs.readFileSync(booted, 'utf8')
            : undefined,
        20000,
      ),
      'vm-7003\nvm-7004\n',
    );
    await terminate(second.uuid, 7004);
    await volumes.deleteVolume(node.host, volumeId, ctx);
    assert.equal(mountSource(mountOf(volumeId)), undefined);
  });
});
