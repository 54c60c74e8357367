/**
 * The network contracts shared by the control plane (api/network) and the
 * computes (driver/network):
 *
 * - `Vif`: Nova's network model (nova.network.model.VIF), the JSON that
 *   Nova keeps in `instance.info_cache.network_info` and hands to the
 *   driver's spawn. berth's API fills it when it binds an instance's ports;
 *   the compute reads it from the Instance primitive of build_and_run_instance
 *   and attach_interface.
 * - `HostNetworkState`: everything one compute host needs to build its data
 *   plane (Neutron's agent RPC + l2population in one document). The compute
 *   asks for it with `get_host_state`, and asks again whenever the control
 *   plane fans out `state_changed`: level-triggered, so a lost notification
 *   only delays, never loses, a change.
 */

/** An IP address as Nova's model carries it. */
export interface VifIp {
  address: string;
  type: 'fixed' | 'floating';
  version: 4 | 6;
  /** floating IPs associated with this fixed IP (only on fixed IPs) */
  floating_ips?: VifIp[];
}

export interface VifRoute {
  cidr: string;
  gateway: { address: string; type: 'gateway'; version: 4 | 6 };
}

export interface VifSubnet {
  cidr: string;
  version: 4 | 6;
  gateway: { address: string | null; type: 'gateway'; version: 4 | 6 };
  /** the subnet's dns_nameservers */
  dns: { address: string; type: 'dns'; version: 4 | 6 }[];
  ips: VifIp[];
  /** the subnet's host_routes */
  routes: VifRoute[];
  meta: {
    /** the network's DHCP/DNS port address on this subnet: the instance's resolver */
    dhcp_server?: string;
    subnet_id: string;
    enable_dhcp: boolean;
  };
}

export interface VifNetwork {
  id: string;
  /** the network's name */
  label: string;
  bridge: string | null;
  subnets: VifSubnet[];
  meta: { mtu: number; tenant_id: string; injected: false; vni: number };
}

/** One port of an instance (nova.network.model.VIF, as JSON). */
export interface Vif {
  /** the port id */
  id: string;
  /** the port's MAC */
  address: string;
  type: 'bridge';
  /** the host end of the veth (Neutron's tap + 11 characters of the port id) */
  devname: string;
  vnic_type: 'normal';
  active: boolean;
  network: VifNetwork;
  details: { port_filter: true };
  profile: Record<string, unknown>;
  /** true for ports the user made (`--nic port-id`): kept, only unbound, when the server goes */
  preserve_on_delete: boolean;
  meta: { dns_name?: string };
}

export type NetworkInfo = Vif[];

/** ---- The agent document (one per compute host) ---- */

export interface NetSubnet {
  id: string;
  cidr: string;
  gatewayIp: string | null;
  dnsNameservers: string[];
  hostRoutes: { destination: string; nexthop: string }[];
  enableDhcp: boolean;
  allocationPools: { start: string; end: string }[];
}

export interface NetNetwork {
  id: string;
  name: string;
  projectId: string;
  mtu: number;
  /** the VXLAN network identifier; every host uses the same one for a network */
  vni: number;
  subnets: NetSubnet[];
  /** the network's DHCP/DNS service port (device_owner network:dhcp), when it has a subnet */
  dhcpPort: { id: string; mac: string; ips: { subnetId: string; ip: string }[] } | null;
}

export interface NetPort {
  id: string;
  networkId: string;
  mac: string;
  fixedIps: { subnetId: string; ip: string }[];
  /** binding:host_id */
  host: string | null;
  /** the VXLAN endpoint (my_ip) of `host`, when known */
  tunnelIp: string | null;
  deviceId: string;
  deviceOwner: string;
  /** the name other instances of the network resolve to this port's IPs */
  dnsName: string;
  adminStateUp: boolean;
  portSecurityEnabled: boolean;
  securityGroupIds: string[];
  allowedAddressPairs: { ipAddress: string; macAddress: string }[];
}

export interface NetSecurityGroupRule {
  id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** null = any; else a name (tcp, udp, icmp, ...) or an IP protocol number as a string */
  protocol: string | null;
  portRangeMin: number | null;
  portRangeMax: number | null;
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
}

export interface NetSecurityGroup {
  id: string;
  rules: NetSecurityGroupRule[];
  /** the fixed IPs (and allowed address pair IPs) of every port in the group, on any host */
  memberIps: string[];
}

export interface NetRouterInterface {
  portId: string;
  networkId: string;
  subnetId: string;
  /** the subnet's gateway address, held by the router */
  ip: string;
  /** prefix length of the subnet */
  prefixLen: number;
  mac: string;
}

export interface NetRouter {
  id: string;
  /** external gateway: the address SNAT uses on `public`; null = no gateway */
  externalGateway: { networkId: string; ip: string; enableSnat: boolean } | null;
  interfaces: NetRouterInterface[];
  routes: { destination: string; nexthop: string }[];
}

export interface NetFloatingIp {
  id: string;
  ip: string;
  portId: string;
  fixedIp: string;
  routerId: string;
}

export interface NetPortForwarding {
  id: string;
  floatingIpId: string;
  externalIp: string;
  externalPort: number;
  internalIp: string;
  internalPort: number;
  internalPortId: string;
  protocol: 'tcp' | 'udp';
  routerId: string;
}

export interface HostNetworkState {
  /** increases with every change the control plane commits */
  revision: number;
  host: string;
  /** the external network: its CIDR is routed to the routers of this host */
  public: { networkId: string; cidr: string; gatewayIp: string; mtu: number };
  dns: { domain: string };
  /** networks with at least one port bound to this host */
  networks: NetNetwork[];
  /** every port of those networks, local or not (for FDB, neighbours and DNS) */
  ports: NetPort[];
  /** groups of the local ports, and groups their rules name as remote groups */
  securityGroups: NetSecurityGroup[];
  /** routers with an interface on one of those networks */
  routers: NetRouter[];
  /** floating IPs of local ports */
  floatingIps: NetFloatingIp[];
  /** port forwardings to local ports */
  portForwardings: NetPortForwarding[];
}

/** The agent RPC, served by `berth api` (oslo.messaging, JSON arguments). */
export const NETWORK_RPC = {
  /** call target of the control plane's network service */
  server: { topic: 'berth-network', version: '1.0' },
  /** fanout target every compute listens on */
  agents: { topic: 'berth-network-agent', version: '1.0' },
  methods: {
    /** (host: string, tunnel_ip: string) -> HostNetworkState; records tunnel_ip as the host's VTEP */
    getHostState: 'get_host_state',
    /** (host: string, port_ids: string[], status: 'ACTIVE' | 'DOWN') -> null */
    portsStatus: 'update_ports_status',
    /** fanout cast (revision: number) to every compute */
    stateChanged: 'state_changed',
  },
} as const;

/** Neutron's name for the host end of a port's veth: "tap" + the first 11 characters of its id. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}
