/**
 * Nova network_info entries (nova/network-model.ts Vif) for tests: the
 * shape berth's network service hands the compute, built from a few facts
 * about one port on one IPv4 subnet.
 */
import { randomUUID } from 'node:crypto';
import { tapName, type Vif } from '../../nova/network-model';

export interface VifFacts {
  portId?: string;
  mac?: string;
  networkId?: string;
  networkName?: string;
  projectId?: string;
  subnetId?: string;
  /** e.g. 10.0.0.0/24 */
  cidr?: string;
  ip?: string;
  gateway?: string | null;
  dhcpServer?: string;
  dns?: string[];
  routes?: { destination: string; nexthop: string }[];
  floatingIps?: string[];
  mtu?: number;
  vni?: number;
  dnsName?: string;
  preserveOnDelete?: boolean;
}

export function buildVif(f: VifFacts = {}): Vif {
  const id = f.portId ?? randomUUID();
  const cidr = f.cidr ?? '10.0.0.0/24';
  const gateway = f.gateway === undefined ? firstHost(cidr, 1) : f.gateway;
  return {
    id,
    address: f.mac ?? 'fa:16:3e:00:00:01',
    type: 'bridge',
    devname: tapName(id),
    vnic_type: 'normal',
    active: false,
    network: {
      id: f.networkId ?? randomUUID(),
      label: f.networkName ?? 'private',
      bridge: null,
      subnets: [
        {
          cidr,
          version: 4,
          gateway: { address: gateway, type: 'gateway', version: 4 },
          dns: (f.dns ?? []).map((address) => ({ address, type: 'dns', version: 4 })),
          ips: [
            {
              address: f.ip ?? firstHost(cidr, 10),
              type: 'fixed',
              version: 4,
              floating_ips: (f.floatingIps ?? []).map((address) => ({
                address,
                type: 'floating',
                version: 4,
              })),
            },
          ],
          routes: (f.routes ?? []).map((r) => ({
            cidr: r.destination,
            gateway: { address: r.nexthop, type: 'gateway', version: 4 },
          })),
          meta: {
            subnet_id: f.subnetId ?? randomUUID(),
            enable_dhcp: true,
            ...(f.dhcpServer ? { dhcp_server: f.dhcpServer } : {}),
          },
        },
      ],
      meta: {
        mtu: f.mtu ?? 1450,
        tenant_id: f.projectId ?? 'demo',
        injected: false,
        vni: f.vni ?? 1,
      },
    },
    details: { port_filter: true },
    profile: {},
    preserve_on_delete: f.preserveOnDelete ?? false,
    meta: f.dnsName ? { dns_name: f.dnsName } : {},
  };
}

/** The `n`th address of an IPv4 CIDR (n = 1: the first host). */
export function firstHost(cidr: string, n: number): string {
  const [base] = cidr.split('/');
  const value = base.split('.').reduce((v, octet) => v * 256 + Number(octet), 0) + n;
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}
