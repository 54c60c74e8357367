/**
 * /etc/hostname, /etc/hosts and /etc/resolv.conf of an instance, from its
 * ports: the resolver is its first network's DNS server (the DHCP port's
 * address), names are searched in the DNS domain, and the hostname
 * resolves to the instance's own first address.
 */
import type { Vif } from '../../nova/network-model';
import type { InstanceNetworkFiles } from './network';
import { vifFixedIps } from './plan-port';

export function instanceNetworkFiles(
  hostname: string,
  vifs: readonly Vif[],
  domain: string,
): InstanceNetworkFiles {
  const own = vifs.flatMap(vifFixedIps)[0];
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (own) hosts.push(`${own}\t${hostname}.${domain} ${hostname}`);
  else hosts.push(`127.0.1.1\t${hostname}`);
  const servers = [
    ...new Set(
      vifs.flatMap((v) =>
        v.network.subnets.map((s) => s.meta.dhcp_server).filter((s): s is string => !!s),
      ),
    ),
  ];
  const resolv = [`search ${domain}`, ...servers.slice(0, 3).map((s) => `nameserver ${s}`)];
  return {
    hostname: `${hostname}\n`,
    hosts: `${hosts.join('\n')}\n`,
    resolvConf: `${resolv.join('\n')}\n`,
  };
}
