/**
 * The host's side of sync, as a plan: given the control plane's document,
 * the ports plugged here and what the kernel has, the operations that make
 * the host match — bridges, VXLAN FDB entries, router and DNS namespaces
 * with their legs and uplinks, host routes — then what must go. Level-
 * triggered and idempotent: planning again on the result plans nothing
 * new but the idempotent re-assertions (addresses, routes).
 */
import type { LinkInfo, Netns, RouteSpec } from '../../native';
import type { HostNetworkState, NetNetwork, NetRouter, Vif } from '../../nova/network-model';
import { uplinkPair } from './ipv4';
import {
  deviceKind,
  deviceName,
  dnsLegName,
  hostTableName,
  netnsPath,
  networkTableName,
  parseNetnsName,
  PORT_CHAIN_PREFIX,
  portChainName,
  portsTableName,
  routerLegName,
  UPLINK_PEER,
} from './names';
import {
  deletePortScript,
  deleteTable,
  hostFilterScript,
  networkFilterScript,
  portFilterScript,
} from './nft-host';
import { instanceFilterScript } from './nft-security-groups';
import { routerNatScript } from './nft-router';
import { type Operation, op } from './operations';
import type { PlanContext } from './plan-context';
import { dnsConfig, type DnsConfig } from './plan-dns';
import { bridgeName, planNetworkDevices, portIdentity, tapDevice, vxlanName } from './plan-port';

/** A port plugged into an instance of this host. */
export interface LocalPort {
  instanceUuid: string;
  netns: string;
  ifname: string;
  vif: Vif;
}

export interface Observed {
  hostLinks: LinkInfo[];
  hostRoutes: RouteSpec[];
  /** FDB entries with a remote dst, per VXLAN device of ours */
  fdb: Map<string, { mac: string; dst: string }[]>;
  /** the pin names under <stateDir>/netns */
  pins: string[];
  /** bridge- and inet-family tables of the host namespace */
  hostTables: { family: string; name: string }[];
  /** the chains of the ports' table */
  portChains: string[];
}

/** A whole nft table for one namespace: applied when it differs from what was applied last. */
export interface TableScript {
  key: string;
  netns: Netns;
  script: string;
}

export interface HostPlan {
  ops: Operation[];
  tables: TableScript[];
  /** last: namespaces go once nothing runs in them */
  removals: Operation[];
  dns: DnsConfig[];
  /** uplinks this plan uses, by owner key (router:<id>, dhcp:<network id>) */
  uplinkOwners: string[];
}

export const routerUplinkOwner = (id: string) => `router:${id}`;
export const dnsUplinkOwner = (id: string) => `dhcp:${id}`;

const FLOOD_MAC = '00:00:00:00:00:00';

/** The uplink owners the document needs on this host: allocate these before planning. */
export function neededUplinks(state: HostNetworkState, local: readonly LocalPort[]): string[] {
  const nets = new Set(local.map((p) => p.vif.network.id));
  return [
    ...localRouters(state, nets).map((r) => routerUplinkOwner(r.id)),
    ...state.networks.filter((n) => nets.has(n.id) && n.dhcpPort).map((n) => dnsUplinkOwner(n.id)),
  ];
}

function localRouters(state: HostNetworkState, nets: Set<string>): NetRouter[] {
  return state.routers.filter((r) => r.interfaces.some((i) => nets.has(i.networkId)));
}

export interface SyncInputs {
  ctx: PlanContext;
  state: HostNetworkState;
  local: readonly LocalPort[];
  observed: Observed;
  uplinkCidr: string;
  /** index of each needed owner's /31 in uplinkCidr */
  uplinks: ReadonlyMap<string, number>;
  /** `[network] dns_servers` */
  dnsServers: string[];
}

class Builder {
  readonly ops: Operation[] = [];
  readonly removals: Operation[] = [];
  readonly tables: TableScript[] = [];
  readonly dns: DnsConfig[] = [];
  readonly devices = new Set<string>();
  readonly pins = new Set<string>();
  readonly routes = new Set<string>();
  readonly netTables = new Set<string>();
  readonly dnsUplinkPeers: string[] = [];
  readonly links: Map<string, LinkInfo>;
  constructor(readonly i: SyncInputs) {
    this.links = new Map(i.observed.hostLinks.map((l) => [l.name, l]));
  }
  get ctx() {
    return this.i.ctx;
  }
}

