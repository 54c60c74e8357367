/**
 * What nova-compute tells the control plane, in the shape it uses: calls
 * on topic `conductor` — `object_action` saves of the Instance (with
 * expected_task_state), of the Service (the liveness heartbeat) and of the
 * ComputeNode (the host's resources).
 */
import type { Logger } from 'winston';
import type { RequestContext, Transport } from '../../messaging/transport';
import type { AvailableResource } from '../virt/driver';
import { instancePrimitive } from './instance-object';
import type { ManagedInstance } from './instance-records';
import type { TaskState } from './states';

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
   * save or power-state sync carries the state again.
   */
  async saveInstance(
    r: ManagedInstance,
    expectedTaskState: TaskState | TaskState[] | undefined,
    context: RequestContext,
  ) {
    const changes = ['vm_state', 'task_state', 'power_state', 'host', 'node', 'launched_at'];
    const data = {
      ...r.data,
      vm_state: r.vm_state,
      task_state: r.task_state,
      power_state: r.power_state,
      launched_at: r.launched_at ?? null,
    };
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
    } catch (err) {
      this.log.warn('instance state not reported to conductor', {
        instance_uuid: r.uuid,
        request_id: context.request_id,
        error: (err as Error).message,
      });
    }
  }

  async reportHeartbeat(
    host: string,
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
      },
      'nova_object.changes': ['report_count'],
    };
    const node = {
      'nova_object.name': 'ComputeNode',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.19',
      'nova_object.data': { host, ...resources },
      'nova_object.changes': Object.keys(resources),
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
