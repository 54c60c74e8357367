/**
 * Names of what the data plane makes. Every host-side device starts with
 * `[network] device_prefix` and a one-letter kind, so that sync can tell
 * its own devices from anyone else's by name alone, and two berths with
 * different prefixes never touch each other's. Linux caps a device name at
 * 15 characters (IFNAMSIZ - 1): the rest of the name is the owner's id.
 */
import path from 'node:path';

export type DeviceKind =
  /** the network's bridge */
  | 'n'
  /** the network's VXLAN device */
  | 'x'
  /** an instance port's host end */
  | 't'
  /** a router leg's host end */
  | 'r'
  /** a DNS/DHCP leg's host end */
  | 'd'
  /** the host end of a router's or DNS namespace's uplink */
  | 'u';

const IFNAMSIZ = 15;

export function deviceName(prefix: string, kind: DeviceKind, id: string): string {
  const chars = id.replace(/-/g, '');
  return `${prefix}${kind}${chars.slice(0, IFNAMSIZ - prefix.length - 1)}`;
}

/** The kind of one of our devices, or undefined for a device that is not ours. */
export function deviceKind(prefix: string, name: string): DeviceKind | undefined {
  if (!name.startsWith(prefix) || name.length <= prefix.length + 1) return undefined;
  const kind = name[prefix.length];
  return 'nxtrdu'.includes(kind) ? (kind as DeviceKind) : undefined;
}

/** Inside a namespace of ours names are free: the instance's interfaces are eth0, eth1, ... */
export const instanceIfname = (index: number) => `eth${index}`;
/** a router's leg for one interface (Neutron's qr- device) */
export const routerLegName = (portId: string) => `qr-${portId.slice(0, 11)}`;
/** a DNS namespace's leg (Neutron's ns- device) */
export const dnsLegName = (portId: string) => `ns-${portId.slice(0, 11)}`;
/** the namespace end of an uplink */
export const UPLINK_PEER = 'up0';

export type NetnsKind = 'instance' | 'router' | 'dhcp';

export function netnsPath(stateDir: string, kind: NetnsKind, id: string): string {
  return path.join(stateDir, 'netns', `${kind}-${id}`);
}

export function parseNetnsName(name: string): { kind: NetnsKind; id: string } | undefined {
  const m = /^(instance|router|dhcp)-(.+)$/.exec(name);
  return m ? { kind: m[1] as NetnsKind, id: m[2] } : undefined;
}

/** nft tables of the host: the ports' (anti-spoofing, a chain per port), one per network (VXLAN filter), the host's */
export const portsTableName = (prefix: string) => `${prefix}_ports`;
export const PORT_CHAIN_PREFIX = 'port_';
export const portChainName = (portId: string) => `${PORT_CHAIN_PREFIX}${portId}`;
export const networkTableName = (prefix: string, networkId: string) => `${prefix}_net_${networkId}`;
export const hostTableName = (prefix: string) => `${prefix}_host`;
/** the table in every instance's and router's namespace */
export const NS_TABLE = 'berth';
