/**
 * Routers: an external gateway on an external network (a
 * network:router_gateway port holding the SNAT address), interfaces by
 * subnet (a network:router_interface port with the subnet's gateway IP)
 * or by port, extra routes. The data plane makes them distributed; here
 * they are the rows it reads. A router with interfaces is 409 RouterInUse.
 */
import { randomUUID } from 'node:crypto';
import {
  bool,
  cidr,
  DESCRIPTION,
  dictOf,
  ip,
  listOf,
  noneAsEmpty,
  NAME,
  nullable,
  owningProject,
  parseAttributes,
  PROJECT,
  str,
  resourceBody,
  uuid,
  type AttributeMap,
  type Converter,
} from './attributes';
import { checkQuota, ownedRow, owns, requireOwner, visibleNetwork, type NetTx } from './context';
import { badResourceRequest, httpBadRequest, NeutronError, portInUse } from './errors';
import type { FixedIp } from './ipam';
import { contains, overlaps, parseCidr, parseIp } from './ipv4';
import { deletePort, insertPort } from './ports';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import { deleteRow, getRow, insertRow, listRows, saveRow, type Body, type Row } from './store';

const GATEWAY: Converter = (v, fail) => {
  if (v === null) return null;
  const g = dictOf({
    network_id: uuid,
    enable_snat: bool,
    external_fixed_ips: listOf(dictOf({ subnet_id: uuid, ip_address: ip }), 4),
  })(v, fail) as Body;
  if (Object.keys(g).length === 0) return null;
  if (!g.network_id) fail(`Validation of dictionary's keys failed. Expected keys: {'network_id'}`);
  return g;
};

const ROUTES = listOf(dictOf({ destination: cidr, nexthop: ip }, ['destination', 'nexthop']), 30);

const ATTRIBUTES: AttributeMap = {
  name: NAME,
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  admin_state_up: { post: true, put: true, default: true, convert: bool },
  external_gateway_info: { post: true, put: true, default: null, convert: GATEWAY },
  routes: { put: true, convert: noneAsEmpty(ROUTES) },
  distributed: { post: true, put: true, default: false, convert: bool, adminOnly: true },
  ha: {
    post: true,
    put: true,
    default: false,
    convert: (v, fail) => (bool(v, fail) ? fail('HA routers are not supported') : false),
  },
  availability_zone_hints: { post: true, default: [], convert: listOf(str(255), 1) },
  flavor_id: {
    post: true,
    default: null,
    convert: nullable((_x, fail) => fail('router flavors are not supported')),
  },
};

const KEYS = [
  'id',
  'name',
  'admin_state_up',
  'status',
  'external_gateway_info',
  'availability_zones',
  'distributed',
  'ha',
  'availability_zone_hints',
  'routes',
  'flavor_id',
  ...STANDARD_KEYS,
] as const;

const portsOf = (tx: NetTx, router: Row) => listRows(tx.q, 'port', { device_id: router.id });
const interfacesOf = async (tx: NetTx, router: Row) =>
  (await portsOf(tx, router)).filter((p) => p.body.device_owner === 'network:router_interface');
const gatewayPortOf = async (tx: NetTx, router: Row) =>
  (await portsOf(tx, router)).find((p) => p.body.device_owner === 'network:router_gateway');

/** Only admins pick the gateway's address or turn SNAT off (Neutron's admin_only sub-attributes). */
function checkGatewayPolicy(tx: NetTx, g: Body | null, action: string): void {
  if (!g || tx.caller.isAdmin) return;
  const refused = [];
  if (g.enable_snat === false) refused.push('enable_snat');
  if (g.external_fixed_ips?.length) refused.push('external_fixed_ips');
  if (refused.length)
    throw new NeutronError(
      403,
      'PolicyNotAuthorized',
      `${refused.reduce((r, n) => `(${r} and rule:${action}:external_gateway_info:${n})`, `rule:${action}`)} is disallowed by policy`,
    );
}

/** Replaces the router's gateway with `g` (or none), allocating or freeing its address on the external network. */
async function setGateway(tx: NetTx, router: Row, g: Body | null): Promise<Body | null> {
  const current = await gatewayPortOf(tx, router);
  const same = current && g && current.parent_id === g.network_id && !g.external_fixed_ips;
  if (same) return { ...router.body.external_gateway_info, enable_snat: g.enable_snat ?? true };
  if (current) {
    const fips = (await listRows(tx.q, 'floatingip')).filter((f) => f.body.router_id === router.id);
    if (fips.length)
      throw new NeutronError(
        409,
        'RouterExternalGatewayInUseByFloatingIp',
        `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${current.parent_id} is required by one or more floating IPs.`,
      );
    await deletePort(tx, current);
  }
  if (!g) return null;
  const network = await visibleNetwork(tx, g.network_id);
  if (!network.body['router:external'])
    throw badResourceRequest('router', `Network ${network.id} is not an external network`);
  const port = await insertPort(tx, {
    network,
    // Gateway ports belong to no project, as Neutron's.
    projectId: '',
    service: true,
    v: {
      device_owner: 'network:router_gateway',
      device_id: router.id,
      fixed_ips: g.external_fixed_ips,
    },
  });
  return {
    network_id: network.id,
    external_fixed_ips: port.body.fixed_ips,
    enable_snat: g.enable_snat ?? true,
  };
}

