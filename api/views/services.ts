/**
 * The os-services resource as Nova shapes it
 * (nova/api/openstack/compute/services.py _get_service_detail).
 */
import type { ServiceRow } from '../db/services';
import { isUp } from '../db/services';
import type { Microversion } from '../microversion';

/** API services do not heartbeat (they would always look down), so Nova lists them nowhere. */
export const API_SERVICE_BINARIES = ['nova-osapi_compute', 'nova-metadata'];

/** Services other than nova-compute live in Nova's internal zone, which zone lists hide. */
export const INTERNAL_ZONE = 'internal';

/**
 * Nova serialises its datetimes as Python's isoformat of a naive UTC time:
 * "2012-10-29T13:42:02.000000", microseconds and no zone.
 */
export function novaDateTime(t: string | null | undefined): string | null {
  if (!t) return null;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return null;
  const iso = d.toISOString();
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000`;
}

export function serviceZone(s: ServiceRow, defaultZone: string): string {
  return s.binary === 'nova-compute' ? s.availability_zone || defaultZone : INTERNAL_ZONE;
}

export interface ServiceViewOptions {
  v: Microversion;
  serviceDownTime: number;
  defaultZone: string;
  now?: number;
}

export function serviceView(s: ServiceRow, o: ServiceViewOptions) {
  const view: Record<string, unknown> = {
    id: o.v.ge('2.53') ? s.uuid : s.id,
    binary: s.binary,
    host: s.host,
    zone: serviceZone(s, o.defaultZone),
    status: s.disabled ? 'disabled' : 'enabled',
    state: isUp(s, o.serviceDownTime, o.now) ? 'up' : 'down',
    updated_at: novaDateTime(s.updated_at),
    disabled_reason: s.disabled_reason,
  };
  if (o.v.ge('2.11')) view.forced_down = Boolean(s.forced_down);
  return view;
}
