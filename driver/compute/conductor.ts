/**
 * What nova-compute tells the control plane, in the shape it uses: calls
 * on topic `conductor` — `object_action` saves of the Instance (with
 * expected_task_state), of the Service (the liveness heartbeat) and of the
 * ComputeNode (the host's resources).
 */
import type { Logger } from 'winston';
import { RemoteError, type RequestContext, type Transport } from '../../messaging/transport';
import type { AvailableResource } from '../virt/driver';
import { instancePrimitive } from '../../nova/instance-object';
import type { ManagedInstance } from './instance-records';
import type { TaskState } from '../../nova/states';

const CONDUCTOR = { topic: 'conductor', version: '3.0' };
const SAVE_TIMEOUT_S = 30;

export class ConductorAPI {
  constructor(
    private readonly transport: Transport,
    private readonly log: Logger,
  ) {}

  /**
   * Reports the record's state. A control plane that is away does not
   * stop the compute: the local record stays authoritative and the next
   * save or power-state sync carries the state again. Resolves 'gone'
   * when the control plane no longer has the instance (deleted there while
   * this host was away).
   */
  async saveInstance(
    r: ManagedInstance,
    expectedTaskState: TaskState | TaskState[] | undefined,
    context: RequestContext,
  ): Promise<'saved' | 'gone' | 'unreported'> {
    const changes = ['vm_state', 'task_state', 'power_state', 'host', 'node', 'launched_at'];
    const data: Record<string, unknown> = {
      ...r.data,
      vm_state: r.vm_state,
      task_state: r.task_state,
      power_state: r.power_state,
      launched_at: r.launched_at ?? null,
    };
    // Nova records faults through InstanceFault.create; carrying the latest
    // one with the save keeps the two in one committed update.
    if (r.fault) {
      data.fault = r.fault;
      changes.push('fault');
    }
    try {
      await this.transport.call(
        CONDUCTOR,
        'object_action',
        {
          objinst: instancePrimitive(data, changes),
          objmethod: 'save',
          args: [],
          kwargs: expectedTaskState === undefined ? {} : { expected_task_state: expectedTaskState },
        },
        { timeout: SAVE_TIMEOUT_S, context },
      );
      return 'saved';
    } catch (err) {
      if (err instanceof RemoteError && err.exceptionClass === 'InstanceNotFound') return 'gone';
      this.log.warn('instance state not reported to conductor', {
        instance_uuid: r.uuid,
        request_id: context.request_id,
        error: (err as Error).message,
      });
      return 'unreported';
    }
  }

  /**
   * A build that failed here goes back to the conductor to be tried on
   * another host (Nova's compute_task build_instances with retry info).
   */
  async reschedule(
    r: ManagedInstance,
    retry: Record<string, unknown>,
    reason: string,
    context: RequestContext,
  ): Promise<void> {
    await this.transport.cast(
      { ...CONDUCTOR, namespace: 'compute_task', version: '1.25' },
      'build_instances',
      {
        instances: [instancePrimitive({ ...r.data, uuid: r.uuid }, [])],
        image: r.image ?? null,
        filter_properties: { retry: { ...retry, exc_reason: reason } },
        admin_password: null,
        injected_files: [],
        requested_networks: null,
        security_groups: null,
        block_device_mapping: null,
        legacy_bdm: false,
        request_spec: null,
        host_lists: null,
      },
      { context },
    );
  }

  async reportHeartbeat(
    host: string,
    hostIp: string,
    zone: string,
    reportCount: number,
    resources: AvailableResource,
    timeoutS: number,
  ) {
    const service = {
      'nova_object.name': 'Service',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.22',
      'nova_object.data': {
        host,
        binary: 'nova-compute',
        topic: 'compute',
        report_count: reportCount,
        version: 64,
        availability_zone: zone,
      },
      'nova_object.changes': ['report_count'],
    };
    const node = {
      'nova_object.name': 'ComputeNode',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.19',
      'nova_object.data': { host, host_ip: hostIp, ...resources },
      'nova_object.changes': ['host_ip', ...Object.keys(resources)],
    };
    for (const objinst of [service, node]) {
      await this.transport.call(
        CONDUCTOR,
        'object_action',
        { objinst, objmethod: 'save', args: [], kwargs: {} },
        { timeout: timeoutS },
      );
    }
  }
}
