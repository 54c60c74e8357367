/**
 * Versioned notifications (topic versioned_notifications, publisher
 * nova-compute:<host>) with Nova's payload shapes: InstanceActionPayload,
 * and InstanceCreatePayload for instance.create.*.
 */
import type { Logger } from 'winston';
import type { RequestContext, Transport } from '../../messaging/transport';
import type { ManagedInstance } from './instance-records';
import { powerStateName } from '../../nova/power-state';

export const NOTIFICATION_TOPIC = 'versioned_notifications';

export type Phase = 'start' | 'end' | 'error';

function novaObject(name: string, version: string, data: Record<string, unknown>) {
  return {
    'nova_object.name': name,
    'nova_object.namespace': 'nova',
    'nova_object.version': version,
    'nova_object.data': data,
  };
}

function flavorPayload(r: ManagedInstance) {
  const flavor = (r.data.flavor as { 'nova_object.data'?: Record<string, unknown> } | undefined)?.[
    'nova_object.data'
  ];
  return novaObject('FlavorPayload', '1.4', {
    flavorid: flavor?.flavorid ?? null,
    name: flavor?.name ?? null,
    memory_mb: r.spec.memoryMb,
    vcpus: r.spec.vcpus,
    root_gb: r.spec.rootGb,
    ephemeral_gb: flavor?.ephemeral_gb ?? 0,
    swap: flavor?.swap ?? 0,
    extra_specs: flavor?.extra_specs ?? {},
  });
}

export function instancePayload(r: ManagedInstance, host: string, action: string, error?: Error) {
  const data: Record<string, unknown> = {
    uuid: r.uuid,
    display_name: r.data.display_name ?? null,
    display_description: r.data.display_description ?? null,
    host_name: r.spec.hostname ?? null,
    host,
    node: host,
    state: r.vm_state,
    power_state: powerStateName(r.power_state),
    task_state: r.task_state,
    tenant_id: r.data.project_id ?? null,
    user_id: r.data.user_id ?? null,
    image_uuid: r.spec.imageRef,
    flavor: flavorPayload(r),
    metadata: r.spec.metadata ?? {},
    ip_addresses: [],
    block_devices: [],
    locked: false,
    launched_at: r.launched_at ?? null,
    created_at: r.data.created_at ?? null,
    fault: error
      ? novaObject('ExceptionPayload', '1.1', {
          exception: error.name,
          exception_message: error.message,
          module_name: 'berth',
          function_name: action,
          traceback: error.stack ?? '',
        })
      : null,
  };
  if (action === 'create') {
    Object.assign(data, {
      instance_name: r.spec.name,
      keypairs: [],
      tags: [],
      trusted_image_certificates: null,
    });
    return novaObject('InstanceCreatePayload', '1.12', data);
  }
  return novaObject('InstanceActionPayload', '1.8', data);
}

export class InstanceNotifier {
  constructor(
    private readonly transport: Transport,
    private readonly host: string,
    private readonly log: Logger,
  ) {}

  /** Never fails the operation it reports on: a lost notification is logged. */
  async emit(
    action: string,
    phase: Phase,
    record: ManagedInstance,
    context: RequestContext,
    error?: Error,
  ) {
    const eventType = `instance.${action}.${phase}`;
    try {
      await this.transport.notify(
        NOTIFICATION_TOPIC,
        `nova-compute:${this.host}`,
        eventType,
        instancePayload(record, this.host, action, error),
        phase === 'error' ? 'ERROR' : 'INFO',
        context,
      );
    } catch (err) {
      this.log.warn('notification not sent', {
        event_type: eventType,
        instance_uuid: record.uuid,
        error: (err as Error).message,
      });
    }
  }
}
