/**
 * The control plane's side of the compute RPC API (Nova's
 * nova.compute.rpcapi.ComputeAPI): casts and calls to one host's
 * `compute.<host>` queue, with the Instance sent as the Nova primitive
 * the compute parses.
 */
import type { Transport } from '../messaging/transport';
import type { TransitionMethod } from '../nova/actions';
import { infoCachePrimitive, instancePrimitive } from '../nova/instance-object';
import type { Vif } from '../nova/network-model';
import type { ImageRecord } from '../driver/image/image-service';
import type { Instance } from './db/instances';
import type { RequestedNetworks } from './network/instance-network';

const VERSION = '6.0';
/** Seconds a call to a compute may take (Nova's rpc_response_timeout). */
const CALL_TIMEOUT_S = 60;

export type RpcContext = Record<string, unknown> & { request_id: string };

/**
 * The Instance primitive a compute receives; with `networkInfo`, its
 * info_cache (build and attach carry one; actions, like Nova's, do not).
 */
export function instanceObject(i: Instance, networkInfo?: Vif[]) {
  const primitive = instancePrimitive(
    {
      id: i.id,
      uuid: i.uuid,
      user_id: i.user_id,
      project_id: i.project_id,
      display_name: i.display_name,
      hostname: i.hostname,
      host: i.host,
      node: i.node,
      availability_zone: i.availability_zone,
      vcpus: i.flavor.vcpus,
      memory_mb: i.flavor.memory_mb,
      root_gb: i.flavor.root_gb,
      ephemeral_gb: i.flavor.ephemeral_gb,
      instance_type_id: null,
      image_ref: i.image_ref,
      vm_state: i.vm_state,
      task_state: i.task_state,
      power_state: i.power_state,
      metadata: i.metadata,
      user_data: i.user_data,
      key_name: i.key_name,
      key_data: i.key_data,
      reservation_id: i.reservation_id,
      launch_index: i.launch_index,
      launched_at: i.launched_at,
      created_at: i.created_at,
    },
    [],
  );
  if (networkInfo)
    primitive['nova_object.data'].info_cache = infoCachePrimitive(i.uuid, networkInfo);
  return primitive;
}

const novaObject = (name: string, version: string, data: Record<string, unknown>) => ({
  'nova_object.name': name,
  'nova_object.namespace': 'nova',
  'nova_object.version': version,
  'nova_object.data': data,
});

/** Nova's NetworkRequestList for build_and_run_instance's requested_networks (null when none was asked). */
export function networkRequestList(requested: RequestedNetworks | undefined) {
  if (requested === undefined) return null;
  const requests =
    typeof requested === 'string'
      ? [{ network_id: requested }]
      : requested.map((r) => ({
          network_id: r.uuid ?? null,
          port_id: r.port ?? null,
          address: r.fixedIp ?? null,
          tag: r.tag ?? null,
        }));
  return novaObject('NetworkRequestList', '1.1', {
    objects: requests.map((data) => novaObject('NetworkRequest', '1.3', data)),
  });
}

/** What attach_interface is told besides the instance (Nova's arguments). */
export interface InterfaceRequest {
  networkId: string | null;
  portId: string;
  requestedIp: string | null;
  tag: string | null;
}

export interface RebuildRequest {
  imageRef: string;
  origImageRef: string;
  newPass: string | null;
  preserveEphemeral: boolean;
}

/** A resize's migration record, as the compute is told of it (Nova's Migration object). */
export interface MigrationRecord {
  id: number;
  uuid: string;
  instance_uuid: string;
  source_compute: string | null;
  dest_compute: string | null;
  migration_type: string;
  status: string;
}

/** The flavor sizes a resize goes to (Nova's Flavor object). */
export interface FlavorSizes {
  flavorid: string;
  name: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
}

