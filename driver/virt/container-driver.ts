/**
 * The ComputeDriver on berth's native containers: one container per
 * instance, named by the instance uuid, created on the image's unpacked
 * layers and owned by the host's berth-monitor, so instances outlive the
 * compute service. Each operation reads the same way: look the instance
 * up, guard its power state, record the intent, act on the runtime.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { forInstance, log as defaultLog } from '../../common/log';
import type { ComputeSection } from '../../config/schema';
import {
  type BerthError,
  ConflictError,
  NotFoundError,
  UnavailableError,
} from '../../common/errors';
import type { NetworkInfo, Vif } from '../../nova/network-model';
import type { InstanceNetworkFiles, Network } from '../network/network';
import type { ImageRecord, ImageService, PreparedImage } from '../image/image-service';
import { type ContainerInfo, ContainerRuntime } from '../runtime/runtime';
import { UndoStack } from '../../common/undo-stack';
import { MAX_CONSOLE_BYTES, tailLines } from './console';
import {
  type AvailableResource,
  type ComputeDriver,
  type ConsoleShell,
  type Diagnostics,
  type DriverCapabilities,
  type FlavorSize,
  type InstanceInfo,
  type LifecycleEvent,
  type SnapshotResult,
  type UpdateTaskState,
  type VolumeConnection,
} from './driver';
import type { VolumeService } from '../volume/volume-service';
import type { VolumeMount } from '../runtime/spec';
import { attachmentsOf, checkRootVolume, heldVolumes, withAttachment } from './volume-attachments';
import { TaskState } from '../../nova/states';
import { copyWritableLayer, rsync, type Freezer } from './snapshot-capture';
import { publishSnapshot } from './snapshot-publish';
// TEMPORARY: driver/image/unpack.ts packLayer replaces it at merge.
import { packLayer } from '../image/unpack';
import { type ImageMeta, type InstanceSpec } from '../../nova/instance-object';
import { AttachInterfaceNotSupported } from '../../nova/exceptions';
import { PowerState } from '../../nova/power-state';
import { availableResource, hostTotals, kernelVersion, uptimeText } from './host-resources';
import { imageUser, type ImageUser } from '../image/image-user';
import { flavorLimits, instanceContainerConfig, instanceHostname } from './instance-config';
import { KeyedLocks } from '../../common/keyed-locks';
import { type InstanceRecord, InstanceStore, type PowerIntent } from './instance-store';
import { LifecycleListeners } from './lifecycle-listeners';
import {
  describeExit,
  type GuardedOperation,
  guardTransition,
  unrequestedEndState,
  type WorkloadExit,
} from './power-state';
import { powerStateName } from '../../nova/power-state';

export interface ContainerDriverOptions {
  images: ImageService;
  /** DEFAULT.state_path: containers, instance records, and the disk reported as local_gb */
  statePath: string;
  compute: ComputeSection;
  logger?: Logger;
  /** how initHost gets the runtime; by default it opens the host's, under statePath */
  openRuntime?: () => Promise<ContainerRuntime>;
  /** the data plane; without it only instances with no port can be spawned */
  network?: Network;
  /** the host's volumes; without it instances can have none */
  volumes?: VolumeService;
}

/** The console's shell: the image's bash when it has one, else its /bin/sh. */
const CONSOLE_SHELL = [
  '/bin/sh',
  '-c',
  'if [ -x /bin/bash ]; then exec /bin/bash; fi; exec /bin/sh',
];

/** What getInfo reports for a container, given the power state berth last asked for. */
export function containerPowerState(
  info: Pick<ContainerInfo, 'state' | 'exit'>,
  intent: PowerIntent,
): PowerState {
  switch (info.state) {
    case 'running':
      return PowerState.RUNNING;
    // Both are a frozen cgroup; only the intent tells them apart.
    case 'paused':
      return intent === 'suspended' ? PowerState.SUSPENDED : PowerState.PAUSED;
    case 'created':
      return PowerState.NOSTATE;
    case 'exited':
      return intent === 'stopped' ? PowerState.SHUTDOWN : unrequestedEndState(info.exit!);
  }
}

