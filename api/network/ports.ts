/**
 * Ports: fixed IPs through IPAM, a unique fa:16:3e MAC, security groups
 * (the project's `default` unless given; none for the service's own
 * ports), the binding Nova sets (binding:host_id → vif_type "bridge"),
 * allowed address pairs, port security, dns_name. A port is DOWN until
 * its compute reports it plugged. The network's DHCP/DNS port, the
 * routers' interface and gateway ports are ports too, made here.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  anyDict,
  bool,
  DESCRIPTION,
  dictOf,
  listOf,
  noneAsEmpty,
  mac,
  NAME,
  oneOf,
  owningProject,
  parseAttributes,
  PROJECT,
  resourceBody,
  str,
  uuid,
  type AttributeMap,
  type Converter,
} from './attributes';
import { checkQuota, owns, requireOwner, visibleNetwork, type NetTx } from './context';
import { NeutronError, policyNotAuthorized } from './errors';
import { releasePortFromFloatingIps } from './floating-ips';
import { allocateIps, freeIps, requestedIps, subnetsOf, type FixedIp } from './ipam';
import { parseCidr, parseIp } from './ipv4';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import { checkGroups, ensureDefaultGroup } from './security-groups';
import { deleteRow, getRow, insertRow, listRows, saveRow, type Body, type Row } from './store';

const ADDRESS_PAIR: Converter = (v, fail) => {
  const pair = dictOf({ ip_address: (x) => x, mac_address: mac }, ['ip_address'])(v, fail) as {
    ip_address: unknown;
    mac_address?: string;
  };
  if (parseIp(pair.ip_address) === undefined && !parseCidr(pair.ip_address))
    fail(`'${String(pair.ip_address)}' is not a valid IP address or CIDR`);
  return pair;
};

/** RFC 1123 labels, as Neutron's dns_name validator takes them. */
const DNS_NAME: Converter = (v, fail) => {
  const s = str(255)(v, fail) as string;
  if (s !== '' && !/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i.test(s))
    fail(`'${s}' not a valid PQDN or FQDN`);
  return s.toLowerCase();
};

const ATTRIBUTES: AttributeMap = {
  name: NAME,
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  network_id: { post: true, required: true, convert: uuid },
  admin_state_up: { post: true, put: true, default: true, convert: bool },
  mac_address: { post: true, convert: mac },
  fixed_ips: { post: true, put: true, convert: (v) => requestedIps(v) },
  device_id: { post: true, put: true, default: '', convert: str(255) },
  device_owner: { post: true, put: true, default: '', convert: str(255) },
  security_groups: { post: true, put: true, convert: listOf(uuid, 100) },
  port_security_enabled: { post: true, put: true, convert: bool },
  allowed_address_pairs: {
    post: true,
    put: true,
    default: [],
    convert: noneAsEmpty(listOf(ADDRESS_PAIR, 10)),
  },
  'binding:host_id': { post: true, put: true, default: '', convert: str(255), adminOnly: true },
  'binding:profile': { post: true, put: true, default: {}, convert: anyDict, adminOnly: true },
  'binding:vnic_type': { post: true, put: true, default: 'normal', convert: oneOf('normal') },
  dns_name: { post: true, put: true, default: '', convert: DNS_NAME },
  extra_dhcp_opts: { post: true, put: true, default: [], convert: listOf(anyDict, 20) },
};

const KEYS = [
  'id',
  'name',
  'network_id',
  'mac_address',
  'admin_state_up',
  'status',
  'device_id',
  'device_owner',
  'fixed_ips',
  'port_security_enabled',
  'security_groups',
  'binding:vnic_type',
  'binding:profile',
  'binding:host_id',
  'binding:vif_type',
  'binding:vif_details',
  'allowed_address_pairs',
  'extra_dhcp_opts',
  'dns_name',
  'dns_assignment',
  ...STANDARD_KEYS,
] as const;

/** Owners whose ports exist for a router or the network itself, not for a workload. */
const SERVICE_OWNERS = ['network:router_interface', 'network:router_gateway', 'network:dhcp'];
export const isServicePort = (p: Row) => (p.body.device_owner as string).startsWith('network:');