export function planHostSync(inputs: SyncInputs): HostPlan {
  const b = new Builder(inputs);
  const { state, local } = inputs;
  const nets = new Set(local.map((p) => p.vif.network.id));
  for (const port of local) {
    b.devices.add(tapDevice(b.ctx, port.vif.id));
    b.pins.add(`instance-${port.instanceUuid}`);
  }
  for (const net of state.networks.filter((n) => nets.has(n.id))) planNetwork(b, net);
  // Ports of networks the document does not (yet) name keep what plug made.
  for (const port of local) {
    b.devices.add(bridgeName(b.ctx, port.vif.network.id));
    b.devices.add(vxlanName(b.ctx, port.vif.network.id));
  }
  const routers = localRouters(state, nets);
  for (const router of routers) planRouter(b, router, nets);
  planInstanceTables(b);
  planHostWide(b, routers.length > 0 || b.dns.length > 0);
  planRemovals(b);
  return {
    ops: b.ops,
    tables: b.tables,
    removals: b.removals,
    dns: b.dns,
    uplinkOwners: neededUplinks(state, local),
  };
}

function planNetwork(b: Builder, net: NetNetwork): void {
  const { ctx, state } = b.i;
  b.ops.push(...planNetworkDevices(ctx, net, b.i.observed.hostLinks));
  const vxlan = vxlanName(ctx, net.id);
  const remote = state.ports.filter(
    (p) =>
      p.networkId === net.id && p.host !== state.host && p.tunnelIp && p.tunnelIp !== ctx.localIp,
  );
  const want = new Map<string, { mac: string; dst: string }>();
  for (const p of remote) {
    want.set(`${FLOOD_MAC} ${p.tunnelIp}`, { mac: FLOOD_MAC, dst: p.tunnelIp! });
    want.set(`${p.mac.toLowerCase()} ${p.tunnelIp}`, {
      mac: p.mac.toLowerCase(),
      dst: p.tunnelIp!,
    });
  }
  const have = b.i.observed.fdb.get(vxlan) ?? [];
  const haveKeys = new Set(have.map((e) => `${e.mac.toLowerCase()} ${e.dst}`));
  for (const [key, e] of want)
    if (!haveKeys.has(key)) b.ops.push(op('fdbAppend', ctx.hostNs, vxlan, e.mac, e.dst));
  for (const e of have)
    if (!want.has(`${e.mac.toLowerCase()} ${e.dst}`))
      b.ops.push(op('fdbDel', ctx.hostNs, vxlan, e.mac, e.dst));
  const localMacs: string[] = [];
  const localIps: string[] = [];
  if (net.dhcpPort) {
    planDns(b, net);
    localMacs.push(net.dhcpPort.mac);
    localIps.push(...net.dhcpPort.ips.map((i) => i.ip));
  }
  for (const r of localRouters(state, new Set([net.id])))
    for (const iface of r.interfaces.filter((i) => i.networkId === net.id)) {
      localMacs.push(iface.mac);
      localIps.push(iface.ip);
    }
  b.netTables.add(networkTableName(ctx.prefix, net.id));
  b.tables.push({
    key: `net:${net.id}`,
    netns: ctx.hostNs,
    script: networkFilterScript(ctx.prefix, net.id, vxlan, { macs: localMacs, ips: localIps }),
  });
}

/** A namespace of ours with legs on bridges and an uplink to the host. */
function planServiceNamespace(
  b: Builder,
  kind: 'router' | 'dhcp',
  id: string,
  owner: string,
): { netns: string; fresh: boolean; uplink: { host: string; peer: string; dev: string } } {
  const { ctx } = b.i;
  const name = `${kind}-${id}`;
  const netns = netnsPath(ctx.stateDir, kind, id);
  const fresh = !b.i.observed.pins.includes(name);
  b.pins.add(name);
  const dev = deviceName(ctx.prefix, 'u', id);
  b.devices.add(dev);
  const index = b.i.uplinks.get(owner);
  if (index === undefined) throw new Error(`berth: no uplink allocated for ${owner}`);
  const pair = uplinkPair(b.i.uplinkCidr, index);
  if (fresh) {
    b.ops.push(op('netnsCreate', netns));
    // A host end whose namespace is gone has a peer in a namespace nobody can reach.
    if (b.links.has(dev)) b.ops.push(op('linkDel', ctx.hostNs, dev));
  }
  if (fresh || !b.links.has(dev))
    b.ops.push(op('linkAddVeth', ctx.hostNs, dev, netns, UPLINK_PEER, {}));
  b.ops.push(
    op('linkSet', netns, 'lo', { up: true }),
    op('addrAdd', ctx.hostNs, dev, `${pair.host}/31`),
    op('linkSet', ctx.hostNs, dev, { up: true }),
    op('addrAdd', netns, UPLINK_PEER, `${pair.peer}/31`),
    op('linkSet', netns, UPLINK_PEER, { up: true }),
    op('routeReplace', netns, { dst: 'default', gateway: pair.host, dev: UPLINK_PEER }),
  );
  return { netns, fresh, uplink: { ...pair, dev } };
}

