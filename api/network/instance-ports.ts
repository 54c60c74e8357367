/**
 * InstanceNetworkApi over the network service (what Nova's
 * nova.network.neutron.API does against Neutron, in process): the ports
 * of a server's requested networks, made or claimed in one transaction
 * (all or nothing), bound to the chosen host, and read back as Nova's
 * network_info. `auto` is Neutron's get-me-a-network: the project's one
 * network, or a new auto_allocated_network with a router to `public`.
 */
import type { Vif, VifSubnet } from '../../nova/network-model';
import { tapName } from '../../nova/network-model';
import {
  networkVisible,
  owns,
  SERVICE_CALLER as SERVICE,
  visibleNetwork,
  type NetTx,
} from './context';
import {
  invalidIpForNetwork,
  ipAlreadyAllocated,
  NeutronError,
  NOT_FOUND,
  portInUse,
} from './errors';
import type {
  InstanceNetworkApi,
  InstanceOwner,
  NetworkCaller,
  RequestedNetwork,
  RequestedNetworks,
} from './instance-network';
import type { FixedIp } from './ipam';
import { formatCidr, isHostAddress, overlaps, parseCidr, parseIp, type Cidr } from './ipv4';
import type { NetworkService } from './network-service';
import { NETWORKS } from './networks';
import { deletePort, insertPort } from './ports';
import { addInterface, ROUTERS } from './routers';
import { ensureDefaultGroup } from './security-groups';
import { allocationsOfSubnet, findRow, getRow, listRows, saveRow, type Row } from './store';
import { SUBNETS } from './subnets';

/** Where auto-allocated /24s come from: a private range clear of devstack's and Docker's usual ones. */
const AUTO_POOL: Cidr = { network: parseIp('10.128.0.0')!, prefix: 9 };
const AUTO_NETWORK = 'auto_allocated_network';
const AUTO_ROUTER = 'auto_allocated_router';

/** Nova's hostname as a DNS label (the port's dns_name). */
const dnsLabel = (hostname: string) =>
  hostname
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);

export class InstancePorts implements InstanceNetworkApi {
  constructor(private readonly svc: NetworkService) {}

  async validateRequested(
    caller: NetworkCaller,
    requested: RequestedNetworks,
    securityGroups: string[],
  ) {
    await this.svc.read(caller, async (tx) => {
      await resolveGroups(tx, caller.projectId, securityGroups, false);
      if (requested === 'auto' || requested === 'none') return;
      for (const r of requested) await checkRequest(tx, r);
    });
  }

  async allocateForInstance(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetworks,
    securityGroups: string[],
  ): Promise<Vif[]> {
    if (requested === 'none') return [];
    return this.svc.write(caller, async (tx) => {
      const groups = await resolveGroups(tx, owner.projectId, securityGroups, true);
      const entries =
        requested === 'auto' ? [{ uuid: (await autoNetwork(tx, owner.projectId)).id }] : requested;
      const ports: Row[] = [];
      for (const r of entries) ports.push(await portFor(tx, owner, r, groups, null));
      return Promise.all(ports.map((p) => vifOf(tx, p)));
    });
  }

  async bindForHost(instanceUuid: string, host: string): Promise<Vif[]> {
    return this.svc.write(SERVICE, async (tx) => {
      for (const p of await instancePorts(tx, instanceUuid)) await bind(tx, p, host);
      return networkInfo(tx, instanceUuid);
    });
  }

  async deallocateForInstance(instanceUuid: string): Promise<void> {
    await this.svc.write(SERVICE, async (tx) => {
      for (const p of await instancePorts(tx, instanceUuid)) await release(tx, p);
    });
  }

  async attachInterface(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetwork,
    host: string | null,
  ): Promise<Vif> {
    return this.svc.write(caller, async (tx) => {
      if (!requested.port) await checkRequest(tx, requested);
      const groups = await resolveGroups(tx, owner.projectId, [], true);
      return vifOf(tx, await portFor(tx, owner, requested, groups, host));
    });
  }

  async detachInterface(instanceUuid: string, portId: string): Promise<void> {
    await this.svc.write(SERVICE, async (tx) => {
      const port = (await instancePorts(tx, instanceUuid)).find((p) => p.id === portId);
      if (!port) throw NOT_FOUND.port(portId);
      await release(tx, port);
    });
  }

  networkInfo(instanceUuid: string): Promise<Vif[]> {
    return this.svc.read(SERVICE, (tx) => networkInfo(tx, instanceUuid));
  }

  async networkInfoFor(instanceUuids: string[]): Promise<Map<string, Vif[]>> {
    return this.svc.read(SERVICE, async (tx) => {
      const out = new Map<string, Vif[]>();
      for (const uuid of instanceUuids) out.set(uuid, await networkInfo(tx, uuid));
      return out;
    });
  }
}

