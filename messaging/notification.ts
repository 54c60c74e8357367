/** Notification messages as oslo's Notifier builds them (oslo_messaging.notify.notifier). */
import { randomUUID } from 'node:crypto';
import type { OsloMessage } from './envelope';
import { hexUuid } from './ids';
import { packContext } from './request';
import type { NotificationPriority, RequestContext } from './transport';

// oslo's _sanitize_context list: notifications go to a bus many services read,
// so no token, service catalog or other credentials.
const SAFE_CONTEXT_KEYS: ReadonlySet<string> = new Set([
  'user_id',
  'project_id',
  'domain_id',
  'user_domain_id',
  'project_domain_id',
  'is_admin',
  'request_id',
  'roles',
  'user_name',
  'project_name',
  'domain_name',
  'user_domain_name',
  'project_domain_name',
  'service_user_id',
  'service_user_domain_id',
  'service_user_domain_name',
  'service_project_id',
  'service_project_name',
  'service_project_domain_id',
  'service_project_domain_name',
  'service_roles',
  'global_request_id',
  'system_scope',
  'user',
  'domain',
  'user_domain',
  'project_domain',
]);

export function sanitizeContext(context: RequestContext = {}): RequestContext {
  return Object.fromEntries(Object.entries(context).filter(([k]) => SAFE_CONTEXT_KEYS.has(k)));
}

/** Python's str(datetime.utcnow()): "YYYY-MM-DD HH:MM:SS.ffffff", UTC without a zone. */
export function notificationTimestamp(date: Date): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

export function notificationRoutingKey(topic: string, priority: NotificationPriority): string {
  return `${topic}.${priority.toLowerCase()}`;
}

export interface Notification {
  publisherId: string;
  eventType: string;
  payload: unknown;
  priority: NotificationPriority;
  context?: RequestContext;
}

export function notificationMessage(n: Notification, now = new Date()): OsloMessage {
  return {
    message_id: randomUUID(),
    publisher_id: n.publisherId,
    event_type: n.eventType,
    priority: n.priority,
    payload: n.payload,
    timestamp: notificationTimestamp(now),
    _unique_id: hexUuid(),
    ...packContext(sanitizeContext(n.context)),
  };
}
