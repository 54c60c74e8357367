/**
 * os-availability-zone as Nova builds it (availability_zone.py): a zone
 * is available when an enabled service is in it, unavailable when it has
 * only disabled ones. The summary hides the internal zone of non-compute
 * services; the detail lists every zone with its hosts' services.
 */
import { isUp, type ServiceRow } from '../db/services';
import { INTERNAL_ZONE, novaDateTime, serviceZone } from './services';

export interface ZoneOptions {
  defaultZone: string;
  serviceDownTime: number;
  now?: number;
}

function zonesOf(services: ServiceRow[], o: ZoneOptions) {
  const available = new Set<string>();
  for (const s of services) if (!s.disabled) available.add(serviceZone(s, o.defaultZone));
  const unavailable = new Set<string>();
  for (const s of services) {
    const zone = serviceZone(s, o.defaultZone);
    if (s.disabled && !available.has(zone)) unavailable.add(zone);
  }
  // Servers may always ask for the default zone, so it is listed before any compute has reported.
  if (!unavailable.has(o.defaultZone)) available.add(o.defaultZone);
  return { available: [...available].sort(), unavailable: [...unavailable].sort() };
}

export function zoneSummary(services: ServiceRow[], o: ZoneOptions) {
  const { available, unavailable } = zonesOf(services, o);
  const entry = (zoneName: string, ok: boolean) => ({
    zoneName,
    zoneState: { available: ok },
    hosts: null,
  });
  return {
    availabilityZoneInfo: [
      ...available.filter((z) => z !== INTERNAL_ZONE).map((z) => entry(z, true)),
      ...unavailable.filter((z) => z !== INTERNAL_ZONE).map((z) => entry(z, false)),
    ],
  };
}

export function zoneDetail(services: ServiceRow[], o: ZoneOptions) {
  const { available, unavailable } = zonesOf(services, o);
  const hostsByZone = new Map<string, Record<string, Record<string, unknown>>>();
  for (const s of services) {
    if (s.disabled) continue;
    const zone = serviceZone(s, o.defaultZone);
    const hosts = hostsByZone.get(zone) ?? {};
    hosts[s.host] ??= {};
    hosts[s.host][s.binary] = {
      available: isUp(s, o.serviceDownTime, o.now),
      active: true,
      updated_at: novaDateTime(s.updated_at),
    };
    hostsByZone.set(zone, hosts);
  }
  return {
    availabilityZoneInfo: [
      ...available.map((zoneName) => ({
        zoneName,
        zoneState: { available: true },
        hosts: hostsByZone.get(zoneName) ?? {},
      })),
      ...unavailable.map((zoneName) => ({
        zoneName,
        zoneState: { available: false },
        hosts: null,
      })),
    ],
  };
}
