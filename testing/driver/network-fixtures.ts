/**
 * Builders of the network documents tests feed the data plane: Nova's VIFs
 * and the agent's HostNetworkState, consistent with each other (the VIF of
 * a port and the document's entry for it agree on MAC, IPs and network).
 */
import type { HostNetworkState, NetNetwork, NetPort, Vif } from '../../nova/network-model';
import { tapName } from '../../nova/network-model';

export interface FixtureNetwork {
  id: string;
  vni: number;
  cidr: string;
  gateway: string | null;
  dhcpIp?: string;
  mtu?: number;
  subnetId?: string;
}

export interface FixturePort {
  id: string;
  mac: string;
  ip: string;
  network: FixtureNetwork;
  dnsName?: string;
  host?: string;
  tunnelIp?: string;
  securityGroupIds?: string[];
  deviceId?: string;
}

export function fixtureVif(p: FixturePort): Vif {
  const n = p.network;
  return {
    id: p.id,
    address: p.mac,
    type: 'bridge',
    devname: tapName(p.id),
    vnic_type: 'normal',
    active: false,
    network: {
      id: n.id,
      label: `net-${n.vni}`,
      bridge: null,
      subnets: [
        {
          cidr: n.cidr,
          version: 4,
          gateway: { address: n.gateway, type: 'gateway', version: 4 },
          dns: [],
          ips: [{ address: p.ip, type: 'fixed', version: 4 }],
          routes: [],
          meta: {
            subnet_id: n.subnetId ?? `${n.id}-subnet`,
            enable_dhcp: true,
            dhcp_server: n.dhcpIp,
          },
        },
      ],
      meta: { mtu: n.mtu ?? 1450, tenant_id: 'project', injected: false, vni: n.vni },
    },
    details: { port_filter: true },
    profile: {},
    preserve_on_delete: false,
    meta: { dns_name: p.dnsName },
  };
}

export function fixtureNetwork(n: FixtureNetwork, dhcpMac?: string): NetNetwork {
  const subnetId = n.subnetId ?? `${n.id}-subnet`;
  return {
    id: n.id,
    name: `net-${n.vni}`,
    projectId: 'project',
    mtu: n.mtu ?? 1450,
    vni: n.vni,
    subnets: [
      {
        id: subnetId,
        cidr: n.cidr,
        gatewayIp: n.gateway,
        dnsNameservers: [],
        hostRoutes: [],
        enableDhcp: true,
        allocationPools: [],
      },
    ],
    dhcpPort:
      n.dhcpIp && dhcpMac
        ? { id: `${n.id}-dhcp`, mac: dhcpMac, ips: [{ subnetId, ip: n.dhcpIp }] }
        : null,
  };
}

export function fixturePort(p: FixturePort): NetPort {
  return {
    id: p.id,
    networkId: p.network.id,
    mac: p.mac,
    fixedIps: [{ subnetId: p.network.subnetId ?? `${p.network.id}-subnet`, ip: p.ip }],
    host: p.host ?? null,
    tunnelIp: p.tunnelIp ?? null,
    deviceId: p.deviceId ?? 'instance',
    deviceOwner: 'compute:nova',
    dnsName: p.dnsName ?? '',
    adminStateUp: true,
    portSecurityEnabled: true,
    securityGroupIds: p.securityGroupIds ?? ['sg-default'],
    allowedAddressPairs: [],
  };
}

/** Neutron's default group: all egress, ingress from members only. */
export function defaultGroup(id: string, memberIps: string[]) {
  return {
    id,
    memberIps,
    rules: [rule(`${id}-e4`, 'egress', {}), rule(`${id}-i4`, 'ingress', { remoteGroupId: id })],
  };
}

export function rule(
  id: string,
  direction: 'ingress' | 'egress',
  r: Partial<{
    protocol: string;
    portRangeMin: number;
    portRangeMax: number;
    remoteIpPrefix: string;
    remoteGroupId: string;
  }>,
) {
  return {
    id,
    direction,
    ethertype: 'IPv4' as const,
    protocol: r.protocol ?? null,
    portRangeMin: r.portRangeMin ?? null,
    portRangeMax: r.portRangeMax ?? null,
    remoteIpPrefix: r.remoteIpPrefix ?? null,
    remoteGroupId: r.remoteGroupId ?? null,
  };
}

export function hostState(host: string, patch: Partial<HostNetworkState> = {}): HostNetworkState {
  return {
    revision: 1,
    host,
    public: { networkId: 'public', cidr: '172.24.4.0/24', gatewayIp: '172.24.4.1', mtu: 1500 },
    dns: { domain: 'berth.test' },
    networks: [],
    ports: [],
    securityGroups: [],
    routers: [],
    floatingIps: [],
    portForwardings: [],
    ...patch,
  };
}