export class ContainerDriver implements ComputeDriver {
  readonly capabilities: DriverCapabilities = {
    supports_pause: true,
    supports_suspend: true,
    supports_console_output: true,
    supports_diagnostics: true,
    supports_attach_interface: false,
    supports_serial_console: true,
    has_imagecache: true,
  };
  private rt?: ContainerRuntime;
  private readonly network?: Network;
  private host = '';
  private readonly records: InstanceStore;
  private readonly locks = new KeyedLocks();
  /** images prepared by cacheImage or a spawn since this driver started */
  private readonly preparedImages = new Set<string>();
  /** by image id: what workloadOf worked out */
  private readonly workloads = new Map<
    string,
    Pick<PreparedImage, 'layers' | 'config'> & { user: ImageUser | undefined; record: ImageRecord }
  >();
  private readonly log: Logger;
  private readonly listeners: LifecycleListeners;
  private readonly openRuntime: () => Promise<ContainerRuntime>;

  constructor(private readonly opts: ContainerDriverOptions) {
    this.network = opts.network;
    this.capabilities.supports_attach_interface = opts.network !== undefined;
    this.log = opts.logger ?? defaultLog;
    this.listeners = new LifecycleListeners(this.log);
    this.records = new InstanceStore(path.join(opts.statePath, 'instances'));
    this.openRuntime =
      opts.openRuntime ??
      (() =>
        ContainerRuntime.open({
          stateDir: opts.statePath,
          cgroupParent: opts.compute.cgroup_parent,
          logger: this.log,
        }));
  }

  /** Re-adopts the containers of the state directory and forgets records whose container is gone. */
  async initHost(host: string): Promise<void> {
    await this.records.load();
    const rt = await this.openRuntime();
    rt.onExit((uuid, exit) => this.onWorkloadExit(uuid, exit));
    this.rt = rt;
    this.host = host;
    for (const record of this.records.all()) {
      if (rt.has(record.uuid)) continue;
      forInstance(this.log, record.uuid).warn(
        'instance container is gone; forgetting the instance',
      );
      await this.records.remove(record.uuid);
    }
    await this.restoreNetwork();
    // The instances' mount namespaces kept their volumes; the claims are this process's to remake.
    for (const r of this.records.all())
      for (const id of heldVolumes(r)) this.opts.volumes?.claim(id, r.uuid);
    // What a snapshot interrupted by a restart had staged.
    fs.rmSync(this.snapshotsDir, { recursive: true, force: true });
    rt.prepareRootDisks(this.opts.compute.root_disk_templates_gb.map((gb) => gb * 2 ** 30));
    this.log.info('container driver ready', { host, instances: this.records.all().length });
  }

  /**
   * The namespaces outlive berth (their pins are in the state directory):
   * what the host lost meanwhile is rebuilt for the instances it keeps,
   * and what belongs to instances that are gone is removed.
   */
  private async restoreNetwork(): Promise<void> {
    if (!this.network) return;
    const instances = this.records
      .all()
      .filter((r) => r.network)
      .map((r) => ({ uuid: r.uuid, hostname: r.network!.hostname, vifs: r.network!.vifs }));
    await this.network.restore(instances);
  }

  /** Where snapshots stage their copy and layer tar: `<state_path>/snapshots/<image id>`. */
  private get snapshotsDir(): string {
    return path.join(this.opts.statePath, 'snapshots');
  }

  async cleanupHost(): Promise<void> {
    const rt = this.rt;
    this.rt = undefined;
    await rt?.close();
  }

