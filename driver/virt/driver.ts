/**
 * The ComputeDriver seam: Nova's `nova.virt.driver.ComputeDriver`, with its
 * method names, so the manager never touches containers directly. Every
 * method that creates something must, on failure, leave nothing behind and
 * rethrow the original error (Nova: "any partial instance should be
 * completely cleaned up").
 */
import type { ImageMeta, InstanceSpec } from '../../nova/instance-object';
import type { Vif } from '../../nova/network-model';
import type { PowerState } from '../../nova/power-state';
import type { TaskState } from '../../nova/states';
import type { InteractiveExec } from '../runtime/interactive-exec';

/** A shell on a terminal of its own in a running instance (the serial console). */
export type ConsoleShell = InteractiveExec;

/** What a resize changes: the flavor's sizes, as InstanceSpec names them. */
export type FlavorSize = Pick<InstanceSpec, 'vcpus' | 'memoryMb' | 'rootGb'>;

export interface InstanceInfo {
  state: PowerState;
  /** driver-internal id (the container's pid for the ContainerDriver) */
  internalId?: string;
}

export interface Diagnostics {
  state: string;
  driver: string;
  uptimeSeconds?: number;
  cpuNanos?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  pids?: number;
  nics: { rxBytes?: number; txBytes?: number; rxPackets?: number; txPackets?: number }[];
  disks: { readBytes?: number; writeBytes?: number }[];
  oomKilled?: boolean;
}

export interface AvailableResource {
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  hypervisor_type: string;
  hypervisor_version: number;
  hypervisor_hostname: string;
  running_vms: number;
}

/** Which optional operations a driver supports (Nova's capabilities map). */
export interface DriverCapabilities {
  supports_pause: boolean;
  supports_suspend: boolean;
  supports_console_output: boolean;
  supports_diagnostics: boolean;
  supports_attach_interface: boolean;
  /** openConsoleShell works: the serial console can be handed out */
  supports_serial_console: boolean;
  has_imagecache: boolean;
}

/**
 * Nova's update_task_state callback of snapshot: the driver says when the
 * capture is done (image_pending_upload) and when the upload starts
 * (image_uploading); each is saved with the state it expects to replace.
 */
export type UpdateTaskState = (
  state: typeof TaskState.IMAGE_PENDING_UPLOAD | typeof TaskState.IMAGE_UPLOADING,
  expected: TaskState,
) => Promise<void>;

export interface SnapshotResult {
  /** milliseconds the workload was frozen; 0 when it was not running */
  frozenMs: number;
  /** bytes of image data uploaded */
  size: number;
}

/**
 * A volume as the instance mounts it: what Nova's connection_info of a
 * `berth` volume says (driver_volume_type berth, data.volume_id,
 * mount_point, read_only, multiattach).
 */
export interface VolumeConnection {
  volumeId: string;
  /** absolute, inside the instance */
  mountPoint: string;
  readOnly: boolean;
  /** false: refused while another instance has it */
  multiattach: boolean;
}

/** A power-state change the driver noticed on its own (a workload exited, was OOM-killed). */
export interface LifecycleEvent {
  uuid: string;
  state: PowerState;
  reason?: string;
}

