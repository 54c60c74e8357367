/**
 * The control plane's side of the compute RPC API (Nova's
 * nova.compute.rpcapi.ComputeAPI): casts and calls to one host's
 * `compute.<host>` queue, with the Instance sent as the Nova primitive
 * the compute parses.
 */
import type { Transport } from '../messaging/transport';
import type { TransitionMethod } from '../nova/actions';
import { instancePrimitive } from '../nova/instance-object';
import type { ImageRecord } from '../driver/image/image-service';
import type { Instance } from './db/instances';

const VERSION = '6.0';
/** Seconds a call to a compute may take (Nova's rpc_response_timeout). */
const CALL_TIMEOUT_S = 60;

export type RpcContext = Record<string, unknown> & { request_id: string };

/** The Instance primitive a compute receives. */
export function instanceObject(i: Instance) {
  return instancePrimitive(
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
}

export interface BuildExtras {
  image: ImageRecord;
  /** set when the instance may be rescheduled after a failure on this host */
  retry?: { num_attempts: number; hosts: string[][] };
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
  getConsoleOutput(i: Instance, tailLength: number | null, ctx: RpcContext): Promise<string>;
  getDiagnostics(i: Instance, ctx: RpcContext): Promise<Record<string, unknown>>;
  /** what `uptime` prints on the host */
  getHostUptime(host: string, ctx: RpcContext): Promise<string>;
}

export class TransportComputeRpcAPI implements ComputeRpcAPI {
  constructor(private readonly transport: Transport) {}

  private target(i: Instance) {
    if (!i.host) throw new Error(`instance ${i.uuid} has no host`);
    return { topic: 'compute', server: i.host, version: VERSION };
  }

  buildAndRunInstance(i: Instance, x: BuildExtras, context: RpcContext) {
    const image = {
      id: x.image.id,
      name: x.image.name,
      status: x.image.status,
      container_format: x.image.container_format,
      disk_format: x.image.disk_format,
      size: x.image.size,
      checksum: x.image.checksum,
      properties: x.image.properties,
    };
    return this.transport.cast(
      this.target(i),
      'build_and_run_instance',
      {
        instance: instanceObject(i),
        image,
        request_spec: null,
        filter_properties: x.retry ? { retry: x.retry } : {},
        admin_password: null,
        injected_files: [],
        requested_networks: null,
        security_groups: null,
        block_device_mapping: null,
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

  async getHostUptime(host: string, context: RpcContext) {
    return (await this.transport.call(
      { topic: 'compute', server: host, version: VERSION },
      'get_host_uptime',
      {},
      { context, timeout: CALL_TIMEOUT_S },
    )) as string;
  }
}
