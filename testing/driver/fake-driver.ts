/**
 * A ComputeDriver that keeps instances in memory (Nova's fake.py), so the
 * compute manager is testable without a kernel. It follows the same
 * power-state rules as the ContainerDriver (the conformance suite holds
 * both to them) and lets a test make a workload end on its own or an
 * operation fail.
 */
import { PassThrough, Readable } from 'node:stream';
import { ConflictError, NotFoundError } from '../../common/errors';
import type { ImageService } from '../../driver/image/image-service';
import { tailLines } from '../../driver/virt/console';
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
} from '../../driver/virt/driver';
import type { VolumeService } from '../../driver/volume/volume-service';
import {
  attachmentsOf,
  checkRootVolume,
  heldVolumes,
  withAttachment,
} from '../../driver/virt/volume-attachments';
import { TaskState } from '../../nova/states';
import { type ImageMeta, type InstanceSpec } from '../../nova/instance-object';
import type { Vif } from '../../nova/network-model';
import { PowerState } from '../../nova/power-state';
import { availableResource, type HostTotals, uptimeText } from '../../driver/virt/host-resources';
import { LifecycleListeners } from '../../driver/virt/lifecycle-listeners';
import {
  describeExit,
  type GuardedOperation,
  guardTransition,
  unrequestedEndState,
  type WorkloadExit,
} from '../../driver/virt/power-state';
import { powerStateName } from '../../nova/power-state';

interface FakeInstance {
  spec: InstanceSpec;
  state: PowerState;
  /** the ports plugged into the instance, in order (eth0, eth1, ...) */
  vifs: Vif[];
  volumes: VolumeConnection[];
  rootVolume?: string;
  console: string[];
  /** what the fake's root filesystem holds: the image it was built or rebuilt from */
  imageId: string;
  /** the image whose top layer its writable layer started as (unshelve) */
  writableFrom?: string;
  startedAt?: number;
  exit?: WorkloadExit;
}

/** Operations a test can make fail once with `failNext`. */
export type FakeOperation = Exclude<keyof ComputeDriver, 'capabilities' | 'onLifecycleEvent'>;

const WORKLOAD = new Set<PowerState>([PowerState.RUNNING, PowerState.PAUSED, PowerState.SUSPENDED]);

export class FakeDriver implements ComputeDriver {
  readonly capabilities: DriverCapabilities = {
    supports_pause: true,
    supports_suspend: true,
    supports_console_output: true,
    supports_diagnostics: true,
    supports_attach_interface: true,
    supports_serial_console: true,
    has_imagecache: true,
  };
  private readonly instances = new Map<string, FakeInstance>();
  private readonly cachedImages = new Set<string>();
  private readonly failures = new Map<FakeOperation, Error>();
  private readonly listeners = new LifecycleListeners();
  private host = '';

  /**
   * `images`: where snapshots upload their data (the compute's image
   * service); none: not uploaded. `volumes`: the volumes instances may
   * attach (claimed and released as the real driver does); none: any id.
   */
  constructor(
    private readonly totals: HostTotals = { vcpus: 16, memoryMb: 32768, localGb: 1024 },
    private readonly images?: ImageService,
    private readonly volumes?: VolumeService,
  ) {}

  /** Makes the next call of `operation` reject with `error` and change nothing. */
  failNext(operation: FakeOperation, error: Error): void {
    this.failures.set(operation, error);
  }

  /** The workload ends without the driver asking: it exits, or a signal or the OOM killer ends it. */
  endWorkload(uuid: string, exit: WorkloadExit): void {
    const instance = this.get(uuid);
    instance.state = unrequestedEndState(exit);
    instance.exit = exit;
    this.listeners.emit({ uuid, state: instance.state, reason: describeExit(exit) });
  }

  async initHost(host: string): Promise<void> {
    this.failIfAsked('initHost');
    this.host = host;
  }

  async cleanupHost(): Promise<void> {
    this.failIfAsked('cleanupHost');
  }

  async spawn(
    instance: InstanceSpec,
    image: ImageMeta,
    volumes: VolumeConnection[] = [],
    rootVolume?: string,
    writableFrom?: string,
  ): Promise<void> {
    this.failIfAsked('spawn');
    const existing = this.instances.get(instance.uuid);
    if (existing && WORKLOAD.has(existing.state)) return;
    if (!existing && rootVolume) {
      checkRootVolume(rootVolume, this.holders(rootVolume), instance.uuid);
      this.volumes?.mountPath(rootVolume);
    }
    const attachments = existing
      ? existing.volumes
      : attachmentsOf(volumes, (id) => this.holders(id), instance.uuid);
    attachments.forEach((v) => this.volumes?.mountPath(v.volumeId));
    const fake = existing ?? {
      spec: { ...instance },
      state: PowerState.NOSTATE,
      console: [],
      imageId: image.id,
      writableFrom,
      vifs: [...instance.networkInfo],
      volumes: attachments,
      rootVolume,
    };
    for (const id of heldVolumes(fake)) this.volumes?.claim(id, instance.uuid);
    this.instances.set(instance.uuid, fake);
    this.boot(fake);
  }