/** A requested network, port or fixed IP that exists for the caller and is free. */
async function checkRequest(tx: NetTx, r: RequestedNetwork): Promise<void> {
  if (r.port) {
    const port = await findRow(tx.q, 'port', r.port);
    if (!port || !owns(tx, port)) throw NOT_FOUND.port(r.port);
    if (port.body.device_id) throw portInUse(port.id, port.parent_id, port.body.device_id);
    return;
  }
  if (!r.uuid)
    throw new NeutronError(
      400,
      'HTTPBadRequest',
      'A requested network needs a network id or a port id',
    );
  const network = await visibleNetwork(tx, r.uuid);
  if (r.fixedIp === undefined) return;
  const ip = parseIp(r.fixedIp);
  const subnets = await listRows(tx.q, 'subnet', { parent_id: network.id });
  const subnet =
    ip === undefined ? undefined : subnets.find((s) => isHostAddress(parseCidr(s.body.cidr)!, ip));
  if (!subnet) throw invalidIpForNetwork(r.fixedIp);
  const taken = (await allocationsOfSubnet(tx.q, subnet.id)).some(
    (a) => a.ip_address === r.fixedIp,
  );
  if (taken || subnet.body.gateway_ip === r.fixedIp) throw ipAlreadyAllocated(r.fixedIp, subnet.id);
}

/** Security groups by name or id in the project; none given = its default group. */
async function resolveGroups(
  tx: NetTx,
  projectId: string,
  names: string[],
  create: boolean,
): Promise<string[]> {
  const groups = await listRows(tx.q, 'security_group', { project_id: projectId });
  const out: string[] = [];
  for (const name of names) {
    const byId = groups.find((g) => g.id === name);
    const byName = groups.filter((g) => g.body.name === name);
    if (byId) out.push(byId.id);
    else if (byName.length === 1) out.push(byName[0].id);
    else if (byName.length > 1)
      throw new NeutronError(
        409,
        'NoUniqueMatch',
        `Multiple security groups found matching '${name}'. Use an ID to be more specific.`,
      );
    else if (name === 'default' && create) out.push(await ensureDefaultGroup(tx, projectId));
    else if (name !== 'default') throw NOT_FOUND.security_group(name);
  }
  return [...new Set(out)];
}

/** The instance's port for one request: a new one on the network, or the user's, claimed. */
async function portFor(
  tx: NetTx,
  owner: InstanceOwner,
  r: RequestedNetwork,
  groups: string[],
  host: string | null,
): Promise<Row> {
  const order = (await instancePorts(tx, owner.uuid)).length;
  const device = {
    device_id: owner.uuid,
    device_owner: `compute:${owner.availabilityZone ?? 'nova'}`,
    'binding:host_id': host ?? '',
    attach_order: order,
  };
  if (r.port) {
    await checkRequest(tx, r);
    const port = await getRow(tx.q, 'port', r.port);
    return saveRow(tx.q, port, {
      device_id: owner.uuid,
      body: { ...port.body, ...device, status: 'DOWN', preserve_on_delete: true },
    });
  }
  const network = await visibleNetwork(tx, r.uuid!);
  return insertPort(tx, {
    network,
    projectId: owner.projectId,
    v: {
      ...device,
      dns_name: dnsLabel(owner.hostname),
      ...(groups.length ? { security_groups: groups } : {}),
      ...(r.fixedIp !== undefined ? { fixed_ips: [{ ip_address: r.fixedIp }] } : {}),
    },
  });
}

async function instancePorts(tx: NetTx, uuid: string): Promise<Row[]> {
  const ports = (await listRows(tx.q, 'port', { device_id: uuid })).filter((p) =>
    (p.body.device_owner as string).startsWith('compute:'),
  );
  return ports.sort((a, b) => (a.body.attach_order ?? 0) - (b.body.attach_order ?? 0));
}

async function bind(tx: NetTx, port: Row, host: string): Promise<void> {
  if (port.body['binding:host_id'] === host) return;
  await saveRow(tx.q, port, { body: { ...port.body, 'binding:host_id': host, status: 'DOWN' } });
}

/** Ports the instance made go; ports the user gave are unbound and kept, as Nova does. */
async function release(tx: NetTx, port: Row): Promise<void> {
  if (!port.body.preserve_on_delete) return deletePort(tx, port);
  const { preserve_on_delete: _p, attach_order: _o, ...body } = port.body;
  void _p;
  void _o;
  await saveRow(tx.q, port, {
    device_id: '',
    body: { ...body, device_id: '', device_owner: '', 'binding:host_id': '', status: 'DOWN' },
  });
}

async function networkInfo(tx: NetTx, uuid: string): Promise<Vif[]> {
  return Promise.all((await instancePorts(tx, uuid)).map((p) => vifOf(tx, p)));
}

