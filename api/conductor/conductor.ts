/**
 * The conductor's RPC server (topic `conductor`): what computes report —
 * instance saves (with expected_task_state), faults, service heartbeats
 * and compute node resources — committed to the database before the
 * message is acknowledged; and reschedules of failed builds
 * (compute_task build_instances). An instance the compute reports deleted,
 * or whose build ended in ERROR, has its ports released (Nova's compute
 * deallocates them itself; berth's computes leave that to the control plane),
 * and a deleted one's volume attachments go too.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Endpoint, Incoming, Server, Transport } from '../../messaging/transport';
import { InvalidArgumentError } from '../../common/errors';
import { InstanceNotFound, UnexpectedTaskState } from '../../nova/exceptions';
import { VmState } from '../../nova/states';
import { systemContext } from '../context';
import type { Database } from '../db/connection';
import { finishAction } from '../db/instance-actions';
import type { InstanceRow, RequestSpec } from '../db/instances';
import { reportService } from '../db/services';
import { now } from '../http';
import type { InstanceNetworkApi } from '../network/instance-network';
import { releasePorts } from '../servers/instance-ports';
import { releaseInstanceVolumes } from '../servers/instance-volumes';
import { recordResizeProgress } from '../servers/resize-progress';
import type { VolumeService } from '../volume/volume-service';
import type { BuildCoordinator } from './build';

type Args = Record<string, unknown>;
type ObjData = Record<string, unknown>;

/** Instance fields a compute may change. */
const INSTANCE_FIELDS = ['vm_state', 'task_state', 'power_state', 'host', 'node', 'launched_at'];

export class Conductor {
  constructor(
    private readonly db: Database,
    private readonly config: BerthConfig,
    private readonly builds: BuildCoordinator,
    private readonly instanceNetwork: InstanceNetworkApi,
    private readonly volumes: VolumeService,
    private readonly log: Logger,
  ) {}

  serve(transport: Transport, host: string): Promise<Server> {
    return transport.serve({ topic: 'conductor', server: host }, this.endpoints());
  }

  endpoints(): Endpoint[] {
    return [
      {
        version: '3.0',
        methods: {
          object_action: (args: Args) => this.objectAction(args),
        },
      },
      {
        version: '1.25',
        namespace: 'compute_task',
        methods: {
          build_instances: (args: Args, incoming: Incoming) => this.buildInstances(args, incoming),
        },
      },
    ];
  }

  private async objectAction(args: Args): Promise<unknown> {
    const obj = args.objinst as { 'nova_object.name'?: string; 'nova_object.data'?: ObjData };
    const data = obj?.['nova_object.data'];
    if (!obj || typeof data !== 'object' || data === null)
      throw new InvalidArgumentError('object_action: objinst is not a versioned object');
    const kwargs = (args.kwargs ?? {}) as Args;
    const what = `${obj['nova_object.name']}.${String(args.objmethod)}`;
    switch (what) {
      case 'Instance.save':
        await this.saveInstance(data, kwargs);
        break;
      case 'Service.save':
      case 'Service.create':
        await this.saveService(data);
        break;
      case 'ComputeNode.save':
      case 'ComputeNode.create':
        await this.saveComputeNode(data);
        break;
      default:
        throw new InvalidArgumentError(`object_action: ${what} is not supported`);
    }
    // oslo's object_action returns (updates, result).
    return [{}, null];
  }

