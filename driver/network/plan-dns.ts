/**
 * What one network's dnsmasq serves: a hosts file with every port of the
 * network (short name and name.<domain>), static DHCP leases for the
 * subnets that enable DHCP, and the upstream resolvers for everything else.
 * Only instance names of this network are in its file, so names of other
 * networks do not resolve, and `--local=/<domain>/` keeps queries for them
 * from leaking upstream.
 */
import type { HostNetworkState, NetNetwork } from '../../nova/network-model';
import { netmask, parseCidr, intToIp } from './ipv4';

export interface DnsConfig {
  networkId: string;
  /** the DNS namespace's pin */
  netns: string;
  /** the leg dnsmasq listens on */
  ifname: string;
  domain: string;
  /** upstream resolvers */
  servers: string[];
  /** "<ip> <name> <name>.<domain>" */
  hosts: string[];
  /** "<mac>,<ip>,<name>" */
  dhcpHosts: string[];
  /** "set:<tag>,<network>,static,<mask>,infinite" and the router option per subnet */
  dhcpRanges: {
    tag: string;
    network: string;
    netmask: string;
    gateway: string | null;
    routes: string[];
  }[];
  /** the network's DHCP port address: the resolver and DHCP server instances are told of */
  serverIps: string[];
}

export function dnsConfig(
  state: HostNetworkState,
  net: NetNetwork,
  netns: string,
  ifname: string,
  fallbackServers: string[],
): DnsConfig {
  const domain = state.dns.domain;
  const ports = state.ports.filter((p) => p.networkId === net.id && p.dnsName);
  const hosts = ports
    .flatMap((p) => p.fixedIps.map((f) => `${f.ip} ${p.dnsName} ${p.dnsName}.${domain}`))
    .sort();
  const dhcpSubnets = new Set(net.subnets.filter((s) => s.enableDhcp).map((s) => s.id));
  const dhcpHosts = state.ports
    .filter((p) => p.networkId === net.id && p.deviceOwner.startsWith('compute:'))
    .flatMap((p) =>
      p.fixedIps
        .filter((f) => dhcpSubnets.has(f.subnetId))
        .map((f) => [p.mac.toLowerCase(), f.ip, ...(p.dnsName ? [p.dnsName] : [])].join(',')),
    )
    .sort();
  const subnetServers = net.subnets.flatMap((s) => s.dnsNameservers);
  return {
    networkId: net.id,
    netns,
    ifname,
    domain,
    servers: [...new Set(subnetServers.length ? subnetServers : fallbackServers)],
    hosts,
    dhcpHosts,
    dhcpRanges: net.subnets
      .filter((s) => s.enableDhcp)
      .map((s) => {
        const { network, prefixLen } = parseCidr(s.cidr);
        return {
          tag: `subnet-${s.id}`,
          network: intToIp(network),
          netmask: netmask(prefixLen),
          gateway: s.gatewayIp,
          routes: s.hostRoutes.map((r) => `${r.destination},${r.nexthop}`),
        };
      }),
    serverIps: net.dhcpPort?.ips.map((i) => i.ip) ?? [],
  };
}

/** dnsmasq's command line: everything but the files it re-reads on SIGHUP. */
export function dnsmasqArgs(
  cfg: DnsConfig,
  files: { pid: string; hosts: string; dhcpHosts: string; leases: string },
): string[] {
  const args = [
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    '--strict-order',
    '--bind-interfaces',
    `--interface=${cfg.ifname}`,
    '--except-interface=lo',
    `--pid-file=${files.pid}`,
    `--addn-hosts=${files.hosts}`,
    '--domain-needed',
    `--local=/${cfg.domain}/`,
    `--domain=${cfg.domain}`,
    // the files are re-read as root's: nobody may lack the right to the state directory
    '--user=root',
    ...cfg.servers.map((s) => `--server=${s}`),
  ];
  if (cfg.dhcpRanges.length) {
    args.push(
      `--dhcp-hostsfile=${files.dhcpHosts}`,
      `--dhcp-leasefile=${files.leases}`,
      '--dhcp-no-override',
    );
    for (const r of cfg.dhcpRanges) {
      args.push(`--dhcp-range=set:${r.tag},${r.network},static,${r.netmask},infinite`);
      if (r.gateway) args.push(`--dhcp-option=tag:${r.tag},option:router,${r.gateway}`);
      else args.push(`--dhcp-option=tag:${r.tag},option:router`);
      if (r.routes.length)
        args.push(`--dhcp-option=tag:${r.tag},option:classless-static-route,${r.routes.join(',')}`);
      if (cfg.serverIps.length)
        args.push(`--dhcp-option=tag:${r.tag},option:dns-server,${cfg.serverIps.join(',')}`);
      args.push(`--dhcp-option=tag:${r.tag},option:domain-search,${cfg.domain}`);
    }
  }
  return args;
}
