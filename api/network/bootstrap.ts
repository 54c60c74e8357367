/**
 * The external network `public` exists from the first start: flat,
 * router:external, not shared (as devstack makes it), owned by the admin
 * project, with one subnet from `[network] public_cidr` / `public_gateway`
 * and no DHCP. Idempotent: a restart finds it by the id it recorded.
 */
import { SERVICE_CALLER } from './context';
import { formatCidr, parseCidr } from './ipv4';
import type { NetworkService } from './network-service';
import { NETWORKS } from './networks';
import { findRow } from './store';
import { SUBNETS } from './subnets';

export async function ensurePublicNetwork(svc: NetworkService): Promise<string> {
  const cfg = svc.config.network;
  return svc.write(SERVICE_CALLER, async (tx) => {
    const state = await tx.q('network_state').where({ id: 1 }).first();
    if (state.public_network_id && (await findRow(tx.q, 'network', state.public_network_id)))
      return state.public_network_id as string;
    const network = await NETWORKS.create(tx, {
      network: {
        name: 'public',
        'router:external': true,
        shared: false,
        mtu: cfg.public_mtu,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      },
    });
    await SUBNETS.create(tx, {
      subnet: {
        name: 'public-subnet',
        network_id: network.id,
        ip_version: 4,
        cidr: formatCidr(parseCidr(cfg.public_cidr)!),
        gateway_ip: cfg.public_gateway,
        enable_dhcp: false,
      },
    });
    await tx.q('network_state').where({ id: 1 }).update({ public_network_id: network.id });
    svc.log.info('network: created the external network public', {
      network_id: network.id,
      cidr: cfg.public_cidr,
    });
    return network.id;
  });
}
