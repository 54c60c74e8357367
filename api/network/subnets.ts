/**
 * IPv4 subnets: CIDR, gateway (the first address unless given or null),
 * allocation pools (the whole range less the gateway unless given, and
 * then inside the CIDR and clear of the gateway), DNS servers, host
 * routes. A subnet overlapping another of its network is refused; one
 * with addresses still allocated (beyond the DHCP port's) is 409
 * SubnetInUse. The network's DHCP/DNS port follows its subnets.
 */
import { randomUUID } from 'node:crypto';
import {
  bool,
  cidr,
  DESCRIPTION,
  dictOf,
  int,
  ip,
  listOf,
  noneAsEmpty,
  NAME,
  nullable,
  owningProject,
  parseAttributes,
  PROJECT,
  resourceBody,
  str,
  uuid,
  type AttributeMap,
} from './attributes';
import {
  checkQuota,
  networkVisible,
  owns,
  requireOwner,
  visibleNetwork,
  type NetTx,
} from './context';
import { httpBadRequest, invalidInput, NeutronError } from './errors';
import {
  broadcastOf,
  formatCidr,
  formatIp,
  isHostAddress,
  overlaps,
  parseCidr,
  parseIp,
  type Cidr,
} from './ipv4';
import { syncDhcpPort } from './ports';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import {
  allocationsOfSubnet,
  deleteRow,
  getRow,
  insertRow,
  listRows,
  saveRow,
  touchRow,
  type Row,
} from './store';

interface Pool {
  start: string;
  end: string;
}

const POOL = dictOf({ start: ip, end: ip }, ['start', 'end']);
const ROUTE = dictOf({ destination: cidr, nexthop: ip }, ['destination', 'nexthop']);
const nullOnly = nullable((v, fail) => fail(`'${String(v)}' is not None`));

const ATTRIBUTES: AttributeMap = {
  name: NAME,
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  network_id: { post: true, required: true, convert: uuid },
  ip_version: { post: true, required: true, convert: int(4, 6) },
  cidr: { post: true, convert: cidr },
  gateway_ip: { post: true, put: true, convert: nullable(ip) },
  allocation_pools: { post: true, put: true, convert: listOf(POOL, 64) },
  dns_nameservers: { post: true, put: true, default: [], convert: noneAsEmpty(listOf(ip, 5)) },
  host_routes: { post: true, put: true, default: [], convert: noneAsEmpty(listOf(ROUTE, 20)) },
  enable_dhcp: { post: true, put: true, default: true, convert: bool },
  service_types: { post: true, put: true, default: [], convert: listOf(str(255), 10) },
  subnetpool_id: { post: true, convert: nullOnly },
  use_default_subnetpool: {
    post: true,
    convert: (v, fail) => (bool(v, fail) ? fail('subnet pools are not supported') : false),
  },
  ipv6_ra_mode: { post: true, convert: nullOnly },
  ipv6_address_mode: { post: true, convert: nullOnly },
  segment_id: { post: true, convert: nullOnly },
};

const KEYS = [
  'id',
  'name',
  'network_id',
  'ip_version',
  'subnetpool_id',
  'enable_dhcp',
  'ipv6_ra_mode',
  'ipv6_address_mode',
  'gateway_ip',
  'cidr',
  'allocation_pools',
  'host_routes',
  'dns_nameservers',
  'service_types',
  ...STANDARD_KEYS,
] as const;

/** The pools Neutron makes when none are given: every host address but the gateway. */
export function defaultPools(c: Cidr, gateway: string | null): Pool[] {
  const first = c.network + 1;
  const last = broadcastOf(c) - 1;
  const gw = gateway === null ? undefined : parseIp(gateway);
  if (gw === undefined || gw < first || gw > last)
    return [{ start: formatIp(first), end: formatIp(last) }];
  const pools: Pool[] = [];
  if (gw > first) pools.push({ start: formatIp(first), end: formatIp(gw - 1) });
  if (gw < last) pools.push({ start: formatIp(gw + 1), end: formatIp(last) });
  return pools;
}

function checkPools(c: Cidr, pools: Pool[], gateway: string | null, cidrText: string): void {
  const ranges = pools.map((p) => {
    const start = parseIp(p.start)!;
    const end = parseIp(p.end)!;
    if (start > end)
      throw invalidInput(`Invalid allocation pool: start ${p.start} is after end ${p.end}`);
    if (!isHostAddress(c, start) || !isHostAddress(c, end))
      throw new NeutronError(
        400,
        'OutOfBoundsAllocationPool',
        `The allocation pool ${p.start}-${p.end} spans beyond the subnet cidr ${cidrText}.`,
      );
    return { start, end, p };
  });
  ranges.sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++)
    if (ranges[i].start <= ranges[i - 1].end)
      throw new NeutronError(
        400,
        'OverlappingAllocationPools',
        `Found overlapping allocation pools: ${ranges[i - 1].p.start}-${ranges[i - 1].p.end} and ${ranges[i].p.start}-${ranges[i].p.end} for subnet ${cidrText}.`,
      );
  const gw = gateway === null ? undefined : parseIp(gateway);
  const hit = ranges.find((r) => gw !== undefined && gw >= r.start && gw <= r.end);
  if (hit)
    throw new NeutronError(
      409,
      'GatewayConflictWithAllocationPools',
      `Gateway ip ${gateway} conflicts with allocation pool ${hit.p.start}-${hit.p.end}.`,
    );
}