/** A random MAC with OpenStack's fa:16:3e prefix, not yet used on the network. */
async function freeMac(tx: NetTx, networkId: string): Promise<string> {
  const used = new Set(
    (await listRows(tx.q, 'port', { parent_id: networkId })).map((p) => p.unique_key),
  );
  for (;;) {
    const m = `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    if (!used.has(m)) return m;
  }
}

async function claimMac(tx: NetTx, networkId: string, given: string | undefined): Promise<string> {
  if (given === undefined) return freeMac(tx, networkId);
  const ports = await listRows(tx.q, 'port', { parent_id: networkId });
  if (ports.some((p) => p.unique_key === given))
    throw new NeutronError(
      409,
      'MacAddressInUse',
      `Unable to complete operation for network ${networkId}. The mac address ${given} is in use.`,
    );
  return given;
}

function checkPortSecurity(enabled: boolean, groups: string[], pairs: unknown[]): void {
  if (!enabled && groups.length)
    throw new NeutronError(
      409,
      'PortSecurityAndIPRequiredForSecurityGroups',
      'Port security must be enabled and port must have an IP address in order to use security groups.',
    );
  if (!enabled && pairs.length)
    throw new NeutronError(
      409,
      'AddressPairAndPortSecurityRequired',
      'Port Security must be enabled in order to have allowed address pairs on a port.',
    );
}

function pairsWithMac(pairs: { ip_address: string; mac_address?: string }[], portMac: string) {
  return pairs.map((p) => ({ ip_address: p.ip_address, mac_address: p.mac_address ?? portMac }));
}

export interface NewPort {
  network: Row;
  projectId: string;
  v: Body;
  /** the service's own ports: no default group, port security off unless asked */
  service?: boolean;
  status?: 'ACTIVE' | 'DOWN';
}

/** Inserts a port whose attributes are already checked; allocates its MAC and IPs. */
export async function insertPort(tx: NetTx, p: NewPort): Promise<Row> {
  const { network, projectId, v } = p;
  await checkQuota(tx, 'port', projectId);
  const id = randomUUID();
  const macAddress = await claimMac(tx, network.id, v.mac_address);
  const owner = (v.device_owner as string | undefined) ?? '';
  const service = p.service || SERVICE_OWNERS.includes(owner);
  const security =
    (v.port_security_enabled as boolean | undefined) ??
    (service ? false : network.body.port_security_enabled);
  let groups = v.security_groups as string[] | undefined;
  if (groups) await checkGroups(tx, projectId, groups);
  else
    groups =
      security && !owner.startsWith('network:') ? [await ensureDefaultGroup(tx, projectId)] : [];
  const pairs = (v.allowed_address_pairs as { ip_address: string }[] | undefined) ?? [];
  checkPortSecurity(security, groups, pairs);
  const fixedIps = await allocateIps(tx, network, v.fixed_ips, id, {
    mayTakeGateway: owner === 'network:router_interface',
  });
  return insertRow(tx.q, {
    kind: 'port',
    id,
    project_id: projectId,
    parent_id: network.id,
    device_id: (v.device_id as string | undefined) ?? '',
    unique_key: macAddress,
    // A fresh port is at revision 1, as Neutron's (its binding is written after it).
    revision_number: 1,
    body: {
      name: '',
      description: '',
      admin_state_up: true,
      device_id: '',
      device_owner: '',
      'binding:host_id': '',
      'binding:profile': {},
      'binding:vnic_type': 'normal',
      dns_name: '',
      extra_dhcp_opts: [],
      ...v,
      network_id: network.id,
      mac_address: macAddress,
      status: p.status ?? 'DOWN',
      fixed_ips: fixedIps,
      security_groups: groups,
      port_security_enabled: security,
      allowed_address_pairs: pairsWithMac(pairs, macAddress),
    },
  });
}

async function create(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'port'),
    'post',
    tx.caller,
    'create_port',
  );
  const network = await visibleNetwork(tx, v.network_id as string);
  if (!owns(tx, network) && network.body.shared !== true)
    throw policyNotAuthorized('rule:create_port');
  const projectId = owningProject(tx.caller, v);
  delete v.network_id;
  return insertPort(tx, { network, projectId, v });
}

/** The new fixed IPs of a port: those it keeps, and new ones allocated. */
async function reallocate(tx: NetTx, port: Row, requested: ReturnType<typeof requestedIps>) {
  const network = await getRow(tx.q, 'network', port.parent_id);
  await freeIps(tx, port.id);
  return allocateIps(tx, network, requested, port.id, {
    mayTakeGateway: port.body.device_owner === 'network:router_interface',
  });
}

async function update(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_port');
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'port'),
    'put',
    tx.caller,
    'update_port',
  );
  const next: Body = { ...row.body, ...v };
  if (v.fixed_ips !== undefined) next.fixed_ips = await reallocate(tx, row, v.fixed_ips);
  if (v.security_groups !== undefined) await checkGroups(tx, row.project_id, v.security_groups);
  if (
    v.port_security_enabled === false &&
    v.security_groups === undefined &&
    next.security_groups.length
  )
    throw new NeutronError(
      409,
      'PortSecurityPortHasSecurityGroup',
      'Port has security group associated. Cannot disable port security or ip address until security group is removed',
    );
  checkPortSecurity(next.port_security_enabled, next.security_groups, next.allowed_address_pairs);
  if (v.allowed_address_pairs !== undefined)
    next.allowed_address_pairs = pairsWithMac(v.allowed_address_pairs, row.body.mac_address);
  // A port moved to another host (or unbound) is down until that host plugs it.
  if (v['binding:host_id'] !== undefined && v['binding:host_id'] !== row.body['binding:host_id'])
    next.status = 'DOWN';
  return saveRow(tx.q, row, { body: next, device_id: next.device_id });
}

async function remove(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_port');
  const owner = row.body.device_owner as string;
  if (owner === 'network:router_interface' || owner === 'network:router_gateway')
    throw new NeutronError(
      409,
      'ServicePortInUse',
      `Port ${row.id} cannot be deleted directly via the port API: has device owner ${owner}.`,
    );
  await deletePort(tx, row);
}

/** Deletes a port and what hangs on it: its addresses, floating IP associations, port forwardings. */
export async function deletePort(tx: NetTx, row: Row): Promise<void> {
  await releasePortFromFloatingIps(tx, row.id);
  await freeIps(tx, row.id);
  await deleteRow(tx.q, 'port', row.id);
}

/** Neutron's default hostname of a port without dns_name: host-10-0-0-5. */
export function portHostname(p: Row, ipAddress: string): string {
  return (p.body.dns_name as string) || `host-${ipAddress.replace(/\./g, '-')}`;
}

async function view(tx: NetTx, row: Row) {
  const b = row.body;
  const host = b['binding:host_id'] as string;
  const out: Body = {
    id: row.id,
    name: b.name,
    network_id: row.parent_id,
    mac_address: b.mac_address,
    admin_state_up: b.admin_state_up,
    status: b.status,
    device_id: b.device_id,
    device_owner: b.device_owner,
    fixed_ips: b.fixed_ips,
    allowed_address_pairs: b.allowed_address_pairs,
    extra_dhcp_opts: b.extra_dhcp_opts,
    security_groups: b.security_groups,
    port_security_enabled: b.port_security_enabled,
    dns_name: b.dns_name,
    dns_assignment: (b.fixed_ips as FixedIp[]).map((f) => ({
      ip_address: f.ip_address,
      hostname: portHostname(row, f.ip_address),
      fqdn: `${portHostname(row, f.ip_address)}.${tx.config.dns_domain}.`,
    })),
    'binding:vnic_type': b['binding:vnic_type'],
    ...standardView(row),
  };
  // Neutron's policy shows the binding's host side to admins only.
  if (tx.caller.isAdmin)
    Object.assign(out, {
      'binding:profile': b['binding:profile'],
      'binding:host_id': host,
      'binding:vif_type': host ? 'bridge' : 'unbound',
      'binding:vif_details': host ? { port_filter: true, connectivity: 'l2' } : {},
    });
  return out;
}

/** Neutron's get_port: the owner, an admin, or the owner of the port's network. */
async function visible(tx: NetTx, row: Row): Promise<boolean> {
  if (owns(tx, row)) return true;
  return owns(tx, await getRow(tx.q, 'network', row.parent_id));
}

/** RFC 4122's DNS namespace, which Neutron's DHCP agent names its host in. */
const NAMESPACE_DNS = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');

/** Neutron's DHCP port device_id: `dhcp<uuid5(NAMESPACE_DNS, host)>-<network id>`. */
export function dhcpDeviceId(host: string, networkId: string): string {
  const h = createHash('sha1').update(NAMESPACE_DNS).update(host).digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `dhcp${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}-${networkId}`;
}

/**
 * Keeps the network's DHCP/DNS port in step with its subnets: one address
 * on each, made with the first subnet and gone with the last. External
 * networks have none (no instance lives there).
 */
export async function syncDhcpPort(tx: NetTx, network: Row): Promise<void> {
  if (network.body['router:external']) return;
  const subnets = await subnetsOf(tx, network.id);
  const port = (await listRows(tx.q, 'port', { parent_id: network.id })).find(
    (p) => p.body.device_owner === 'network:dhcp',
  );
  if (!subnets.length) {
    if (port) await deletePort(tx, port);
    return;
  }
  if (!port) {
    await insertPort(tx, {
      network,
      projectId: network.project_id,
      service: true,
      status: 'ACTIVE',
      v: {
        device_owner: 'network:dhcp',
        device_id: dhcpDeviceId(tx.host, network.id),
        port_security_enabled: false,
        fixed_ips: subnets.map((s) => ({ subnet_id: s.id })),
      },
    });
    return;
  }
  const kept = (port.body.fixed_ips as FixedIp[]).filter((f) =>
    subnets.some((s) => s.id === f.subnet_id),
  );
  const missing = subnets.filter((s) => !kept.some((f) => f.subnet_id === s.id));
  const gone = (port.body.fixed_ips as FixedIp[]).filter((f) => !kept.includes(f));
  if (!missing.length && !gone.length) return;
  await freeIps(tx, port.id, gone);
  const added = await allocateIps(
    tx,
    network,
    missing.map((s) => ({ subnet_id: s.id })),
    port.id,
  );
  await saveRow(tx.q, port, { body: { ...port.body, fixed_ips: [...kept, ...added] } });
}

export const PORTS: ResourceType = {
  kind: 'port',
  resource: 'port',
  collection: 'ports',
  path: 'ports',
  keys: KEYS,
  taggable: true,
  visible,
  view,
  create,
  update,
  remove,
};
