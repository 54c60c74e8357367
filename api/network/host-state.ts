/**
 * The HostNetworkState of one compute host (nova/network-model.ts), built
 * as a pure function of the network rows so that it is tested without a
 * database: the networks with ports bound to the host, every port of
 * those networks (for FDB entries, neighbours and DNS), the security
 * groups those ports and their rules' remote groups need, the routers on
 * those networks, and the floating IPs and port forwardings of local
 * ports.
 */
import type {
  HostNetworkState,
  NetNetwork,
  NetPort,
  NetSecurityGroup,
  NetRouter,
} from '../../nova/network-model';
import type { FixedIp } from './ipam';
import { parseCidr } from './ipv4';
import { portHostname } from './ports';
import type { Row } from './store';

export interface NetworkSnapshot {
  revision: number;
  publicNetworkId: string | null;
  dnsDomain: string;
  networks: Row[];
  subnets: Row[];
  ports: Row[];
  securityGroups: Row[];
  rules: Row[];
  routers: Row[];
  floatingIps: Row[];
  portForwardings: Row[];
  /** host → its VXLAN endpoint (my_ip), as the computes reported them */
  tunnelIps: Map<string, string>;
}

const ips = (p: Row) => p.body.fixed_ips as FixedIp[];
const hostOf = (p: Row) => (p.body['binding:host_id'] as string) || null;

function netPort(s: NetworkSnapshot, p: Row): NetPort {
  const host = hostOf(p);
  return {
    id: p.id,
    networkId: p.parent_id,
    mac: p.body.mac_address,
    fixedIps: ips(p).map((f) => ({ subnetId: f.subnet_id, ip: f.ip_address })),
    host,
    tunnelIp: host ? (s.tunnelIps.get(host) ?? null) : null,
    deviceId: p.body.device_id,
    deviceOwner: p.body.device_owner,
    dnsName: ips(p).length ? portHostname(p, ips(p)[0].ip_address) : (p.body.dns_name as string),
    adminStateUp: p.body.admin_state_up,
    portSecurityEnabled: p.body.port_security_enabled,
    securityGroupIds: p.body.security_groups,
    allowedAddressPairs: (
      p.body.allowed_address_pairs as { ip_address: string; mac_address: string }[]
    ).map((a) => ({ ipAddress: a.ip_address, macAddress: a.mac_address })),
  };
}

function netNetwork(s: NetworkSnapshot, n: Row): NetNetwork {
  const dhcp = s.ports.find((p) => p.parent_id === n.id && p.body.device_owner === 'network:dhcp');
  return {
    id: n.id,
    name: n.body.name,
    projectId: n.project_id,
    mtu: n.body.mtu,
    vni: n.body['provider:segmentation_id'] ?? 0,
    subnets: s.subnets
      .filter((x) => x.parent_id === n.id)
      .map((x) => ({
        id: x.id,
        cidr: x.body.cidr,
        gatewayIp: x.body.gateway_ip,
        dnsNameservers: x.body.dns_nameservers,
        hostRoutes: x.body.host_routes,
        enableDhcp: x.body.enable_dhcp,
        allocationPools: x.body.allocation_pools,
      })),
    dhcpPort: dhcp
      ? {
          id: dhcp.id,
          mac: dhcp.body.mac_address,
          ips: ips(dhcp).map((f) => ({ subnetId: f.subnet_id, ip: f.ip_address })),
        }
      : null,
  };
}