export interface BuildExtras {
  image: ImageRecord;
  /** the instance's ports, bound to the host: sent as the Instance's info_cache */
  networkInfo: Vif[];
  requestedNetworks?: RequestedNetworks;
  /** security group names */
  securityGroups: string[];
  /** set when the instance may be rescheduled after a failure on this host */
  retry?: { num_attempts: number; hosts: string[][] };
  /** the volumes the compute mounts at spawn (bdmOf), none when empty */
  blockDeviceMapping?: Record<string, unknown>[];
}

export interface ComputeRpcAPI {
  buildAndRunInstance(i: Instance, extras: BuildExtras, ctx: RpcContext): Promise<void>;
  terminateInstance(i: Instance, ctx: RpcContext): Promise<void>;
  /** the power and lifecycle casts, by Nova method name */
  lifecycle(
    method: TransitionMethod,
    i: Instance,
    ctx: RpcContext,
    args?: Record<string, unknown>,
  ): Promise<void>;
  /** Nova's snapshot_instance: the image record exists (queued); the compute fills it */
  snapshotInstance(i: Instance, imageId: string, ctx: RpcContext): Promise<void>;
  /** Nova's backup_instance: a snapshot into `imageId`, then the rotation of older backups */
  backupInstance(
    i: Instance,
    imageId: string,
    backup: { type: string; rotation: number },
    ctx: RpcContext,
  ): Promise<void>;
  /** Nova's shelve_instance: snapshot into `imageId`, then (shelved_offload_time 0) offload */
  shelveInstance(i: Instance, imageId: string, ctx: RpcContext): Promise<void>;
  /** Nova's shelve_offload_instance: the container goes, the instance leaves its host */
  shelveOffloadInstance(i: Instance, ctx: RpcContext): Promise<void>;
  /**
   * Nova's unshelve_instance on the host the conductor picked; berth's
   * compute has no database to read the instance's volumes from, so their
   * mappings come along as a build's do.
   */
  unshelveInstance(
    i: Instance,
    x: Pick<BuildExtras, 'image' | 'networkInfo' | 'blockDeviceMapping'>,
    ctx: RpcContext,
  ): Promise<void>;
  /** Nova's rebuild_instance with Zed's arguments (not an evacuation) */
  rebuildInstance(i: Instance, r: RebuildRequest, ctx: RpcContext): Promise<void>;
  /** Nova's resize_instance (prep_resize and finish_resize fold into it on one host) */
  resizeInstance(
    i: Instance,
    migration: MigrationRecord,
    flavor: FlavorSizes,
    ctx: RpcContext,
  ): Promise<void>;
  confirmResize(i: Instance, migration: MigrationRecord, ctx: RpcContext): Promise<void>;
  revertResize(i: Instance, migration: MigrationRecord, ctx: RpcContext): Promise<void>;
  /** a call: the compute plugs the port (in `networkInfo`) and answers its VIF */
  attachInterface(
    i: Instance,
    networkInfo: Vif[],
    request: InterfaceRequest,
    ctx: RpcContext,
  ): Promise<Vif>;
  /** a call, so that the port is released only once the compute has unplugged it */
  detachInterface(i: Instance, portId: string, ctx: RpcContext): Promise<void>;
  getConsoleOutput(i: Instance, tailLength: number | null, ctx: RpcContext): Promise<string>;
  getDiagnostics(i: Instance, ctx: RpcContext): Promise<Record<string, unknown>>;
  /** where the instance's serial console listens, with a one-connection secret in the path */
  getSerialConsole(i: Instance, consoleType: string, ctx: RpcContext): Promise<ConsoleSerial>;
  /** Nova's validate_console_port: whether `port` is the instance's console port */
  validateConsolePort(
    i: Instance,
    port: number,
    consoleType: string,
    ctx: RpcContext,
  ): Promise<boolean>;
  /** what `uptime` prints on the host */
  getHostUptime(host: string, ctx: RpcContext): Promise<string>;
  /** a call (Nova casts): the volume is marked in-use only once it is mounted */
  attachVolume(i: Instance, bdm: Record<string, unknown>, ctx: RpcContext): Promise<void>;
  /** a call, idempotent: the volume is available again only once it is unmounted */
  detachVolume(i: Instance, volumeId: string, attachmentId: string, ctx: RpcContext): Promise<void>;
}