  async destroy(instance: InstanceSpec): Promise<void> {
    this.failIfAsked('destroy');
    const fake = this.instances.get(instance.uuid);
    for (const id of fake ? heldVolumes(fake) : []) this.volumes?.release(id, instance.uuid);
    this.instances.delete(instance.uuid);
  }

  async attachVolume(instance: InstanceSpec, connection: VolumeConnection): Promise<void> {
    this.failIfAsked('attachVolume');
    const fake = this.get(instance.uuid);
    const holders = this.holders(connection.volumeId);
    const list = withAttachment(fake.volumes, connection, holders, instance.uuid);
    if (!list) return;
    this.volumes?.mountPath(connection.volumeId);
    this.volumes?.claim(connection.volumeId, instance.uuid);
    fake.volumes = list;
  }

  async detachVolume(instance: InstanceSpec, volumeId: string): Promise<void> {
    this.failIfAsked('detachVolume');
    const fake = this.instances.get(instance.uuid);
    if (!fake?.volumes.some((v) => v.volumeId === volumeId)) return;
    fake.volumes = fake.volumes.filter((v) => v.volumeId !== volumeId);
    this.volumes?.release(volumeId, instance.uuid);
  }

  async volumeAttachments(instance: InstanceSpec): Promise<VolumeConnection[]> {
    return [...this.get(instance.uuid).volumes];
  }

  /** Without a volume service, the fake's own instances are the holders. */
  private holders(volumeId: string): string[] {
    if (this.volumes) return this.volumes.holders(volumeId);
    return [...this.instances.values()]
      .filter((i) => i.volumes.some((v) => v.volumeId === volumeId))
      .map((i) => i.spec.uuid);
  }

  async attachInterface(instance: InstanceSpec, vif: Vif): Promise<void> {
    this.failIfAsked('attachInterface');
    const fake = this.get(instance.uuid);
    if (!fake.vifs.some((v) => v.id === vif.id)) fake.vifs.push(vif);
  }

  async detachInterface(instance: InstanceSpec, vif: Vif): Promise<void> {
    this.failIfAsked('detachInterface');
    const fake = this.instances.get(instance.uuid);
    if (fake) fake.vifs = fake.vifs.filter((v) => v.id !== vif.id);
  }

  /**
   * Data a snapshot uploads: one tar header naming the instance and its
   * image, enough for the fake image service to take it as an image.
   */
  async snapshot(
    instance: InstanceSpec,
    imageId: string,
    updateTaskState: UpdateTaskState,
  ): Promise<SnapshotResult> {
    this.failIfAsked('snapshot');
    const fake = this.get(instance.uuid);
    await updateTaskState(TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_SNAPSHOT);
    const data = snapshotData(`snapshot-of-${instance.uuid}-from-${fake.imageId}`);
    await updateTaskState(TaskState.IMAGE_UPLOADING, TaskState.IMAGE_PENDING_UPLOAD);
    if (this.images) await this.images.upload(imageId, Readable.from([data]));
    return { frozenMs: 0, size: data.length };
  }

  async rebuild(instance: InstanceSpec, image: ImageMeta, networkInfo: Vif[]): Promise<void> {
    this.failIfAsked('rebuild');
    // An instance whose build failed has nothing here yet: a rebuild makes it.
    const fake: FakeInstance = this.instances.get(instance.uuid) ?? {
      spec: instance,
      state: PowerState.NOSTATE,
      console: [],
      imageId: image.id,
      vifs: [],
      volumes: [],
    };
    Object.assign(fake, { spec: { ...instance }, imageId: image.id, vifs: [...networkInfo] });
    this.instances.set(instance.uuid, fake);
    this.boot(fake);
  }

  async resize(instance: InstanceSpec, flavor: FlavorSize): Promise<void> {
    this.failIfAsked('resize');
    const fake = this.get(instance.uuid);
    const rootGb = Math.max(fake.spec.rootGb, flavor.rootGb);
    fake.spec = { ...fake.spec, ...flavor, rootGb };
    if (fake.state === PowerState.RUNNING) this.boot(fake);
  }

  /** The sizes an instance runs with now (they change with resize). */
  sizeOf(uuid: string): FlavorSize {
    const { vcpus, memoryMb, rootGb } = this.get(uuid).spec;
    return { vcpus, memoryMb, rootGb };
  }

  /** The image whose files the instance has now (it changes with rebuild). */
  imageOf(uuid: string): string {
    return this.get(uuid).imageId;
  }

  /** The image whose top layer the instance's writable layer started as, if any. */
  writableLayerOf(uuid: string): string | undefined {
    return this.get(uuid).writableFrom;
  }

  /** The ports plugged into an instance, as a real driver's namespace would show them. */
  pluggedVifs(uuid: string): Vif[] {
    return [...this.get(uuid).vifs];
  }

  async reboot(instance: InstanceSpec, _type: 'SOFT' | 'HARD'): Promise<void> {
    this.failIfAsked('reboot');
    this.boot(this.get(instance.uuid));
  }

  async powerOff(instance: InstanceSpec, _timeoutSeconds?: number): Promise<void> {
    this.failIfAsked('powerOff');
    const fake = this.get(instance.uuid);
    fake.state = PowerState.SHUTDOWN;
    fake.exit = undefined;
  }