function planLeg(
  b: Builder,
  ns: { netns: string; fresh: boolean },
  leg: { host: string; inside: string; mac: string; mtu: number; bridge: string; cidrs: string[] },
): void {
  const { ctx } = b.i;
  b.devices.add(leg.host);
  const have = b.links.get(leg.host);
  if (ns.fresh && have) b.ops.push(op('linkDel', ctx.hostNs, leg.host));
  if (ns.fresh || !have)
    b.ops.push(
      op('linkAddVeth', ctx.hostNs, leg.host, ns.netns, leg.inside, {
        mtu: leg.mtu,
        peerMac: leg.mac,
      }),
    );
  if (ns.fresh || !have || have.master !== leg.bridge || !have.up)
    b.ops.push(op('linkSet', ctx.hostNs, leg.host, { master: leg.bridge, up: true }));
  for (const cidr of leg.cidrs) b.ops.push(op('addrAdd', ns.netns, leg.inside, cidr));
  b.ops.push(op('linkSet', ns.netns, leg.inside, { up: true }));
}

function planDns(b: Builder, net: NetNetwork): void {
  const { ctx } = b.i;
  const port = net.dhcpPort!;
  const ns = planServiceNamespace(b, 'dhcp', net.id, dnsUplinkOwner(net.id));
  b.dnsUplinkPeers.push(ns.uplink.peer);
  const inside = dnsLegName(port.id);
  const cidrs = port.ips.flatMap((ip) => {
    const subnet = net.subnets.find((s) => s.id === ip.subnetId);
    return subnet ? [`${ip.ip}/${subnet.cidr.split('/')[1]}`] : [];
  });
  planLeg(b, ns, {
    host: deviceName(ctx.prefix, 'd', net.id),
    inside,
    mac: port.mac,
    mtu: net.mtu,
    bridge: bridgeName(ctx, net.id),
    cidrs,
  });
  b.dns.push(dnsConfig(b.i.state, net, ns.netns, inside, b.i.dnsServers));
}

function planRouter(b: Builder, router: NetRouter, nets: Set<string>): void {
  const { ctx, state } = b.i;
  const ns = planServiceNamespace(b, 'router', router.id, routerUplinkOwner(router.id));
  b.ops.push(op('sysctlSet', ns.netns, 'net/ipv4/ip_forward', '1'));
  for (const iface of router.interfaces.filter((i) => nets.has(i.networkId))) {
    const net = state.networks.find((n) => n.id === iface.networkId);
    planLeg(b, ns, {
      host: deviceName(ctx.prefix, 'r', iface.portId),
      inside: routerLegName(iface.portId),
      mac: iface.mac,
      mtu: net?.mtu ?? state.public.mtu,
      bridge: bridgeName(ctx, iface.networkId),
      cidrs: [`${iface.ip}/${iface.prefixLen}`],
    });
  }
  for (const route of router.routes)
    b.ops.push(op('routeReplace', ns.netns, { dst: route.destination, gateway: route.nexthop }));
  const fips = state.floatingIps.filter((f) => f.routerId === router.id);
  const forwardings = state.portForwardings.filter((p) => p.routerId === router.id);
  const tenantCidrs = router.interfaces.map((i) => subnetCidr(state, i.subnetId) ?? `${i.ip}/32`);
  b.tables.push({
    key: `router:${router.id}`,
    netns: ns.netns,
    script: routerNatScript(router, [...new Set(tenantCidrs)], fips, forwardings),
  });
  const publicIps = [
    ...(router.externalGateway ? [router.externalGateway.ip] : []),
    ...fips.map((f) => f.ip),
    ...forwardings.map((p) => p.externalIp),
  ];
  for (const ip of new Set(publicIps)) {
    b.routes.add(`${ip}/32 ${ns.uplink.dev}`);
    b.ops.push(
      op('routeReplace', ctx.hostNs, {
        dst: `${ip}/32`,
        gateway: ns.uplink.peer,
        dev: ns.uplink.dev,
      }),
    );
  }
}

