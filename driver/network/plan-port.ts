/**
 * The plan of an instance's ports: the network's bridge and VXLAN
 * device when this host has none yet, then a veth whose peer is created
 * directly in the instance's namespace (no move, no rename), its MAC, MTU,
 * addresses and routes, and the port's anti-spoofing table on the host.
 */
import type { LinkInfo } from '../../native';
import type { NetPort, Vif } from '../../nova/network-model';
import { deviceName } from './names';
import { type PortIdentity, portFilterScript } from './nft-host';
import { type Operation, op } from './operations';
import type { PlanContext } from './plan-context';
import { prefixLength } from './ipv4';

export interface NetworkDevices {
  id: string;
  vni: number;
  mtu: number;
}

export function bridgeName(ctx: PlanContext, networkId: string): string {
  return deviceName(ctx.prefix, 'n', networkId);
}

export function vxlanName(ctx: PlanContext, networkId: string): string {
  return deviceName(ctx.prefix, 'x', networkId);
}

export function tapDevice(ctx: PlanContext, portId: string): string {
  return deviceName(ctx.prefix, 't', portId);
}

/** Bridge and VXLAN device of a network, for what `links` (the host's) lacks. */
export function planNetworkDevices(
  ctx: PlanContext,
  net: NetworkDevices,
  links: readonly LinkInfo[],
): Operation[] {
  const have = new Map(links.map((l) => [l.name, l]));
  const bridge = bridgeName(ctx, net.id);
  const vxlan = vxlanName(ctx, net.id);
  const ops: Operation[] = [];
  if (!have.has(bridge)) ops.push(op('linkAddBridge', ctx.hostNs, bridge, { mtu: net.mtu }));
  if (!have.get(bridge)?.up) ops.push(op('linkSet', ctx.hostNs, bridge, { up: true }));
  const vx = have.get(vxlan);
  if (!vx)
    ops.push(
      op('linkAddVxlan', ctx.hostNs, vxlan, {
        vni: net.vni,
        local: ctx.localIp,
        port: ctx.vxlanPort,
        mtu: net.mtu,
      }),
    );
  if (vx?.master !== bridge || !vx.up)
    ops.push(op('linkSet', ctx.hostNs, vxlan, { master: bridge, up: true }));
  return ops;
}

export function vifNetworkDevices(vif: Vif): NetworkDevices {
  return { id: vif.network.id, vni: vif.network.meta.vni, mtu: vif.network.meta.mtu };
}

export interface PortToPlug {
  vif: Vif;
  ifname: string;
  /** only the first port with a gateway gets the default route, as a VM's first NIC does from DHCP */
  defaultRoute: boolean;
  /** the document's entry for the port, when the document names it */
  port?: NetPort;
}

/** Each network's devices once, then per port its veth, addressing and anti-spoofing table. */
export function planPortsPlug(
  ctx: PlanContext,
  instanceNs: string,
  ports: readonly PortToPlug[],
  links: readonly LinkInfo[],
): Operation[] {
  const ops: Operation[] = [];
  const networks = new Map(ports.map((p) => [p.vif.network.id, vifNetworkDevices(p.vif)]));
  for (const net of networks.values()) ops.push(...planNetworkDevices(ctx, net, links));
  for (const { vif, ifname, defaultRoute, port } of ports) {
    const tap = tapDevice(ctx, vif.id);
    // A tap left by a plug that crashed half-way: its peer is in no namespace we keep.
    if (links.some((l) => l.name === tap)) ops.push(op('linkDel', ctx.hostNs, tap));
    ops.push(
      op('linkAddVeth', ctx.hostNs, tap, instanceNs, ifname, {
        mtu: vif.network.meta.mtu,
        peerMac: vif.address,
      }),
      op('linkSet', ctx.hostNs, tap, { master: bridgeName(ctx, vif.network.id), up: true }),
      ...planPortAddressing(instanceNs, vif, ifname, defaultRoute),
      op('nftRun', ctx.hostNs, portFilterScript(ctx.prefix, portIdentity(ctx, vif, port))),
    );
  }
  return ops;
}