async function vifOf(tx: NetTx, port: Row): Promise<Vif> {
  const network = await getRow(tx.q, 'network', port.parent_id);
  const ports = await listRows(tx.q, 'port', { parent_id: network.id });
  const dhcp = ports.find((p) => p.body.device_owner === 'network:dhcp');
  const fips = (await listRows(tx.q, 'floatingip')).filter((f) => f.body.port_id === port.id);
  const fixed = port.body.fixed_ips as FixedIp[];
  const subnets: VifSubnet[] = [];
  for (const s of await listRows(tx.q, 'subnet', { parent_id: network.id })) {
    const mine = fixed.filter((f) => f.subnet_id === s.id);
    if (!mine.length) continue;
    const server = (dhcp?.body.fixed_ips as FixedIp[] | undefined)?.find(
      (f) => f.subnet_id === s.id,
    );
    subnets.push({
      cidr: s.body.cidr,
      version: 4,
      gateway: { address: s.body.gateway_ip, type: 'gateway', version: 4 },
      dns: (s.body.dns_nameservers as string[]).map((address) => ({
        address,
        type: 'dns',
        version: 4,
      })),
      ips: mine.map((f) => ({
        address: f.ip_address,
        type: 'fixed',
        version: 4,
        floating_ips: fips
          .filter((x) => x.body.fixed_ip_address === f.ip_address)
          .map((x) => ({ address: x.body.floating_ip_address, type: 'floating', version: 4 })),
      })),
      routes: (s.body.host_routes as { destination: string; nexthop: string }[]).map((r) => ({
        cidr: r.destination,
        gateway: { address: r.nexthop, type: 'gateway', version: 4 },
      })),
      meta: {
        ...(server ? { dhcp_server: server.ip_address } : {}),
        subnet_id: s.id,
        enable_dhcp: s.body.enable_dhcp,
      },
    });
  }
  return {
    id: port.id,
    address: port.body.mac_address,
    type: 'bridge',
    devname: tapName(port.id),
    vnic_type: 'normal',
    active: port.body.status === 'ACTIVE',
    network: {
      id: network.id,
      label: network.body.name,
      bridge: null,
      subnets,
      meta: {
        mtu: network.body.mtu,
        tenant_id: network.project_id,
        injected: false,
        vni: network.body['provider:segmentation_id'] ?? 0,
      },
    },
    details: { port_filter: true },
    profile: port.body['binding:profile'] ?? {},
    preserve_on_delete: port.body.preserve_on_delete === true,
    meta: port.body.dns_name ? { dns_name: port.body.dns_name } : {},
  };
}

/** Nova's `auto`: the one network the project can use, or a topology made for it. */
async function autoNetwork(tx: NetTx, projectId: string): Promise<Row> {
  const usable = (await listRows(tx.q, 'network')).filter(
    (n) =>
      !n.body['router:external'] &&
      (n.project_id === projectId || (n.body.shared && networkVisible(tx, n))),
  );
  const auto = usable.find((n) => n.project_id === projectId && n.body.name === AUTO_NETWORK);
  if (auto) return auto;
  if (usable.length === 1) return usable[0];
  if (usable.length > 1)
    throw new NeutronError(
      409,
      'NetworkAmbiguous',
      'Multiple possible networks found, use a Network ID to be more specific.',
    );
  return makeTopology(tx, projectId);
}

async function makeTopology(tx: NetTx, projectId: string): Promise<Row> {
  const state = await tx.q('network_state').where({ id: 1 }).first();
  if (!state.public_network_id)
    throw new NeutronError(
      409,
      'AutoAllocationFailure',
      'Deployment error: No default router:external network.',
    );
  const network = await NETWORKS.create(tx, {
    network: { name: AUTO_NETWORK, tenant_id: projectId },
  });
  const subnet = await SUBNETS.create(tx, {
    subnet: {
      name: 'auto_allocated_subnet_v4',
      network_id: network.id,
      ip_version: 4,
      cidr: await freeBlock(tx, projectId),
      tenant_id: projectId,
    },
  });
  const router = await ROUTERS.create(tx, {
    router: {
      name: AUTO_ROUTER,
      tenant_id: projectId,
      external_gateway_info: { network_id: state.public_network_id },
    },
  });
  await addInterface(tx, router, { subnet_id: subnet.id });
  return getRow(tx.q, 'network', network.id);
}

/** The first /24 of AUTO_POOL clear of the project's subnets and of `public`. */
async function freeBlock(tx: NetTx, projectId: string): Promise<string> {
  const taken: Cidr[] = (await listRows(tx.q, 'subnet'))
    .filter((s) => s.project_id === projectId)
    .map((s) => parseCidr(s.body.cidr)!);
  taken.push(parseCidr(tx.config.public_cidr)!, parseCidr(tx.config.uplink_cidr)!);
  for (let i = 0; i < 2 ** (24 - AUTO_POOL.prefix); i++) {
    const block = { network: AUTO_POOL.network + i * 256, prefix: 24 };
    if (!taken.some((t) => overlaps(t, block))) return formatCidr(block);
  }
  throw new NeutronError(
    409,
    'AutoAllocationFailure',
    `No free /24 left in ${formatCidr(AUTO_POOL)}.`,
  );
}