function checkGateway(c: Cidr, gateway: string | null): void {
  if (gateway !== null && !isHostAddress(c, parseIp(gateway)!))
    throw invalidInput(`Gateway IP ${gateway} is not a host address of the subnet`);
}

function checkRoutes(routes: { destination: string }[]): void {
  for (const r of routes) {
    const c = parseCidr(r.destination)!;
    if (formatCidr(c) !== r.destination)
      throw invalidInput(
        `'${r.destination}' is not a recognized IP subnet cidr, '${formatCidr(c)}' is recommended`,
      );
  }
}

async function create(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'subnet'),
    'post',
    tx.caller,
    'create_subnet',
  );
  const network = await visibleNetwork(tx, v.network_id as string);
  requireOwner(tx, network, 'create_subnet');
  const projectId = owningProject(tx.caller, v);
  if (v.ip_version !== 4 && v.ip_version !== 6)
    throw invalidInput(`${v.ip_version} is not a valid IP version`);
  if (v.ip_version === 6) throw httpBadRequest('IPv6 subnets are not supported by this service');
  if (v.cidr === undefined)
    throw httpBadRequest(
      'Bad subnets request: a subnetpool must be specified in the absence of a cidr.',
    );
  const c = parseCidr(v.cidr)!;
  const text = formatCidr(c);
  if (text !== v.cidr)
    throw invalidInput(`'${v.cidr}' isn't a recognized IP subnet cidr, '${text}' is recommended`);
  if (c.prefix > 30)
    throw invalidInput(
      `Subnet ${text} is too small: a /30 at least is needed for a gateway and a port`,
    );
  await checkQuota(tx, 'subnet', projectId);
  const gateway =
    v.gateway_ip === undefined ? formatIp(c.network + 1) : (v.gateway_ip as string | null);
  checkGateway(c, gateway);
  const pools = (v.allocation_pools as Pool[] | undefined) ?? defaultPools(c, gateway);
  checkPools(c, pools, gateway, text);
  checkRoutes(v.host_routes as { destination: string }[]);
  for (const other of await listRows(tx.q, 'subnet', { parent_id: network.id }))
    if (overlaps(c, parseCidr(other.body.cidr)!))
      throw invalidInput(
        `Requested subnet with cidr: ${text} for network: ${network.id} overlaps with another subnet`,
      );
  delete v.use_default_subnetpool;
  const row = await insertRow(tx.q, {
    kind: 'subnet',
    id: randomUUID(),
    project_id: projectId,
    parent_id: network.id,
    body: {
      ...v,
      cidr: text,
      gateway_ip: gateway,
      allocation_pools: pools,
      subnetpool_id: null,
      ipv6_ra_mode: null,
      ipv6_address_mode: null,
      segment_id: null,
    },
  });
  await touchRow(tx.q, 'network', network.id);
  await syncDhcpPort(tx, await getRow(tx.q, 'network', network.id));
  return row;
}

async function update(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_subnet');
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'subnet'),
    'put',
    tx.caller,
    'update_subnet',
  );
  const next = { ...row.body, ...v };
  const c = parseCidr(row.body.cidr)!;
  checkGateway(c, next.gateway_ip);
  if (
    v.gateway_ip !== undefined &&
    v.allocation_pools === undefined &&
    next.gateway_ip !== row.body.gateway_ip
  ) {
    const taken = (await allocationsOfSubnet(tx.q, row.id)).some(
      (a) => a.ip_address === next.gateway_ip,
    );
    if (taken) throw invalidInput(`Gateway ip ${next.gateway_ip} is in use`);
  }
  checkPools(c, next.allocation_pools, next.gateway_ip, row.body.cidr);
  checkRoutes(next.host_routes);
  return saveRow(tx.q, row, { body: next });
}

async function remove(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_subnet');
  const network = await getRow(tx.q, 'network', row.parent_id);
  const dhcp = (await listRows(tx.q, 'port', { parent_id: network.id })).filter(
    (p) => p.body.device_owner === 'network:dhcp',
  );
  const used = (await allocationsOfSubnet(tx.q, row.id)).filter(
    (a) => !dhcp.some((p) => p.id === a.owner_id),
  );
  if (used.length)
    throw new NeutronError(
      409,
      'SubnetInUse',
      `Unable to complete operation on subnet ${row.id}: One or more ports have an IP allocation from this subnet.`,
    );
  await deleteRow(tx.q, 'subnet', row.id);
  await touchRow(tx.q, 'network', network.id);
  await syncDhcpPort(tx, network);
}

async function view(_tx: NetTx, row: Row) {
  const b = row.body;
  return {
    id: row.id,
    name: b.name,
    network_id: row.parent_id,
    ip_version: b.ip_version,
    subnetpool_id: null,
    enable_dhcp: b.enable_dhcp,
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    gateway_ip: b.gateway_ip,
    cidr: b.cidr,
    allocation_pools: b.allocation_pools,
    host_routes: b.host_routes,
    dns_nameservers: b.dns_nameservers,
    service_types: b.service_types,
    ...standardView(row),
  };
}

/** Neutron's get_subnet: the owner, an admin, or anyone when the network is shared. */
async function visible(tx: NetTx, row: Row): Promise<boolean> {
  if (owns(tx, row)) return true;
  const network = await getRow(tx.q, 'network', row.parent_id);
  return network.body.shared === true || (networkVisible(tx, network) && owns(tx, network));
}

export const SUBNETS: ResourceType = {
  kind: 'subnet',
  resource: 'subnet',
  collection: 'subnets',
  path: 'subnets',
  keys: KEYS,
  taggable: true,
  visible,
  view,
  create,
  update,
  remove,
};