function subnetCidr(state: HostNetworkState, subnetId: string): string | undefined {
  for (const net of state.networks)
    for (const s of net.subnets) if (s.id === subnetId) return s.cidr;
  return undefined;
}

function planInstanceTables(b: Builder): void {
  const { ctx, state, local } = b.i;
  const byInstance = new Map<string, LocalPort[]>();
  for (const p of local)
    byInstance.set(p.instanceUuid, [...(byInstance.get(p.instanceUuid) ?? []), p]);
  for (const [uuid, ports] of byInstance)
    b.tables.push({
      key: `instance:${uuid}`,
      netns: ports[0].netns,
      script: instanceFilterScript(
        ports.map((p) => filteredInterface(state, p)),
        state.securityGroups,
      ),
    });
  for (const p of local) {
    const port = state.ports.find((sp) => sp.id === p.vif.id);
    b.tables.push({
      key: `port:${p.vif.id}`,
      netns: ctx.hostNs,
      script: portFilterScript(ctx.prefix, portIdentity(ctx, p.vif, port)),
    });
  }
}

/** A port the document does not name yet is closed: the next sync opens what its groups allow. */
export function filteredInterface(
  state: HostNetworkState | undefined,
  p: Pick<LocalPort, 'ifname' | 'vif'>,
) {
  const port = state?.ports.find((sp) => sp.id === p.vif.id);
  return {
    ifname: p.ifname,
    portSecurity: port?.portSecurityEnabled ?? true,
    groupIds: port?.securityGroupIds ?? [],
  };
}

function planHostWide(b: Builder, needed: boolean): void {
  const { ctx, state } = b.i;
  const unreachable: RouteSpec = { dst: state.public.cidr, type: 'unreachable' };
  if (needed) {
    b.ops.push(
      op('sysctlSet', ctx.hostNs, 'net/ipv4/ip_forward', '1'),
      op('routeReplace', ctx.hostNs, unreachable),
    );
    b.tables.push({
      key: 'host',
      netns: ctx.hostNs,
      script: hostFilterScript(ctx.prefix, b.dnsUplinkPeers),
    });
    return;
  }
  if (b.i.observed.hostRoutes.some((r) => r.type === 'unreachable' && r.dst === state.public.cidr))
    b.removals.push(op('routeDel', ctx.hostNs, unreachable));
  if (
    b.i.observed.hostTables.some((t) => t.family === 'inet' && t.name === hostTableName(ctx.prefix))
  )
    b.removals.push(op('nftRun', ctx.hostNs, deleteTable('inet', hostTableName(ctx.prefix))));
}

function planRemovals(b: Builder): void {
  const { ctx, observed, local } = b.i;
  for (const link of observed.hostLinks)
    if (deviceKind(ctx.prefix, link.name) && !b.devices.has(link.name))
      b.removals.push(op('linkDel', ctx.hostNs, link.name));
  for (const r of observed.hostRoutes) {
    const ours = r.dev !== undefined && deviceKind(ctx.prefix, r.dev) === 'u';
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    if (ours && r.gateway && !b.routes.has(`${dst} ${r.dev}`))
      b.removals.push(op('routeDel', ctx.hostNs, r));
  }
  const ports = new Set(local.map((p) => portChainName(p.vif.id)));
  const stalePorts = observed.portChains
    .filter((c) => c.startsWith(PORT_CHAIN_PREFIX) && !ports.has(c))
    .map((c) => c.slice(PORT_CHAIN_PREFIX.length))
    .map((portId) => ({ portId, tap: tapDevice(ctx, portId) }));
  if (stalePorts.length)
    b.removals.push(op('nftRun', ctx.hostNs, deletePortScript(ctx.prefix, stalePorts)));
  for (const t of observed.hostTables) {
    const stale =
      (t.name === portsTableName(ctx.prefix) && local.length === 0) ||
      (t.name.startsWith(`${ctx.prefix}_net_`) && !b.netTables.has(t.name));
    if (t.family === 'bridge' && stale)
      b.removals.push(op('nftRun', ctx.hostNs, deleteTable('bridge', t.name)));
  }
  for (const pin of observed.pins) {
    if (!parseNetnsName(pin) || b.pins.has(pin)) continue;
    b.removals.push(op('netnsRemove', `${ctx.stateDir}/netns/${pin}`));
  }
}
