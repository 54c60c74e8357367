/**
 * A router namespace's NAT (table `ip berth`): port forwardings and
 * floating IPs DNAT what arrives for them, floating IPs SNAT their fixed
 * IP back to the floating one, and every other tenant source leaving by
 * the uplink is translated to the router's external gateway address.
 */
import type { NetFloatingIp, NetPortForwarding, NetRouter } from '../../nova/network-model';
import { NS_TABLE, UPLINK_PEER } from './names';
import { replaceTable } from './nft-host';

export function routerNatScript(
  router: NetRouter,
  tenantCidrs: string[],
  floatingIps: NetFloatingIp[],
  forwardings: NetPortForwarding[],
): string {
  const uplink = `oifname "${UPLINK_PEER}"`;
  const dnat: string[] = [];
  // Port forwardings first: their external address may also be a 1:1 floating IP's.
  for (const pf of forwardings)
    dnat.push(
      `ip daddr ${pf.externalIp} ${pf.protocol} dport ${pf.externalPort} dnat to ${pf.internalIp}:${pf.internalPort}`,
    );
  for (const fip of floatingIps) dnat.push(`ip daddr ${fip.ip} dnat to ${fip.fixedIp}`);
  const snat = floatingIps.map((fip) => `${uplink} ip saddr ${fip.fixedIp} snat to ${fip.ip}`);
  const gw = router.externalGateway;
  if (gw?.enableSnat && tenantCidrs.length)
    snat.push(`${uplink} ip saddr { ${tenantCidrs.join(', ')} } snat to ${gw.ip}`);
  const chain = (name: string, hook: string, priority: string, rules: string[]) => [
    `chain ${name} {`,
    `  type nat hook ${hook} priority ${priority}; policy accept;`,
    ...rules.map((r) => `  ${r}`),
    '}',
  ];
  return replaceTable('ip', NS_TABLE, [
    ...chain('prerouting', 'prerouting', 'dstnat', dnat),
    ...chain('postrouting', 'postrouting', 'srcnat', snat),
  ]);
}