function netGroups(s: NetworkSnapshot, local: Row[]): NetSecurityGroup[] {
  const wanted = new Set(local.flatMap((p) => p.body.security_groups as string[]));
  for (const r of s.rules)
    if (wanted.has(r.parent_id) && r.body.remote_group_id) wanted.add(r.body.remote_group_id);
  return s.securityGroups
    .filter((g) => wanted.has(g.id))
    .map((g) => ({
      id: g.id,
      rules: s.rules
        .filter((r) => r.parent_id === g.id)
        .map((r) => ({
          id: r.id,
          direction: r.body.direction,
          ethertype: r.body.ethertype,
          protocol: r.body.protocol,
          portRangeMin: r.body.port_range_min,
          portRangeMax: r.body.port_range_max,
          remoteIpPrefix: r.body.remote_ip_prefix,
          remoteGroupId: r.body.remote_group_id,
        })),
      memberIps: [
        ...new Set(
          s.ports
            .filter((p) => (p.body.security_groups as string[]).includes(g.id))
            .flatMap((p) => [
              ...ips(p).map((f) => f.ip_address),
              ...(p.body.allowed_address_pairs as { ip_address: string }[]).map(
                (a) => a.ip_address,
              ),
            ]),
        ),
      ],
    }));
}

function netRouters(s: NetworkSnapshot, networkIds: Set<string>): NetRouter[] {
  const out: NetRouter[] = [];
  for (const r of s.routers) {
    const legs = s.ports.filter(
      (p) => p.device_id === r.id && p.body.device_owner === 'network:router_interface',
    );
    if (!legs.some((p) => networkIds.has(p.parent_id))) continue;
    const gw = s.ports.find(
      (p) => p.device_id === r.id && p.body.device_owner === 'network:router_gateway',
    );
    const info = r.body.external_gateway_info;
    out.push({
      id: r.id,
      externalGateway:
        gw && info && ips(gw).length
          ? {
              networkId: gw.parent_id,
              ip: ips(gw)[0].ip_address,
              enableSnat: info.enable_snat !== false,
            }
          : null,
      interfaces: legs.flatMap((p) =>
        ips(p).map((f) => ({
          portId: p.id,
          networkId: p.parent_id,
          subnetId: f.subnet_id,
          ip: f.ip_address,
          prefixLen:
            parseCidr(s.subnets.find((x) => x.id === f.subnet_id)?.body.cidr)?.prefix ?? 32,
          mac: p.body.mac_address,
        })),
      ),
      routes: r.body.routes ?? [],
    });
  }
  return out;
}

export function buildHostState(s: NetworkSnapshot, host: string): HostNetworkState {
  const local = s.ports.filter((p) => hostOf(p) === host);
  const localIds = new Set(local.map((p) => p.id));
  const networkIds = new Set(local.map((p) => p.parent_id));
  const pub = s.networks.find((n) => n.id === s.publicNetworkId);
  const pubSubnet = s.subnets.find((x) => x.parent_id === pub?.id);
  const fips = s.floatingIps.filter(
    (f) => f.body.port_id && localIds.has(f.body.port_id) && f.body.router_id,
  );
  return {
    revision: s.revision,
    host,
    public: {
      networkId: pub?.id ?? '',
      cidr: pubSubnet?.body.cidr ?? '',
      gatewayIp: pubSubnet?.body.gateway_ip ?? '',
      mtu: pub?.body.mtu ?? 1500,
    },
    dns: { domain: s.dnsDomain },
    networks: s.networks.filter((n) => networkIds.has(n.id)).map((n) => netNetwork(s, n)),
    ports: s.ports.filter((p) => networkIds.has(p.parent_id)).map((p) => netPort(s, p)),
    securityGroups: netGroups(s, local),
    routers: netRouters(s, networkIds),
    floatingIps: fips.map((f) => ({
      id: f.id,
      ip: f.body.floating_ip_address,
      portId: f.body.port_id,
      fixedIp: f.body.fixed_ip_address,
      routerId: f.body.router_id,
    })),
    portForwardings: s.portForwardings
      .filter((pf) => localIds.has(pf.body.internal_port_id))
      .map((pf) => {
        const fip = s.floatingIps.find((f) => f.id === pf.parent_id);
        return {
          id: pf.id,
          floatingIpId: pf.parent_id,
          externalIp: fip?.body.floating_ip_address ?? '',
          externalPort: pf.body.external_port,
          internalIp: pf.body.internal_ip_address,
          internalPort: pf.body.internal_port,
          internalPortId: pf.body.internal_port_id,
          protocol: pf.body.protocol,
          routerId: pf.body.router_id,
        };
      }),
  };
}