  async powerOn(instance: InstanceSpec): Promise<void> {
    this.failIfAsked('powerOn');
    const fake = this.get(instance.uuid);
    guardTransition(instance.uuid, 'powerOn', fake.state);
    if (fake.state !== PowerState.RUNNING) this.boot(fake);
  }

  async pause(instance: InstanceSpec): Promise<void> {
    this.transition('pause', instance, PowerState.PAUSED);
  }

  async unpause(instance: InstanceSpec): Promise<void> {
    this.transition('unpause', instance, PowerState.RUNNING);
  }

  async suspend(instance: InstanceSpec): Promise<void> {
    this.transition('suspend', instance, PowerState.SUSPENDED);
  }

  async resume(instance: InstanceSpec): Promise<void> {
    this.transition('resume', instance, PowerState.RUNNING);
  }

  async getInfo(instance: InstanceSpec): Promise<InstanceInfo> {
    this.failIfAsked('getInfo');
    return { state: this.get(instance.uuid).state };
  }

  async listInstanceUuids(): Promise<string[]> {
    this.failIfAsked('listInstanceUuids');
    return [...this.instances.keys()];
  }

  async instanceExists(uuid: string): Promise<boolean> {
    this.failIfAsked('instanceExists');
    return this.instances.has(uuid);
  }

  async getConsoleOutput(instance: InstanceSpec, tailLength?: number): Promise<string> {
    this.failIfAsked('getConsoleOutput');
    return tailLines(this.get(instance.uuid).console.join(''), tailLength);
  }

  /** A terminal that echoes: what goes in comes out, until hung up. */
  async openConsoleShell(instance: InstanceSpec): Promise<ConsoleShell> {
    this.failIfAsked('openConsoleShell');
    if (this.get(instance.uuid).state !== PowerState.RUNNING)
      throw new ConflictError(`instance ${instance.uuid} is not running`);
    const terminal = new PassThrough();
    let hungUp: () => void = () => undefined;
    const exited = new Promise<number>((resolve) => (hungUp = () => resolve(129)));
    terminal.on('finish', () => hungUp());
    return {
      pid: -1,
      input: terminal,
      output: terminal,
      resize: (rows, cols) => terminal.write(`${rows} ${cols}\n`),
      hangup: () => terminal.end(),
      exited,
    };
  }

  async getDiagnostics(instance: InstanceSpec): Promise<Diagnostics> {
    this.failIfAsked('getDiagnostics');
    const fake = this.get(instance.uuid);
    const up = WORKLOAD.has(fake.state);
    return {
      state: powerStateName(fake.state),
      driver: 'fake',
      uptimeSeconds: up ? Math.floor((Date.now() - fake.startedAt!) / 1000) : undefined,
      cpuNanos: 0,
      memoryBytes: up ? 1 << 20 : 0,
      memoryLimitBytes: fake.spec.memoryMb * 2 ** 20,
      pids: up ? 1 : 0,
      nics: fake.vifs.map(() => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 })),
      disks: [],
      oomKilled: fake.exit?.oomKilled ?? false,
    };
  }

  async getAvailableResource(): Promise<AvailableResource> {
    this.failIfAsked('getAvailableResource');
    const all = [...this.instances.values()];
    return availableResource({
      hostname: this.host,
      hypervisorType: 'fake',
      hypervisorVersion: 1000,
      totals: this.totals,
      instances: all.map((i) => i.spec),
      runningVms: all.filter((i) => WORKLOAD.has(i.state)).length,
    });
  }

  async cacheImage(imageId: string): Promise<boolean> {
    this.failIfAsked('cacheImage');
    if (this.cachedImages.has(imageId)) return false;
    this.cachedImages.add(imageId);
    return true;
  }

  async getHostUptime(): Promise<string> {
    this.failIfAsked('getHostUptime');
    return uptimeText();
  }

  onLifecycleEvent(listener: (event: LifecycleEvent) => void): void {
    this.listeners.add(listener);
  }

  private boot(fake: FakeInstance): void {
    fake.state = PowerState.RUNNING;
    fake.startedAt = Date.now();
    fake.exit = undefined;
    fake.console.push(`fake instance ${fake.spec.name} booted\n`);
  }

  private transition(operation: GuardedOperation, instance: InstanceSpec, to: PowerState): void {
    this.failIfAsked(operation);
    const fake = this.get(instance.uuid);
    guardTransition(instance.uuid, operation, fake.state);
    fake.state = to;
  }

  private failIfAsked(operation: FakeOperation): void {
    const error = this.failures.get(operation);
    if (!error) return;
    this.failures.delete(operation);
    throw error;
  }

  private get(uuid: string): FakeInstance {
    const fake = this.instances.get(uuid);
    if (!fake) throw new NotFoundError(`instance ${uuid} not found on this host`);
    return fake;
  }
}

function snapshotData(name: string): Buffer {
  const b = Buffer.alloc(1024);
  b.write(name.slice(0, 99), 0);
  b.write('ustar', 257);
  return b;
}