  private async saveInstance(data: ObjData, kwargs: Args): Promise<void> {
    const uuid = String(data.uuid);
    let finished: { host: string | null; error?: string } | undefined;
    let portsGone = false;
    let destroyed = false;
    let offloaded = false;
    await this.db.transaction(async (trx) => {
      const row = await trx<InstanceRow>('instances').where({ uuid }).first();
      if (!row || Boolean(row.deleted)) throw new InstanceNotFound(uuid);
      if ('expected_task_state' in kwargs) {
        const expected = ([] as unknown[]).concat(kwargs.expected_task_state);
        if (!expected.includes(row.task_state))
          throw new UnexpectedTaskState(uuid, kwargs.expected_task_state, row.task_state);
      }
      const t = now();
      if (data.vm_state === 'deleted') {
        await this.destroy(trx, row, t);
        finished = { host: row.host };
        portsGone = true;
        destroyed = true;
        return;
      }
      const update: Record<string, unknown> = { updated_at: t };
      for (const f of INSTANCE_FIELDS) if (f in data) update[f] = data[f] ?? null;
      const fault = data.fault as { message?: string; created_at?: string } | undefined;
      if (fault?.message) update.fault = JSON.stringify({ code: 500, ...fault });
      await recordResizeProgress(trx, row, update);
      await trx('instances').where({ id: row.id }).update(update);
      // Offloaded (shelved, or an unshelve that failed to spawn): it holds no host's resources.
      if (update.vm_state === VmState.SHELVED_OFFLOADED && !update.host) {
        await trx('allocations').where({ instance_uuid: uuid }).delete();
        offloaded = true;
      }
      // Unshelved: the compute has deleted the snapshot it started from.
      const shelved = [VmState.SHELVED, VmState.SHELVED_OFFLOADED] as string[];
      if (shelved.includes(row.vm_state) && update.vm_state === VmState.ACTIVE) {
        const spec = JSON.parse(row.request_spec) as RequestSpec;
        delete spec.shelved_image;
        await trx('instances')
          .where({ id: row.id })
          .update({ request_spec: JSON.stringify(spec) });
      }
      portsGone = row.vm_state === VmState.BUILDING && update.vm_state === VmState.ERROR;
      if (row.task_state !== null && update.task_state === null)
        finished = {
          host: (update.host as string) ?? row.host,
          error: data.vm_state === VmState.ERROR ? fault?.message : undefined,
        };
    });
    if (finished) await finishAction(this.db, uuid, finished);
    // A failed build leaves no port behind; a deleted instance none either.
    if (portsGone) await releasePorts(this.instanceNetwork, uuid, this.log);
    // Its ports stay the instance's but bound to no host until unshelve binds them again.
    // (Harmless if it fails: unshelve binds them wherever it lands.)
    if (offloaded)
      await this.instanceNetwork.bindForHost(uuid, '').catch((err: Error) =>
        this.log.warn('ports of an offloaded instance not unbound', {
          instance_uuid: uuid,
          error: err.message,
        }),
      );
    if (destroyed) await releaseInstanceVolumes(this.volumes, uuid, systemContext(this.log));
  }

  /** Nova's Instance.destroy: the row is soft-deleted; its claim and group membership go. */
  private async destroy(trx: Knex.Transaction, row: InstanceRow, t: string): Promise<void> {
    await trx('instances').where({ id: row.id }).update({
      vm_state: 'deleted',
      task_state: null,
      power_state: 0,
      deleted: true,
      deleted_at: t,
      terminated_at: t,
      updated_at: t,
    });
    await trx('allocations').where({ instance_uuid: row.uuid }).delete();
    await trx('server_group_members').where({ instance_uuid: row.uuid }).delete();
  }

  private async saveService(data: ObjData): Promise<void> {
    await reportService(this.db, {
      host: String(data.host),
      binary: String(data.binary ?? 'nova-compute'),
      topic: String(data.topic ?? 'compute'),
      report_count: Number(data.report_count ?? 0),
      version: Number(data.version ?? 0),
      availability_zone:
        (data.availability_zone as string) || this.config.DEFAULT.default_availability_zone,
    });
  }

  private async saveComputeNode(data: ObjData): Promise<void> {
    const host = String(data.host);
    const t = now();
    const num = (k: string) => Number(data[k] ?? 0);
    const values = {
      hypervisor_hostname: String(data.hypervisor_hostname ?? host),
      hypervisor_type: String(data.hypervisor_type ?? 'berth'),
      hypervisor_version: num('hypervisor_version'),
      host_ip: String(data.host_ip ?? ''),
      vcpus: num('vcpus'),
      memory_mb: num('memory_mb'),
      local_gb: num('local_gb'),
      vcpus_used: num('vcpus_used'),
      memory_mb_used: num('memory_mb_used'),
      local_gb_used: num('local_gb_used'),
      running_vms: num('running_vms'),
      updated_at: t,
    };
    await this.db('compute_nodes')
      .insert({ uuid: randomUUID(), host, created_at: t, ...values })
      .onConflict('host')
      .merge(Object.keys(values));
  }

  /** A compute gave a failed build back for another host (Nova's reschedule). */
  private async buildInstances(args: Args, incoming: Incoming): Promise<void> {
    const instances = (args.instances ?? []) as { 'nova_object.data'?: ObjData }[];
    const retry = ((args.filter_properties ?? {}) as Args).retry as
      { exc_reason?: string } | undefined;
    const context = {
      ...incoming.context,
      request_id: String(incoming.context.request_id ?? `req-${randomUUID()}`),
    };
    for (const inst of instances) {
      const uuid = inst?.['nova_object.data']?.uuid;
      if (typeof uuid !== 'string') continue;
      this.log.warn('rescheduling a failed build', {
        instance_uuid: uuid,
        request_id: context.request_id,
        reason: retry?.exc_reason,
      });
      await this.builds.schedule(uuid, context, retry?.exc_reason);
    }
  }
}
