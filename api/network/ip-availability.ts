/** Neutron's network-ip-availabilities: addresses used and total per subnet of a network (admin only). */
import type { NetTx } from './context';
import { parseIp } from './ipv4';
import { allocationsOfSubnet, listRows, type Row } from './store';

export async function ipAvailability(tx: NetTx, network: Row) {
  const subnets = [];
  for (const s of await listRows(tx.q, 'subnet', { parent_id: network.id })) {
    const pools = s.body.allocation_pools as { start: string; end: string }[];
    subnets.push({
      subnet_id: s.id,
      ip_version: 4,
      cidr: s.body.cidr,
      subnet_name: s.body.name,
      used_ips: (await allocationsOfSubnet(tx.q, s.id)).length,
      total_ips: pools.reduce((n, p) => n + parseIp(p.end)! - parseIp(p.start)! + 1, 0),
    });
  }
  return {
    network_id: network.id,
    network_name: network.body.name,
    tenant_id: network.project_id,
    project_id: network.project_id,
    subnet_ip_availability: subnets,
    used_ips: subnets.reduce((n, s) => n + s.used_ips, 0),
    total_ips: subnets.reduce((n, s) => n + s.total_ips, 0),
  };
}
