/** os-interface attachments as Nova shapes them (attach_interfaces.py), from a port's VIF. */
import type { Vif } from '../../nova/network-model';

export function interfaceAttachment(vif: Vif, tag: string | null | undefined, showTag: boolean) {
  return {
    net_id: vif.network.id,
    port_id: vif.id,
    mac_addr: vif.address,
    // The port's Neutron status: ACTIVE once the compute has plugged it.
    port_state: vif.active ? 'ACTIVE' : 'DOWN',
    fixed_ips: vif.network.subnets.flatMap((s) =>
      s.ips
        .filter((ip) => ip.type === 'fixed')
        .map((ip) => ({ subnet_id: s.meta.subnet_id, ip_address: ip.address })),
    ),
    ...(showTag ? { tag: tag ?? null } : {}),
  };
}