/** Extra routes: each nexthop must be on one of the router's subnets. */
async function checkRoutes(
  tx: NetTx,
  router: Row,
  routes: { destination: string; nexthop: string }[],
) {
  const subnets = await Promise.all(
    (await interfacesOf(tx, router)).flatMap((p) =>
      (p.body.fixed_ips as FixedIp[]).map((f) => getRow(tx.q, 'subnet', f.subnet_id)),
    ),
  );
  for (const r of routes) {
    const hop = parseIp(r.nexthop)!;
    if (!subnets.some((s) => contains(parseCidr(s.body.cidr)!, hop)))
      throw new NeutronError(
        400,
        'InvalidRoutes',
        `Invalid format for routes: ${JSON.stringify([r])}, the nexthop is not connected with router`,
      );
  }
}

async function create(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'router'),
    'post',
    tx.caller,
    'create_router',
  );
  checkGatewayPolicy(tx, v.external_gateway_info as Body | null, 'create_router');
  const projectId = owningProject(tx.caller, v);
  await checkQuota(tx, 'router', projectId);
  const row = await insertRow(tx.q, {
    kind: 'router',
    id: randomUUID(),
    project_id: projectId,
    revision_number: 1,
    body: { ...v, routes: [], external_gateway_info: null },
  });
  if (!v.external_gateway_info) return row;
  const gateway = await setGateway(tx, row, v.external_gateway_info as Body);
  return saveRow(tx.q, row, { body: { ...row.body, external_gateway_info: gateway } });
}

async function update(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_router');
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'router'),
    'put',
    tx.caller,
    'update_router',
  );
  const next: Body = { ...row.body, ...v };
  if (v.external_gateway_info !== undefined) {
    checkGatewayPolicy(tx, v.external_gateway_info as Body | null, 'update_router');
    next.external_gateway_info = await setGateway(tx, row, v.external_gateway_info as Body | null);
  }
  if (v.routes !== undefined) await checkRoutes(tx, row, v.routes);
  return saveRow(tx.q, row, { body: next });
}

async function remove(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_router');
  if ((await interfacesOf(tx, row)).length)
    throw new NeutronError(409, 'RouterInUse', `Router ${row.id} still has ports`);
  await setGateway(tx, row, null);
  await deleteRow(tx.q, 'router', row.id);
}

async function view(_tx: NetTx, row: Row) {
  const b = row.body;
  return {
    id: row.id,
    name: b.name,
    admin_state_up: b.admin_state_up,
    status: 'ACTIVE',
    external_gateway_info: b.external_gateway_info,
    availability_zones: [],
    distributed: b.distributed,
    ha: false,
    availability_zone_hints: b.availability_zone_hints,
    routes: b.routes,
    flavor_id: null,
    ...standardView(row),
  };
}

export const ROUTERS: ResourceType = {
  kind: 'router',
  resource: 'router',
  collection: 'routers',
  path: 'routers',
  keys: KEYS,
  taggable: true,
  visible: owns,
  view,
  create,
  update,
  remove,
};

// ---- add_router_interface / remove_router_interface ----

interface InterfaceRequest {
  subnet_id?: string;
  port_id?: string;
}

function interfaceRequest(body: unknown): InterfaceRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw httpBadRequest('Resource body required');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => k !== 'subnet_id' && k !== 'port_id');
  if (unknown.length) throw httpBadRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
  const fail = (reason: string): never => {
    throw badResourceRequest('router', reason);
  };
  for (const k of ['subnet_id', 'port_id'] as const) if (b[k] !== undefined) uuid(b[k], fail);
  if (b.subnet_id !== undefined && b.port_id !== undefined)
    fail('Cannot specify both subnet-id and port-id');
  if (b.subnet_id === undefined && b.port_id === undefined)
    fail('Either subnet_id or port_id must be specified');
  return {
    subnet_id: (b.subnet_id as string)?.toLowerCase(),
    port_id: (b.port_id as string)?.toLowerCase(),
  };
}

function interfaceInfo(router: Row, port: Row) {
  const ips = port.body.fixed_ips as FixedIp[];
  return {
    id: router.id,
    tenant_id: router.project_id,
    port_id: port.id,
    network_id: port.parent_id,
    subnet_id: ips[0]?.subnet_id,
    subnet_ids: ips.map((f) => f.subnet_id),
  };
}

/**
 * No router may have two interfaces on one subnet or on overlapping ones (it
 * could not route between them), and a subnet has one router (its gateway).
 */