/**
 * Ports whose veth survived while the host lost its side (a bridge deleted
 * by hand): each network's devices once, the tap back on its bridge, the
 * addressing re-asserted.
 */
export function planPortsRepair(
  ctx: PlanContext,
  instanceNs: string,
  ports: readonly PortToPlug[],
  links: readonly LinkInfo[],
): Operation[] {
  const ops: Operation[] = [];
  const networks = new Map(ports.map((p) => [p.vif.network.id, vifNetworkDevices(p.vif)]));
  for (const net of networks.values()) ops.push(...planNetworkDevices(ctx, net, links));
  for (const { vif, ifname, defaultRoute } of ports)
    ops.push(
      op('linkSet', ctx.hostNs, tapDevice(ctx, vif.id), {
        master: bridgeName(ctx, vif.network.id),
        up: true,
      }),
      ...planPortAddressing(instanceNs, vif, ifname, defaultRoute),
    );
  return ops;
}

/** Which of `vifs` (in interface order) gets the default route: the first with a gateway. */
export function defaultRoutePort(vifs: readonly Vif[]): string | undefined {
  return vifs.find(hasGateway)?.id;
}

/** Addresses and routes on the instance's interface (idempotent: re-applied by restore). */
export function planPortAddressing(
  instanceNs: string,
  vif: Vif,
  ifname: string,
  defaultRoute: boolean,
): Operation[] {
  const ops: Operation[] = [];
  for (const subnet of vif.network.subnets) {
    const len = prefixLength(subnet.cidr);
    for (const ip of subnet.ips)
      if (ip.type === 'fixed') ops.push(op('addrAdd', instanceNs, ifname, `${ip.address}/${len}`));
  }
  ops.push(op('linkSet', instanceNs, ifname, { up: true }));
  for (const subnet of vif.network.subnets) {
    const gw = subnet.gateway.address;
    if (gw && defaultRoute && subnet === defaultRouteSubnet(vif))
      ops.push(op('routeReplace', instanceNs, { dst: 'default', gateway: gw, dev: ifname }));
    for (const route of subnet.routes)
      ops.push(
        op('routeReplace', instanceNs, {
          dst: route.cidr,
          gateway: route.gateway.address,
          dev: ifname,
        }),
      );
  }
  return ops;
}

function defaultRouteSubnet(vif: Vif) {
  return vif.network.subnets.find((s) => s.version === 4 && s.gateway.address);
}

export function hasGateway(vif: Vif): boolean {
  return defaultRouteSubnet(vif) !== undefined;
}

/**
 * What the port may send as: from the control plane's document when it
 * names the port, else only the vif's own MAC and fixed IPs (the document
 * adds allowed address pairs at the next sync).
 */
export function portIdentity(ctx: PlanContext, vif: Vif, port?: NetPort): PortIdentity {
  return {
    portId: vif.id,
    tap: tapDevice(ctx, vif.id),
    mac: vif.address,
    ips: vifFixedIps(vif),
    pairs: port?.allowedAddressPairs ?? [],
    portSecurity: port?.portSecurityEnabled ?? true,
  };
}

export function vifFixedIps(vif: Vif): string[] {
  return vif.network.subnets.flatMap((s) =>
    s.ips.filter((i) => i.type === 'fixed').map((i) => i.address),
  );
}

/** The instance namespace's own settings, once per instance. */
export function planInstanceNamespace(instanceNs: string): Operation[] {
  return [
    op('linkSet', instanceNs, 'lo', { up: true }),
    // Unprivileged ICMP sockets: ping works without CAP_NET_RAW, which instances lose.
    op('sysctlSet', instanceNs, 'net/ipv4/ping_group_range', '0 2147483647'),
  ];
}
