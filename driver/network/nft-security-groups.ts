/**
 * Security groups as nft text for the instance's own namespace: table
 * `inet berth`, one ingress and one egress chain per interface, stateful
 * (established/related accepted before any rule), remote groups as sets
 * of member addresses. Enforcing inside the instance's namespace keeps the
 * host's bridge path rule-free and makes conntrack per instance, so that
 * two instances with overlapping addresses on different networks never
 * share a connection entry (what Neutron needs conntrack zones for).
 */
import type { NetSecurityGroup, NetSecurityGroupRule } from '../../nova/network-model';
import { NS_TABLE } from './names';

export interface FilteredInterface {
  ifname: string;
  portSecurity: boolean;
  /** the port's groups; an empty list with port security on lets nothing new in or out */
  groupIds: string[];
}

const PROTOCOLS: Record<string, string> = { tcp: '6', udp: '17', icmp: '1', sctp: '132' };

const setName = (groupId: string) => `sg_${groupId.replace(/-/g, '_')}`;

/** The match part of one rule, or null when it can never match an IPv4 packet. */
export function ruleMatch(rule: NetSecurityGroupRule): string | null {
  if (rule.ethertype !== 'IPv4') return null;
  const parts = ['meta nfproto ipv4'];
  const peer = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  if (rule.remoteIpPrefix) parts.push(`ip ${peer} ${rule.remoteIpPrefix}`);
  if (rule.remoteGroupId) parts.push(`ip ${peer} @${setName(rule.remoteGroupId)}`);
  const proto = rule.protocol === null ? null : (PROTOCOLS[rule.protocol] ?? rule.protocol);
  if (proto === '6' || proto === '17' || proto === '132') {
    const name = { '6': 'tcp', '17': 'udp', '132': 'sctp' }[proto];
    parts.push(`meta l4proto ${name}`);
    if (rule.portRangeMin !== null) {
      const max = rule.portRangeMax ?? rule.portRangeMin;
      parts.push(
        `${name} dport ${max === rule.portRangeMin ? max : `${rule.portRangeMin}-${max}`}`,
      );
    }
  } else if (proto === '1') {
    parts.push('meta l4proto icmp');
    // Neutron: port_range_min is the ICMP type, port_range_max its code.
    if (rule.portRangeMin !== null) parts.push(`icmp type ${rule.portRangeMin}`);
    if (rule.portRangeMin !== null && rule.portRangeMax !== null)
      parts.push(`icmp code ${rule.portRangeMax}`);
  } else if (proto !== null) {
    parts.push(`meta l4proto ${Number(proto)}`);
  }
  return parts.join(' ');
}

function chainBody(
  iface: FilteredInterface,
  direction: 'ingress' | 'egress',
  groups: Map<string, NetSecurityGroup>,
): string[] {
  if (!iface.portSecurity) return ['accept'];
  const lines: string[] = [];
  // The instance must be able to ask for its address before any rule can know it.
  if (direction === 'egress') lines.push('udp sport 68 udp dport 67 accept');
  for (const id of iface.groupIds) {
    for (const rule of groups.get(id)?.rules ?? []) {
      if (rule.direction !== direction) continue;
      const match = ruleMatch(rule);
      if (match) lines.push(`${match} accept`);
    }
  }
  lines.push('drop');
  return lines;
}

/** The whole table, replacing any previous one in one transaction. */
export function instanceFilterScript(
  interfaces: FilteredInterface[],
  groups: NetSecurityGroup[],
): string {
  const byId = new Map(groups.map((g) => [g.id, g]));
  const remote = new Set<string>();
  for (const iface of interfaces.filter((i) => i.portSecurity))
    for (const id of iface.groupIds)
      for (const rule of byId.get(id)?.rules ?? [])
        if (rule.remoteGroupId && rule.ethertype === 'IPv4') remote.add(rule.remoteGroupId);
  const out = [
    `table inet ${NS_TABLE} {}`,
    `delete table inet ${NS_TABLE}`,
    `table inet ${NS_TABLE} {`,
  ];
  for (const id of [...remote].sort()) {
    const members = byId.get(id)?.memberIps ?? [];
    out.push(`  set ${setName(id)} {`, '    type ipv4_addr', '    flags interval');
    if (members.length) out.push(`    elements = { ${members.join(', ')} }`);
    out.push('  }');
  }
  const hook = (name: string, hookName: string, key: 'iifname' | 'oifname', dir: 'in' | 'out') => {
    out.push(
      `  chain ${name} {`,
      `    type filter hook ${hookName} priority filter; policy accept;`,
    );
    out.push('    ct state established,related accept', '    ct state invalid drop');
    out.push(`    ${key} "lo" accept`);
    for (const iface of interfaces)
      out.push(`    ${key} "${iface.ifname}" jump ${dir}_${iface.ifname}`);
    out.push('  }');
  };
  hook('ingress', 'input', 'iifname', 'in');
  hook('egress', 'output', 'oifname', 'out');
  for (const iface of interfaces) {
    for (const [dir, direction] of [
      ['in', 'ingress'],
      ['out', 'egress'],
    ] as const) {
      out.push(`  chain ${dir}_${iface.ifname} {`);
      for (const line of chainBody(iface, direction, byId)) out.push(`    ${line}`);
      out.push('  }');
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