async function checkSubnetFree(tx: NetTx, router: Row, subnet: Row) {
  const cidr = parseCidr(subnet.body.cidr)!;
  for (const r of await listRows(tx.q, 'port')) {
    if (r.body.device_owner !== 'network:router_interface') continue;
    for (const f of r.body.fixed_ips as FixedIp[]) {
      if (f.subnet_id === subnet.id)
        throw badResourceRequest(
          'router',
          r.device_id === router.id
            ? `Router already has a port on subnet ${subnet.id}`
            : `Subnet ${subnet.id} already has an interface on router ${r.device_id}`,
        );
      if (r.device_id !== router.id) continue;
      const other = await getRow(tx.q, 'subnet', f.subnet_id);
      if (overlaps(cidr, parseCidr(other.body.cidr)!))
        throw badResourceRequest(
          'router',
          `Cidr ${subnet.body.cidr} of subnet ${subnet.id} overlaps with cidr ${other.body.cidr} of subnet ${other.id}`,
        );
    }
  }
}

export async function addInterface(tx: NetTx, router: Row, body: unknown) {
  requireOwner(tx, router, 'add_router_interface');
  const req = interfaceRequest(body);
  if (req.port_id) {
    const port = await ownedRow(tx, 'port', req.port_id);
    if (port.body.device_id) throw portInUse(port.id, port.parent_id, port.body.device_id);
    const ips = port.body.fixed_ips as FixedIp[];
    if (ips.length !== 1)
      throw badResourceRequest('router', 'Router port must have exactly one fixed IP');
    await checkSubnetFree(tx, router, await getRow(tx.q, 'subnet', ips[0].subnet_id));
    const saved = await saveRow(tx.q, port, {
      device_id: router.id,
      body: {
        ...port.body,
        device_id: router.id,
        device_owner: 'network:router_interface',
        security_groups: [],
        port_security_enabled: false,
        allowed_address_pairs: [],
      },
    });
    await saveRow(tx.q, router);
    return interfaceInfo(router, saved);
  }
  const subnet = await ownedRow(tx, 'subnet', req.subnet_id!);
  const network = await getRow(tx.q, 'network', subnet.parent_id);
  if (network.body['router:external'])
    throw badResourceRequest('router', `Cannot add an interface on external network ${network.id}`);
  if (!subnet.body.gateway_ip)
    throw badResourceRequest('router', 'Subnet for router interface must have a gateway IP');
  await checkSubnetFree(tx, router, subnet);
  const port = await insertPort(tx, {
    network,
    projectId: router.project_id,
    service: true,
    v: {
      device_owner: 'network:router_interface',
      device_id: router.id,
      fixed_ips: [{ subnet_id: subnet.id, ip_address: subnet.body.gateway_ip }],
    },
  });
  await saveRow(tx.q, router);
  return interfaceInfo(router, port);
}

export async function removeInterface(tx: NetTx, router: Row, body: unknown) {
  requireOwner(tx, router, 'remove_router_interface');
  const req = interfaceRequest(body);
  const ifaces = await interfacesOf(tx, router);
  const port = req.port_id
    ? ifaces.find((p) => p.id === req.port_id)
    : ifaces.find((p) =>
        (p.body.fixed_ips as FixedIp[]).some((f) => f.subnet_id === req.subnet_id),
      );
  if (!port) {
    if (req.port_id)
      throw new NeutronError(
        404,
        'RouterInterfaceNotFound',
        `Router ${router.id} does not have an interface with id ${req.port_id}`,
      );
    await ownedRow(tx, 'subnet', req.subnet_id!);
    throw new NeutronError(
      404,
      'RouterInterfaceNotFoundForSubnet',
      `Router ${router.id} has no interface on subnet ${req.subnet_id}`,
    );
  }
  const subnetIds = (port.body.fixed_ips as FixedIp[]).map((f) => f.subnet_id);
  const info = interfaceInfo(router, port);
  const through = (r: Row, subnet: string | undefined) =>
    r.body.router_id === router.id && subnet !== undefined && subnetIds.includes(subnet);
  const needed =
    (await listRows(tx.q, 'floatingip')).some((f) => through(f, f.body.fixed_subnet_id)) ||
    (await listRows(tx.q, 'port_forwarding')).some((pf) => through(pf, pf.body.internal_subnet_id));
  if (needed)
    throw new NeutronError(
      409,
      'RouterInterfaceInUseByFloatingIP',
      `Router interface for subnet ${subnetIds[0]} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`,
    );
  await deletePort(tx, port);
  await saveRow(tx.q, router);
  return info;
}

/** The router that gives `subnetId` a way to `externalNetworkId`: an interface there and a gateway on it. */
export async function routerFor(
  tx: NetTx,
  subnetId: string,
  externalNetworkId: string,
): Promise<Row | undefined> {
  for (const p of await listRows(tx.q, 'port')) {
    if (p.body.device_owner !== 'network:router_interface') continue;
    if (!(p.body.fixed_ips as FixedIp[]).some((f) => f.subnet_id === subnetId)) continue;
    const router = await getRow(tx.q, 'router', p.device_id);
    if (router.body.external_gateway_info?.network_id === externalNetworkId) return router;
  }
  return undefined;
}