  /** Idempotent: a container that exists is started if need be, never made twice. */
  spawn(
    instance: InstanceSpec,
    image: ImageMeta,
    volumes: VolumeConnection[] = [],
    rootVolume?: string,
    writableFrom?: string,
  ): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const rt = this.runtime();
      const log = forInstance(this.log, instance.uuid);
      if (!rt.has(instance.uuid))
        return this.create(instance, image, instance.networkInfo ?? [], log, volumes, {
          rootVolume,
          writableFrom,
        });
      const { state } = rt.info(instance.uuid);
      if (state === 'running' || state === 'paused') {
        log.info('spawn: instance already exists and runs');
        return;
      }
      if (!this.records.get(instance.uuid)) await this.records.save(newRecord(instance, image));
      await this.startWorkload(instance.uuid);
      log.info('spawn: existing instance started');
    });
  }

  /**
   * Kills and removes the instance; absent instances are fine. No grace
   * period, as Nova's libvirt destroy is a hard power-off: a delete must not
   * wait on a PID 1 that ignores SIGTERM (the kernel's default for an init).
   */
  destroy(instance: InstanceSpec): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const rt = this.runtime();
      if (rt.has(instance.uuid)) {
        await this.stopWorkload(instance.uuid, 0);
        await rt.delete(instance.uuid);
      }
      await this.network?.unplug(instance.uuid);
      // The volumes' mounts went with the container's mount namespace.
      const record = this.records.get(instance.uuid);
      await this.records.remove(instance.uuid);
      for (const id of record ? heldVolumes(record) : [])
        this.opts.volumes?.release(id, instance.uuid);
      forInstance(this.log, instance.uuid).info('instance destroyed');
    });
  }

  /** SOFT: SIGTERM and the grace period, then SIGKILL; HARD: SIGKILL. The writable layer stays. */
  reboot(instance: InstanceSpec, type: 'SOFT' | 'HARD'): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      this.lookup(instance.uuid);
      await this.stopWorkload(instance.uuid, type === 'SOFT' ? this.graceMs : 0);
      await this.startWorkload(instance.uuid);
      forInstance(this.log, instance.uuid).info('instance rebooted', { type });
    });
  }

  powerOff(instance: InstanceSpec, timeoutSeconds?: number): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      this.lookup(instance.uuid);
      const graceMs = timeoutSeconds === undefined ? this.graceMs : timeoutSeconds * 1000;
      await this.stopWorkload(instance.uuid, graceMs);
      forInstance(this.log, instance.uuid).info('instance powered off');
    });
  }

  powerOn(instance: InstanceSpec): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const state = this.powerState(instance.uuid);
      guardTransition(instance.uuid, 'powerOn', state);
      if (state === PowerState.RUNNING) return;
      await this.startWorkload(instance.uuid);
      forInstance(this.log, instance.uuid).info('instance powered on');
    });
  }

  pause(instance: InstanceSpec): Promise<void> {
    return this.freezerTransition(instance, 'pause', 'paused', (rt) => rt.pause(instance.uuid));
  }

  unpause(instance: InstanceSpec): Promise<void> {
    return this.freezerTransition(instance, 'unpause', 'running', (rt) =>
      rt.unpause(instance.uuid),
    );
  }

  /**
   * Design §5: suspend = freeze + release what can be released. Nothing can
   * be yet: cgroup v1 refuses memory.force_empty while the cgroup has
   * tasks, and proactive reclaim (v2 memory.reclaim) is not wired. So a
   * suspended instance holds its memory as a paused one does; it differs in
   * what it reports and in needing resume rather than unpause.
   */
  suspend(instance: InstanceSpec): Promise<void> {
    return this.freezerTransition(instance, 'suspend', 'suspended', (rt) =>
      rt.pause(instance.uuid),
    );
  }

  resume(instance: InstanceSpec): Promise<void> {
    return this.freezerTransition(instance, 'resume', 'running', (rt) => rt.unpause(instance.uuid));
  }

  async getInfo(instance: InstanceSpec): Promise<InstanceInfo> {
    const { record, info } = this.lookup(instance.uuid);
    return {
      state: containerPowerState(info, record.intent),
      internalId: info.pid === undefined ? undefined : String(info.pid),
    };
  }

  async listInstanceUuids(): Promise<string[]> {
    return this.instances().map((r) => r.uuid);
  }

  async instanceExists(uuid: string): Promise<boolean> {
    return this.records.get(uuid) !== undefined && this.runtime().has(uuid);
  }

  async getConsoleOutput(instance: InstanceSpec, tailLength?: number): Promise<string> {
    this.lookup(instance.uuid);
    const text = await this.runtime().consoleOutput(instance.uuid, MAX_CONSOLE_BYTES);
    return tailLines(text, tailLength);
  }

  async openConsoleShell(instance: InstanceSpec): Promise<ConsoleShell> {
    const { info } = this.lookup(instance.uuid);
    if (info.state !== 'running')
      throw new ConflictError(`instance ${instance.uuid} is ${info.state}, not running`);
    const env = info.config.env ?? [];
    // Decided inside the container, so that its rootfs (whiteouts and all) answers.
    return this.runtime().execInteractive(instance.uuid, CONSOLE_SHELL, {
      env: env.some((e) => e.startsWith('TERM=')) ? env : [...env, 'TERM=xterm'],
    });
  }

  async getDiagnostics(instance: InstanceSpec): Promise<Diagnostics> {
    const { record, info } = this.lookup(instance.uuid);
    const stats = this.runtime().stats(instance.uuid);
    const up = info.state === 'running' || info.state === 'paused';
    return {
      state: powerStateName(containerPowerState(info, record.intent)),
      driver: 'berth',
      uptimeSeconds:
        up && record.startedAt ? Math.floor((Date.now() - record.startedAt) / 1000) : undefined,
      cpuNanos: stats.cpuNanos,
      memoryBytes: stats.memoryBytes,
      memoryLimitBytes: stats.memoryLimitBytes,
      pids: stats.pids,
      // Instances have no network or volumes of their own yet.
      nics: [],
      disks: [],
      oomKilled: info.exit?.oomKilled ?? false,
    };
  }

  async getAvailableResource(): Promise<AvailableResource> {
    const rt = this.runtime();
    const instances = this.instances();
    return availableResource({
      hostname: this.host,
      // libvirt's name for Linux containers: a valid Nova HVType, which 'berth' would not be.
      hypervisorType: 'lxc',
      hypervisorVersion: kernelVersion(),
      totals: hostTotals(this.opts.statePath),
      instances,
      runningVms: instances.filter((r) => ['running', 'paused'].includes(rt.info(r.uuid).state))
        .length,
    });
  }

  async cacheImage(imageId: string): Promise<boolean> {
    await this.opts.images.prepare(imageId);
    // "existing" as far as this process knows: prepared before, or booted from.
    if (this.preparedImages.has(imageId)) return false;
    this.preparedImages.add(imageId);
    return true;
  }

  async getHostUptime(): Promise<string> {
    return uptimeText();
  }

  onLifecycleEvent(listener: (event: LifecycleEvent) => void): void {
    this.listeners.add(listener);
  }

  attachInterface(instance: InstanceSpec, vif: Vif): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const { record } = this.lookup(instance.uuid);
      // An instance spawned without ports has a namespace of its own, not one the data plane holds.
      if (!this.network || !record.network) throw new AttachInterfaceNotSupported(instance.uuid);
      const hostname = record.network.hostname;
      await this.network.attach(instance.uuid, vif);
      const vifs = [...record.network.vifs.filter((v) => v.id !== vif.id), vif];
      await this.records.save({ ...this.records.get(instance.uuid)!, network: { hostname, vifs } });
      forInstance(this.log, instance.uuid).info('interface attached', { port_id: vif.id });
    });
  }

  detachInterface(instance: InstanceSpec, vif: Vif): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      if (!this.network) throw new AttachInterfaceNotSupported(instance.uuid);
      const record = this.records.get(instance.uuid);
      if (!record?.network) return;
      await this.network.detach(instance.uuid, vif.id);
      const vifs = record.network.vifs.filter((v) => v.id !== vif.id);
      await this.records.save({ ...record, network: { ...record.network, vifs } });
      forInstance(this.log, instance.uuid).info('interface detached', { port_id: vif.id });
    });
  }

  attachVolume(instance: InstanceSpec, connection: VolumeConnection): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const { record, info } = this.lookup(instance.uuid);
      const volumes = this.requireVolumes();
      const holders = volumes.holders(connection.volumeId);
      const list = withAttachment(record.volumes ?? [], connection, holders, instance.uuid);
      if (!list) return;
      const mount = this.volumeMount(list[list.length - 1]);
      if (info.state === 'running' || info.state === 'paused')
        await this.runtime().mountInto(instance.uuid, mount);
      volumes.claim(connection.volumeId, instance.uuid);
      await this.records.save({ ...this.records.get(instance.uuid)!, volumes: list });
      forInstance(this.log, instance.uuid).info('volume attached', {
        volume_id: connection.volumeId,
        mount_point: mount.target,
        live: info.state !== 'exited' && info.state !== 'created',
      });
    });
  }

  detachVolume(instance: InstanceSpec, volumeId: string): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const record = this.records.get(instance.uuid);
      const attached = record?.volumes?.find((v) => v.volumeId === volumeId);
      if (!record || !attached) return;
      const rt = this.runtime();
      const state = rt.has(instance.uuid) ? rt.info(instance.uuid).state : 'exited';
      if (state === 'running' || state === 'paused')
        await rt.umountFrom(instance.uuid, attached.mountPoint).catch(ignoreNotMounted);
      const volumes = record.volumes!.filter((v) => v.volumeId !== volumeId);
      await this.records.save({ ...record, volumes });
      this.opts.volumes?.release(volumeId, instance.uuid);
      forInstance(this.log, instance.uuid).info('volume detached', { volume_id: volumeId });
    });
  }

  async volumeAttachments(instance: InstanceSpec): Promise<VolumeConnection[]> {
    return [...(this.lookup(instance.uuid).record.volumes ?? [])];
  }

  /**
   * Copies the writable layer with a brief freeze (snapshot-capture.ts),
   * packs it as an OCI layer and uploads it as the image's data, with the
   * base image's layers and workload config on the record.
   */
  snapshot(
    instance: InstanceSpec,
    imageId: string,
    updateTaskState: UpdateTaskState,
  ): Promise<SnapshotResult> {
    return this.locks.run(instance.uuid, async () => {
      const { record, info } = this.lookup(instance.uuid);
      const rt = this.runtime();
      const log = forInstance(this.log, instance.uuid);
      const work = path.join(this.snapshotsDir, imageId);
      const phases = phaseTimer();
      try {
        const { frozenMs } = await copyWritableLayer({
          upper: rt.writableLayer(instance.uuid),
          staging: path.join(work, 'layer'),
          // A paused, suspended or stopped workload writes nothing: no freeze is needed.
          freezer: info.state === 'running' ? this.freezer(instance.uuid) : undefined,
          log,
        });
        phases.end('capture');
        await updateTaskState(TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_SNAPSHOT);
        const tarFile = path.join(work, 'layer.tar');
        const layer = await packLayer(path.join(work, 'layer'), tarFile);
        phases.end('pack');
        await updateTaskState(TaskState.IMAGE_UPLOADING, TaskState.IMAGE_PENDING_UPLOAD);
        await publishSnapshot(this.opts.images, {
          imageId,
          baseId: record.imageId,
          layer,
          tarFile,
        });
        phases.end('upload');
        log.info('snapshot done', {
          image_id: imageId,
          frozen_ms: Math.round(frozenMs * 10) / 10,
          bytes: layer.size,
          phase_ms: phases.ms,
        });
        return { frozenMs, size: layer.size };
      } finally {
        await fs.promises.rm(work, { recursive: true, force: true });
      }
    });
  }

  /**
   * A new container on the new image's layers with the same uuid, hostname
   * and network namespace: the ports are never unplugged. The image is
   * resolved before anything stops, so a bad image leaves the instance as
   * it was; an instance with no container (a failed build) is built.
   */
  rebuild(instance: InstanceSpec, image: ImageMeta, networkInfo: Vif[]): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const rt = this.runtime();
      const log = forInstance(this.log, instance.uuid);
      const record = this.records.get(instance.uuid);
      if (!record || !rt.has(instance.uuid)) return this.create(instance, image, networkInfo, log);
      const workload = await this.workloadOf(image);
      const plugged =
        record.network && this.network
          ? await this.network.plug({ uuid: instance.uuid, ...record.network })
          : undefined;
      await this.stopWorkload(instance.uuid, this.graceMs);
      await rt.delete(instance.uuid);
      // On a root volume the writable layer stays: Nova rebuilds a volume-backed server in place.
      const config = instanceContainerConfig(
        instance,
        workload.image,
        workload.layers,
        this.opts.compute,
        { netnsPath: plugged?.netnsPath, writableDir: this.rootLayerDir(record.rootVolume) },
      );
      await this.records.save({
        ...newRecord(instance, image),
        network: record.network,
        volumes: record.volumes,
        rootVolume: record.rootVolume,
      });
      await rt.create(config);
      if (plugged) rt.seedFiles(instance.uuid, etcFiles(plugged.files));
      await this.startWorkload(instance.uuid);
      log.info('instance rebuilt', { image: image.id });
    });
  }

  /**
   * The workload stops, its container takes the new limits and a grown
   * root disk (the writable layer stays), and it starts again if it ran,
   * under its old limits when the change failed.
   */
  resize(instance: InstanceSpec, flavor: FlavorSize): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const { record, info } = this.lookup(instance.uuid);
      const running = info.state === 'running' || info.state === 'paused';
      const rootGb = Math.max(record.rootGb, flavor.rootGb);
      const change = {
        limits: flavorLimits(flavor),
        rootDiskBytes: rootGb > 0 ? rootGb * 2 ** 30 : undefined,
      };
      await this.stopWorkload(instance.uuid, this.graceMs);
      try {
        await this.runtime().reconfigure(instance.uuid, change);
      } catch (err) {
        if (running) await this.startWorkload(instance.uuid);
        throw err;
      }
      await this.records.save({ ...this.records.get(instance.uuid)!, ...flavor, rootGb });
      if (running) await this.startWorkload(instance.uuid);
      forInstance(this.log, instance.uuid).info('instance resized', { ...flavor, rootGb });
    });
  }

  private freezer(uuid: string): Freezer {
    const rt = this.runtime();
    return { freeze: () => rt.pause(uuid), thaw: () => rt.unpause(uuid) };
  }

  /** What an image boots: its layers, and its command, env and user; refused before anything is made. */
  /**
   * What an image boots as: its layers, config, user and properties. An
   * image's content never changes under its id, so this is worked out once
   * per image in this process, except that its layers are looked for at
   * each use (the cache may have pruned them: then it is prepared again).
   */
  private async workloadOf(image: ImageMeta) {
    let known = this.workloads.get(image.id);
    if (!known || !known.layers.every((layer) => fs.existsSync(layer))) {
      const [record, prepared] = await Promise.all([
        this.opts.images.show(image.id),
        this.opts.images.prepare(image.id),
      ]);
      const user = await imageUser(prepared.config.user, prepared.layers);
      known = { layers: prepared.layers, config: prepared.config, user, record };
      this.workloads.set(image.id, known);
      this.preparedImages.add(image.id);
    }
    // Properties handed to spawn win: Nova passes the image meta it booted the instance with.
    const properties = { ...known.record.properties, ...image.properties };
    return { layers: known.layers, image: { config: known.config, properties, user: known.user } };
  }

  private requireVolumes(): VolumeService {
    if (!this.opts.volumes) throw new UnavailableError('this compute has no volume service');
    return this.opts.volumes;
  }

  /** Where the volume is mounted on the host (VolumeNotFound when it is not here), bound at its mount point. */
  private volumeMount(v: VolumeConnection): VolumeMount {
    return {
      source: this.requireVolumes().mountPath(v.volumeId),
      target: v.mountPoint,
      readOnly: v.readOnly,
    };
  }

  /**
   * Where a root volume keeps the instance's writable layer: a directory of
   * its own on the volume's file system (VolumeNotFound when the volume is
   * not on this host), so that the file system's root stays the volume's.
   */
  private rootLayerDir(rootVolume: string | undefined): string | undefined {
    return rootVolume && path.join(this.requireVolumes().mountPath(rootVolume), 'root');
  }

  private requireNetwork(): Network {
    if (!this.network)
      throw new UnavailableError(
        'this compute has no data plane (the addon lacks the network primitives)',
      );
    return this.network;
  }

  private async create(
    instance: InstanceSpec,
    image: ImageMeta,
    networkInfo: NetworkInfo,
    log: Logger,
    connections: VolumeConnection[] = [],
    { rootVolume, writableFrom }: { rootVolume?: string; writableFrom?: string } = {},
  ): Promise<void> {
    const rt = this.runtime();
    const volumes = connections.length || rootVolume ? this.requireVolumes() : undefined;
    const attachments = volumes
      ? attachmentsOf(connections, (id) => volumes.holders(id), instance.uuid)
      : [];
    attachments.forEach((v) => this.volumeMount(v));
    if (rootVolume) checkRootVolume(rootVolume, volumes!.holders(rootVolume), instance.uuid);
    const writableDir = this.rootLayerDir(rootVolume);
    const workload = await this.workloadOf(image);
    const network = networkInfo.length ? this.requireNetwork() : undefined;
    const hostname = instanceHostname(instance);
    const undo = new UndoStack(log);
    try {
      const plugged = network
        ? await network.plug({ uuid: instance.uuid, hostname, vifs: networkInfo })
        : undefined;
      if (network) undo.push('unplug the ports', () => network.unplug(instance.uuid));
      const config = instanceContainerConfig(
        instance,
        workload.image,
        workload.layers,
        this.opts.compute,
        { netnsPath: plugged?.netnsPath, writableDir },
      );
      // Recorded as running from the start: one durable write for the whole build.
      const record: InstanceRecord = {
        ...newRecord(instance, image),
        intent: 'running',
        startedAt: Date.now(),
        network: network ? { hostname, vifs: networkInfo } : undefined,
        volumes: attachments.length ? attachments : undefined,
        rootVolume,
      };
      for (const id of heldVolumes(record)) {
        volumes!.claim(id, instance.uuid);
        undo.push('release the volume', () => volumes!.release(id, instance.uuid));
      }
      // Side by side: the record's fsync waits in the thread pool while the
      // container's directory and disk are made here.
      const [saved, created] = await Promise.allSettled([
        this.records.save(record),
        rt.create(config),
      ]);
      if (saved.status === 'fulfilled')
        undo.push('forget the instance', () => this.records.remove(instance.uuid));
      if (created.status === 'fulfilled')
        undo.push('delete the container', () => rt.delete(instance.uuid));
      for (const r of [saved, created]) if (r.status === 'rejected') throw r.reason;
      // The shelved snapshot's own layer is what the instance had written: it becomes the
      // writable layer again, over the base image, so that the shelved image can go.
      if (writableFrom)
        await rsync(
          (await this.opts.images.prepare(writableFrom)).layers[0],
          rt.writableLayer(instance.uuid),
          false,
        );
      if (plugged) rt.seedFiles(instance.uuid, etcFiles(plugged.files));
      await rt.start(
        instance.uuid,
        attachments.map((v) => this.volumeMount(v)),
      );
    } catch (err) {
      log.error('spawn failed; undoing it', { err });
      await undo.rollback();
      throw err;
    }
    log.info('instance spawned', {
      image: image.id,
      root_volume: rootVolume,
      hostname,
      ports: networkInfo.length,
      volumes: attachments.length,
    });
  }

  /** The recorded volumes are mounted before the workload starts. */
  private startWorkload(uuid: string): Promise<void> {
    const mounts = (this.records.get(uuid)?.volumes ?? []).map((v) => this.volumeMount(v));
    return this.withIntent(uuid, 'running', () => this.runtime().start(uuid, mounts), {
      startedAt: Date.now(),
    });
  }

  /** Stops the workload if it runs; the exit it causes is known to be requested. */
  private async stopWorkload(uuid: string, graceMs: number): Promise<void> {
    const rt = this.runtime();
    const stop = async () => {
      const { state } = rt.info(uuid);
      if (state !== 'running' && state !== 'paused') return;
      // A frozen workload cannot act on SIGTERM: thaw it so that it can shut down cleanly.
      if (state === 'paused' && graceMs > 0) await rt.unpause(uuid);
      await rt.stop(uuid, graceMs);
    };
    if (this.records.get(uuid)) await this.withIntent(uuid, 'stopped', stop);
    else await stop();
  }

  private freezerTransition(
    instance: InstanceSpec,
    operation: GuardedOperation,
    intent: PowerIntent,
    act: (rt: ContainerRuntime) => Promise<void>,
  ): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      guardTransition(instance.uuid, operation, this.powerState(instance.uuid));
      await this.withIntent(instance.uuid, intent, () => act(this.runtime()));
      forInstance(this.log, instance.uuid).info(`instance ${operation} done`);
    });
  }

  /**
   * Records the intent before acting, so that the exit listener knows an
   * exit the act causes was asked for; puts the old record back if the act
   * fails.
   */
  private async withIntent(
    uuid: string,
    intent: PowerIntent,
    act: () => Promise<unknown>,
    changes: Partial<InstanceRecord> = {},
  ): Promise<void> {
    const before = this.records.get(uuid)!;
    await this.records.save({ ...before, ...changes, intent });
    try {
      await act();
    } catch (err) {
      await this.records
        .save(before)
        .catch((saveErr: unknown) =>
          forInstance(this.log, uuid).error('cannot restore the instance record', { err: saveErr }),
        );
      throw err;
    }
  }

  private onWorkloadExit(uuid: string, exit: WorkloadExit): void {
    const record = this.records.get(uuid);
    if (!record || record.intent === 'stopped') return;
    const event: LifecycleEvent = {
      uuid,
      state: unrequestedEndState(exit),
      reason: describeExit(exit),
    };
    forInstance(this.log, uuid).warn('instance workload ended on its own', {
      power_state: powerStateName(event.state),
      reason: event.reason,
    });
    this.listeners.emit(event);
  }

  private instances(): InstanceRecord[] {
    const rt = this.runtime();
    return this.records.all().filter((r) => rt.has(r.uuid));
  }

  private powerState(uuid: string): PowerState {
    const { record, info } = this.lookup(uuid);
    return containerPowerState(info, record.intent);
  }

  /** The instance's record and container; NotFoundError unless the driver has both. */
  private lookup(uuid: string): { record: InstanceRecord; info: ContainerInfo } {
    const rt = this.runtime();
    const record = this.records.get(uuid);
    if (!record || !rt.has(uuid))
      throw new NotFoundError(`instance ${uuid} not found on this host`);
    return { record, info: rt.info(uuid) };
  }

  private runtime(): ContainerRuntime {
    if (!this.rt) throw new UnavailableError('container driver not initialised: call initHost');
    return this.rt;
  }

  private get graceMs(): number {
    return this.opts.compute.stop_timeout * 1000;
  }
}

/** A detach finds nothing mounted there (an earlier detach, a restarted workload): done. */
function ignoreNotMounted(err: unknown): void {
  const code = (err as BerthError).fault?.code;
  if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
}

function etcFiles(files: InstanceNetworkFiles): Record<string, string> {
  return {
    '/etc/hostname': files.hostname,
    '/etc/hosts': files.hosts,
    '/etc/resolv.conf': files.resolvConf,
  };
}

function newRecord(instance: InstanceSpec, image: ImageMeta): InstanceRecord {
  return {
    uuid: instance.uuid,
    name: instance.name,
    imageId: image.id,
    vcpus: instance.vcpus,
    memoryMb: instance.memoryMb,
    rootGb: instance.rootGb,
    intent: 'stopped',
  };
}

/** Milliseconds of consecutive phases, for the log. */
function phaseTimer() {
  let last = Date.now();
  const ms: Record<string, number> = {};
  return {
    ms,
    end(phase: string) {
      const now = Date.now();
      ms[phase] = now - last;
      last = now;
    },
  };
}
