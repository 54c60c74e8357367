/**
 * nft text for the host's namespace: anti-spoofing per port and the VXLAN
 * filter per network (bridge family: they see frames, ARP included, as
 * they cross the bridge), and the host table for router and DNS uplinks.
 * A network's and the host's are tables of their own, replaced whole in
 * one transaction, so that their rules go with one `delete table`. Ports
 * share one table, a chain each, reached through a map from the tap's
 * name: every nft transaction costs time in proportion to the tables of
 * the namespace (about 2 ms a table here), so a table per port would make
 * each build and delete slower by the host's instance count.
 */
import { hostTableName, networkTableName, portChainName, portsTableName } from './names';

/** `table x {}` first so that `delete table` succeeds when there was none. */
export function replaceTable(family: string, name: string, body: string[]): string {
  return [
    `table ${family} ${name} {}`,
    `delete table ${family} ${name}`,
    `table ${family} ${name} {`,
    ...body.map((l) => `  ${l}`),
    '}',
    '',
  ].join('\n');
}

export const deleteTable = (family: string, name: string) =>
  `table ${family} ${name} {}\ndelete table ${family} ${name}\n`;

const set = (items: string[]) => `{ ${[...new Set(items)].join(', ')} }`;

export interface PortIdentity {
  portId: string;
  tap: string;
  mac: string;
  ips: string[];
  /** allowed_address_pairs: ip may be a CIDR; mac defaults to the port's */
  pairs: { ipAddress: string; macAddress: string }[];
  portSecurity: boolean;
}

/**
 * Frames from the instance (entering the bridge by its tap) must carry its
 * MAC and one of its addresses, ARP included; DHCP's discover from 0.0.0.0
 * is the one exception. Only IPv4 and ARP leave: there is no IPv6 here to
 * spoof with.
 */
export function portFilterScript(prefix: string, port: PortIdentity): string {
  if (!port.portSecurity) return deletePortScript(prefix, [port]);
  const macs = set(
    [port.mac, ...port.pairs.map((p) => p.macAddress || port.mac)].map((m) => m.toLowerCase()),
  );
  const addresses = [...port.ips, ...port.pairs.map((p) => p.ipAddress)];
  // nft has no empty anonymous set: a port without an address may send no IP or ARP at all.
  const notMine = addresses.length ? ` != ${set(addresses)}` : ' 0.0.0.0/0';
  const table = `bridge ${portsTableName(prefix)}`;
  const chain = `${table} ${portChainName(port.portId)}`;
  return [
    portsTable(prefix),
    `add chain ${chain}`,
    `flush chain ${chain}`,
    ...[
      `ether saddr != ${macs} drop`,
      'ether type != { ip, arp } drop',
      'ip saddr 0.0.0.0 udp sport 68 udp dport 67 return',
      `ether type ip ip saddr${notMine} drop`,
      `ether type arp arp saddr ether != ${macs} drop`,
      `ether type arp arp saddr ip${notMine} drop`,
    ].map((rule) => `add rule ${chain} ${rule}`),
    // The same tap always jumps to the same chain: adding it again changes nothing.
    `add element ${table} taps { "${port.tap}" : jump ${portChainName(port.portId)} }`,
    '',
  ].join('\n');
}

/** The ports' chains and their taps' map entries go; what was not there is no error. */
export function deletePortScript(
  prefix: string,
  ports: Pick<PortIdentity, 'portId' | 'tap'>[],
): string {
  const table = `bridge ${portsTableName(prefix)}`;
  return [
    portsTable(prefix),
    ...ports.flatMap(({ portId, tap }) => {
      const chain = portChainName(portId);
      // Made first where absent, so that each delete has something to delete.
      return [
        `add chain ${table} ${chain}`,
        `add element ${table} taps { "${tap}" : jump ${chain} }`,
        `delete element ${table} taps { "${tap}" }`,
        `flush chain ${table} ${chain}`,
        `delete chain ${table} ${chain}`,
      ];
    }),
    '',
  ].join('\n');
}

/** The ports' table, made where absent: the forward hook sends each tap's frames to its chain. */
function portsTable(prefix: string): string {
  const table = `bridge ${portsTableName(prefix)}`;
  return [
    `add table ${table}`,
    `add map ${table} taps { type ifname : verdict; }`,
    `add chain ${table} forward { type filter hook forward priority -10; policy accept; }`,
    `flush chain ${table} forward`,
    `add rule ${table} forward iifname vmap @taps`,
  ].join('\n');
}

/**
 * Every host has the same router legs and DNS leg (gateway IP and MAC,
 * DHCP port): their frames, and ARP for their addresses, stay on the host
 * they belong to and never cross the VXLAN device.
 */
export function networkFilterScript(
  prefix: string,
  networkId: string,
  vxlan: string,
  local: { macs: string[]; ips: string[] },
): string {
  const name = networkTableName(prefix, networkId);
  if (!local.macs.length) return deleteTable('bridge', name);
  const macs = set(local.macs.map((m) => m.toLowerCase()));
  const body = [
    'chain forward {',
    '  type filter hook forward priority -10; policy accept;',
    `  iifname "${vxlan}" ether saddr ${macs} drop`,
    `  oifname "${vxlan}" ether saddr ${macs} drop`,
    `  oifname "${vxlan}" ether daddr ${macs} drop`,
  ];
  if (local.ips.length) {
    const ips = set(local.ips);
    body.push(
      `  iifname "${vxlan}" ether type arp arp saddr ip ${ips} drop`,
      `  oifname "${vxlan}" ether type arp arp daddr ip ${ips} drop`,
    );
  }
  body.push('}');
  return replaceTable('bridge', name, body);
}

/**
 * Uplinks forward (routers reach the outside, the outside reaches floating
 * IPs) but open no connection to the host itself; DNS namespaces have no
 * public address of their own, so their queries leave masqueraded.
 */
export function hostFilterScript(prefix: string, dnsUplinkPeers: string[]): string {
  const uplinks = `iifname "${prefix}u*"`;
  const body = [
    'chain input {',
    '  type filter hook input priority filter; policy accept;',
    `  ${uplinks} ct state established,related accept`,
    `  ${uplinks} drop`,
    '}',
    'chain postrouting {',
    '  type nat hook postrouting priority srcnat; policy accept;',
  ];
  if (dnsUplinkPeers.length)
    body.push(`  ip saddr ${set(dnsUplinkPeers)} oifname != "${prefix}u*" masquerade`);
  body.push('}');
  return replaceTable('inet', hostTableName(prefix), body);
}
