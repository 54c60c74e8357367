/**
 * A server's addresses as Nova's ips view builder shapes them
 * (views/ips.py over common.get_networks_for_instance): by network name,
 * in port order, each network's fixed IPs first and then its floating IPs;
 * the server views add the address type and the port's MAC.
 */
import type { Vif } from '../../nova/network-model';

export interface Address {
  version: 4 | 6;
  addr: string;
  'OS-EXT-IPS:type'?: 'fixed' | 'floating';
  'OS-EXT-IPS-MAC:mac_addr'?: string;
}

export function addressesOf(vifs: Vif[], extended: boolean): Record<string, Address[]> {
  const byLabel = new Map<string, { fixed: Address[]; floating: Address[] }>();
  for (const vif of vifs) {
    const label = vif.network.label;
    const entry = byLabel.get(label) ?? { fixed: [], floating: [] };
    byLabel.set(label, entry);
    const shape = (ip: { address: string; version: 4 | 6; type: 'fixed' | 'floating' }) => ({
      version: ip.version,
      addr: ip.address,
      ...(extended ? { 'OS-EXT-IPS:type': ip.type, 'OS-EXT-IPS-MAC:mac_addr': vif.address } : {}),
    });
    for (const ip of vif.network.subnets.flatMap((s) => s.ips)) {
      if (ip.type !== 'fixed') continue;
      entry.fixed.push(shape(ip));
      for (const floating of ip.floating_ips ?? []) entry.floating.push(shape(floating));
    }
  }
  return Object.fromEntries(
    [...byLabel].map(([label, { fixed, floating }]) => [label, [...fixed, ...floating]]),
  );
}