/** Nova's ConsoleSerial connect info, as the compute answers get_serial_console. */
export interface ConsoleSerial {
  host: string;
  port: number;
  internal_access_path: string | null;
}

/** The image a build or unshelve runs, as Nova's compute is sent it (ImageMeta's primitive). */
const imageMeta = (image: ImageRecord) => ({
  id: image.id,
  name: image.name,
  status: image.status,
  container_format: image.container_format,
  disk_format: image.disk_format,
  size: image.size,
  checksum: image.checksum,
  properties: image.properties,
});

export class TransportComputeRpcAPI implements ComputeRpcAPI {
  constructor(private readonly transport: Transport) {}

  private target(i: Instance) {
    if (!i.host) throw new Error(`instance ${i.uuid} has no host`);
    return { topic: 'compute', server: i.host, version: VERSION };
  }

  buildAndRunInstance(i: Instance, x: BuildExtras, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'build_and_run_instance',
      {
        instance: instanceObject(i, x.networkInfo),
        image: imageMeta(x.image),
        request_spec: null,
        filter_properties: x.retry ? { retry: x.retry } : {},
        admin_password: null,
        injected_files: [],
        requested_networks: networkRequestList(x.requestedNetworks),
        security_groups: x.securityGroups,
        block_device_mapping: x.blockDeviceMapping?.length ? x.blockDeviceMapping : null,
        node: i.node,
        limits: {},
        host_list: null,
      },
      { context },
    );
  }

  terminateInstance(i: Instance, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'terminate_instance',
      { instance: instanceObject(i), bdms: null },
      { context },
    );
  }

  lifecycle(
    method: TransitionMethod,
    i: Instance,
    context: RpcContext,
    args: Record<string, unknown> = {},
  ) {
    return this.transport.cast(
      this.target(i),
      method,
      { instance: instanceObject(i), ...args },
      { context },
    );
  }

  shelveInstance(i: Instance, imageId: string, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'shelve_instance',
      { instance: instanceObject(i), image_id: imageId, clean_shutdown: true, accel_uuids: [] },
      { context },
    );
  }

  shelveOffloadInstance(i: Instance, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'shelve_offload_instance',
      { instance: instanceObject(i), clean_shutdown: true, accel_uuids: [] },
      { context },
    );
  }

  unshelveInstance(
    i: Instance,
    x: Pick<BuildExtras, 'image' | 'networkInfo' | 'blockDeviceMapping'>,
    context: RpcContext,
  ) {
    return this.transport.cast(
      this.target(i),
      'unshelve_instance',
      {
        instance: instanceObject(i, x.networkInfo),
        host: i.host,
        image: imageMeta(x.image),
        request_spec: null,
        filter_properties: {},
        node: i.node,
        accel_uuids: [],
        block_device_mapping: x.blockDeviceMapping?.length ? x.blockDeviceMapping : null,
      },
      { context },
    );
  }

  snapshotInstance(i: Instance, imageId: string, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'snapshot_instance',
      { instance: instanceObject(i), image_id: imageId },
      { context },
    );
  }

  backupInstance(
    i: Instance,
    imageId: string,
    backup: { type: string; rotation: number },
    context: RpcContext,
  ) {
    return this.transport.cast(
      this.target(i),
      'backup_instance',
      {
        instance: instanceObject(i),
        image_id: imageId,
        backup_type: backup.type,
        rotation: backup.rotation,
      },
      { context },
    );
  }

  rebuildInstance(i: Instance, r: RebuildRequest, context: RpcContext) {
    // reimage_boot_volume is 6.1's addition to rebuild_instance.
    return this.transport.cast(
      { ...this.target(i), version: '6.1' },
      'rebuild_instance',
      {
        instance: instanceObject(i),
        new_pass: r.newPass,
        injected_files: [],
        image_ref: r.imageRef,
        orig_image_ref: r.origImageRef,
        orig_sys_metadata: {},
        bdms: null,
        recreate: false,
        on_shared_storage: false,
        preserve_ephemeral: r.preserveEphemeral,
        migration: null,
        scheduled_node: null,
        limits: {},
        request_spec: null,
        accel_uuids: [],
        reimage_boot_volume: false,
      },
      { context },
    );
  }

  resizeInstance(i: Instance, m: MigrationRecord, flavor: FlavorSizes, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'resize_instance',
      {
        instance: instanceObject(i),
        image: null,
        migration: novaObject('Migration', '1.7', { ...m }),
        flavor: novaObject('Flavor', '1.2', { ...flavor }),
        clean_shutdown: true,
        request_spec: null,
      },
      { context },
    );
  }

  confirmResize(i: Instance, m: MigrationRecord, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'confirm_resize',
      { instance: instanceObject(i), migration: novaObject('Migration', '1.7', { ...m }) },
      { context },
    );
  }

  revertResize(i: Instance, m: MigrationRecord, context: RpcContext) {
    return this.transport.cast(
      this.target(i),
      'revert_resize',
      {
        instance: instanceObject(i),
        migration: novaObject('Migration', '1.7', { ...m }),
        request_spec: null,
      },
      { context },
    );
  }

  async attachInterface(i: Instance, networkInfo: Vif[], r: InterfaceRequest, context: RpcContext) {
    return (await this.transport.call(
      this.target(i),
      'attach_interface',
      {
        instance: instanceObject(i, networkInfo),
        network_id: r.networkId,
        port_id: r.portId,
        requested_ip: r.requestedIp,
        tag: r.tag,
      },
      { context, timeout: CALL_TIMEOUT_S },
    )) as Vif;
  }

  async detachInterface(i: Instance, portId: string, context: RpcContext) {
    await this.transport.call(
      this.target(i),
      'detach_interface',
      { instance: instanceObject(i), port_id: portId },
      { context, timeout: CALL_TIMEOUT_S },
    );
  }

  async getConsoleOutput(i: Instance, tailLength: number | null, context: RpcContext) {
    return (await this.transport.call(
      this.target(i),
      'get_console_output',
      { instance: instanceObject(i), tail_length: tailLength },
      { context, timeout: CALL_TIMEOUT_S },
    )) as string;
  }

  async getDiagnostics(i: Instance, context: RpcContext) {
    return (await this.transport.call(
      this.target(i),
      'get_instance_diagnostics',
      { instance: instanceObject(i) },
      { context, timeout: CALL_TIMEOUT_S },
    )) as Record<string, unknown>;
  }

  async getSerialConsole(i: Instance, consoleType: string, context: RpcContext) {
    return (await this.transport.call(
      this.target(i),
      'get_serial_console',
      { instance: instanceObject(i), console_type: consoleType },
      { context, timeout: CALL_TIMEOUT_S },
    )) as ConsoleSerial;
  }

  async validateConsolePort(i: Instance, port: number, consoleType: string, context: RpcContext) {
    return (await this.transport.call(
      this.target(i),
      'validate_console_port',
      { instance: instanceObject(i), port, console_type: consoleType },
      { context, timeout: CALL_TIMEOUT_S },
    )) as boolean;
  }

  async getHostUptime(host: string, context: RpcContext) {
    return (await this.transport.call(
      { topic: 'compute', server: host, version: VERSION },
      'get_host_uptime',
      {},
      { context, timeout: CALL_TIMEOUT_S },
    )) as string;
  }

  async attachVolume(i: Instance, bdm: Record<string, unknown>, context: RpcContext) {
    await this.transport.call(
      this.target(i),
      'attach_volume',
      { instance: instanceObject(i), bdm },
      { context, timeout: CALL_TIMEOUT_S },
    );
  }

  async detachVolume(i: Instance, volumeId: string, attachmentId: string, context: RpcContext) {
    await this.transport.call(
      this.target(i),
      'detach_volume',
      { instance: instanceObject(i), volume_id: volumeId, attachment_id: attachmentId },
      { context, timeout: CALL_TIMEOUT_S },
    );
  }
}