export interface ComputeDriver {
  readonly capabilities: DriverCapabilities;
  /** connect to the backend and re-adopt what exists */
  initHost(host: string): Promise<void>;
  /** release what initHost took (instances keep running) */
  cleanupHost(): Promise<void>;
  /**
   * Creates and starts the instance with one interface per
   * `instance.networkInfo` entry, plugged before the workload starts, and
   * `volumes` (Nova's block_device_info) mounted before it starts too.
   * With `rootVolume` (boot from volume) the instance's writable root
   * layer lives on that volume, over the image's layers, and outlives it.
   * With `writableFrom` (unshelve) the instance's writable layer starts as
   * that image's top layer (its shelved snapshot) over `image`'s layers.
   */
  spawn(
    instance: InstanceSpec,
    image: ImageMeta,
    volumes?: VolumeConnection[],
    rootVolume?: string,
    writableFrom?: string,
  ): Promise<void>;
  /**
   * Idempotent: destroying what does not exist succeeds; unplugs the
   * instance's ports and unmounts its volumes, never deleting one.
   */
  destroy(instance: InstanceSpec): Promise<void>;
  /**
   * Plugs one more port into the instance (running or stopped), working at
   * once; idempotent per port. Throws AttachInterfaceNotSupported when
   * `capabilities.supports_attach_interface` is false, NotFoundError for an
   * instance the driver does not have; on failure nothing of the port is left.
   */
  attachInterface(instance: InstanceSpec, vif: Vif): Promise<void>;
  /** Takes the port out of the instance; idempotent (an unknown port succeeds). */
  detachInterface(instance: InstanceSpec, vif: Vif): Promise<void>;
  /**
   * Mounts the volume at its mount point: at once in a running (or paused)
   * instance, at the next start in a stopped one; kept across reboot,
   * power off/on and a restart of the compute. Idempotent per volume.
   * VolumeNotFound for a volume this host does not hold, InvalidVolume for
   * an unusable mount point or one another volume has, VolumeIsBusy for a
   * volume without multiattach that another instance has; NotFoundError
   * for an unknown instance. On failure nothing is mounted or recorded.
   */
  attachVolume(instance: InstanceSpec, connection: VolumeConnection): Promise<void>;
  /** Unmounts the volume from the instance; idempotent (an unknown volume or instance succeeds). */
  detachVolume(instance: InstanceSpec, volumeId: string): Promise<void>;
  /** The instance's volumes in attach order; NotFoundError for an unknown instance. */
  volumeAttachments(instance: InstanceSpec): Promise<VolumeConnection[]>;
  reboot(instance: InstanceSpec, type: 'SOFT' | 'HARD'): Promise<void>;
  /** clean shutdown within `timeoutSeconds`, then forced */
  powerOff(instance: InstanceSpec, timeoutSeconds?: number): Promise<void>;
  powerOn(instance: InstanceSpec): Promise<void>;
  pause(instance: InstanceSpec): Promise<void>;
  unpause(instance: InstanceSpec): Promise<void>;
  suspend(instance: InstanceSpec): Promise<void>;
  resume(instance: InstanceSpec): Promise<void>;
  /** throws NotFoundError when the driver has no such instance */
  getInfo(instance: InstanceSpec): Promise<InstanceInfo>;
  listInstanceUuids(): Promise<string[]>;
  instanceExists(uuid: string): Promise<boolean>;
  getConsoleOutput(instance: InstanceSpec, tailLength?: number): Promise<string>;
  /**
   * A new interactive shell in the running instance, on a terminal of its
   * own, with the instance's environment; the workload is untouched.
   * ConflictError when the instance is not running, NotFoundError when the
   * driver has no such instance.
   */
  openConsoleShell(instance: InstanceSpec): Promise<ConsoleShell>;
  getDiagnostics(instance: InstanceSpec): Promise<Diagnostics>;
  getAvailableResource(): Promise<AvailableResource>;
  getHostUptime(): Promise<string>;
  /**
   * Nova's cache_image (has_imagecache): the image made ready on this host
   * without an instance, so the first boot need not fetch it. True when it
   * was prepared now, false when this driver had it already. NotFoundError
   * for an unknown image; nothing half-fetched is kept on failure.
   */
  cacheImage(imageId: string): Promise<boolean>;
  /**
   * Captures the instance's root filesystem (its changes over the image it
   * was built or rebuilt from, `instance.imageRef`) as the data of image
   * `imageId`, a queued record the control plane made, and uploads it.
   * Calls `updateTaskState(IMAGE_PENDING_UPLOAD)` once the capture is done
   * and `(IMAGE_UPLOADING, IMAGE_PENDING_UPLOAD)` before the upload. The
   * instance keeps its power state; a running one is frozen only briefly.
   * On failure nothing temporary is left; the image record is the caller's.
   */
  snapshot(
    instance: InstanceSpec,
    imageId: string,
    updateTaskState: UpdateTaskState,
  ): Promise<SnapshotResult>;
  /**
   * Replaces the instance's root filesystem by `image`'s and starts the
   * workload again: the instance keeps its uuid, hostname, flavor and the
   * ports of `networkInfo` (never unplugged). NotFoundError for an unknown
   * instance; on failure the instance is left stopped or gone, never half made.
   */
  rebuild(instance: InstanceSpec, image: ImageMeta, networkInfo: Vif[]): Promise<void>;
  /**
   * Nova's migrate_disk_and_power_off and finish_migration on one host: the
   * instance takes `flavor`'s limits and a root disk grown to its root_gb
   * (never shrunk; a smaller root_gb keeps the disk as it is), keeping its
   * root filesystem, ports and power state (a running workload restarts,
   * a stopped one stays stopped). NotFoundError for an unknown instance;
   * on failure the instance keeps its old limits.
   */
  resize(instance: InstanceSpec, flavor: FlavorSize): Promise<void>;
  /** subscribe to power-state changes the driver observes */
  onLifecycleEvent(listener: (event: LifecycleEvent) => void): void;
}
