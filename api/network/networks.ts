/**
 * Networks: Neutron's model (router:external, shared, mtu, the provider
 * attributes only admins see) with a VXLAN VNI from `[network]
 * vni_min..vni_max` for tenant networks and flat for external ones.
 * Deleting one that still has ports (other than its DHCP port) is 409
 * NetworkInUse; otherwise its subnets and DHCP port go with it.
 */
import { randomUUID } from 'node:crypto';
import {
  bool,
  DESCRIPTION,
  int,
  listOf,
  NAME,
  nullable,
  oneOf,
  owningProject,
  parseAttributes,
  PROJECT,
  resourceBody,
  str,
  type AttributeMap,
} from './attributes';
import { checkQuota, networkVisible, requireOwner, type NetTx } from './context';
import { invalidInput, NeutronError } from './errors';
import { freeIps } from './ipam';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import { deleteRow, insertRow, listRows, saveRow, type Row } from './store';

const ATTRIBUTES: AttributeMap = {
  name: NAME,
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  admin_state_up: { post: true, put: true, default: true, convert: bool },
  shared: { post: true, put: true, default: false, convert: bool, adminOnly: true },
  'router:external': { post: true, put: true, default: false, convert: bool, adminOnly: true },
  is_default: { post: true, put: true, default: false, convert: bool, adminOnly: true },
  mtu: { post: true, put: true, convert: int(68, 65535) },
  port_security_enabled: { post: true, put: true, default: true, convert: bool },
  'provider:network_type': { post: true, convert: oneOf('vxlan', 'flat'), adminOnly: true },
  'provider:physical_network': { post: true, convert: nullable(str(64)), adminOnly: true },
  'provider:segmentation_id': { post: true, convert: nullable(int(1, 16777215)), adminOnly: true },
  availability_zone_hints: { post: true, default: [], convert: listOf(oneOf('nova'), 1) },
  dns_domain: { post: true, put: true, default: '', convert: str(255) },
};

const KEYS = [
  'id',
  'name',
  'admin_state_up',
  'mtu',
  'status',
  'subnets',
  'shared',
  'port_security_enabled',
  'router:external',
  'provider:network_type',
  'provider:physical_network',
  'provider:segmentation_id',
  'is_default',
  'availability_zone_hints',
  'availability_zones',
  'ipv4_address_scope',
  'ipv6_address_scope',
  'dns_domain',
  ...STANDARD_KEYS,
] as const;

const noNetworkAvailable = () =>
  new NeutronError(
    503,
    'NoNetworkAvailable',
    'Unable to create the network. No tenant network is available for allocation.',
  );

/** The segment of a new network: a free VNI, or the flat physical network it names. */
async function segment(tx: NetTx, v: Record<string, unknown>) {
  const type = (v['provider:network_type'] as string | undefined) ?? 'vxlan';
  const physnet = v['provider:physical_network'] as string | null | undefined;
  if (type === 'flat') {
    if (!physnet) throw invalidInput('physical_network required for flat provider network');
    const used = await listRows(tx.q, 'network');
    if (used.some((n) => n.unique_key === `flat:${physnet}`))
      throw new NeutronError(
        409,
        'FlatNetworkInUse',
        `Unable to create the flat network. Physical network ${physnet} is in use.`,
      );
    return { type, physnet, vni: null, key: `flat:${physnet}`, maxMtu: tx.config.public_mtu };
  }
  if (physnet) throw invalidInput('provider:physical_network specified for vxlan network');
  const used = new Set(
    (await listRows(tx.q, 'network')).map(
      (n) => n.body['provider:segmentation_id'] as number | null,
    ),
  );
  let vni = v['provider:segmentation_id'] as number | null | undefined;
  if (vni != null) {
    if (vni < tx.config.vni_min || vni > tx.config.vni_max || used.has(vni))
      throw new NeutronError(
        409,
        'TunnelIdInUse',
        `Unable to create the network. The tunnel ID ${vni} is in use.`,
      );
  } else {
    vni = undefined;
    for (let n = tx.config.vni_min; n <= tx.config.vni_max && vni === undefined; n++)
      if (!used.has(n)) vni = n;
    if (vni === undefined) throw noNetworkAvailable();
  }
  return { type, physnet: null, vni, key: `vni:${vni}`, maxMtu: tx.config.default_mtu };
}

async function create(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'network'),
    'post',
    tx.caller,
    'create_network',
  );
  const projectId = owningProject(tx.caller, v);
  await checkQuota(tx, 'network', projectId);
  const seg = await segment(tx, v);
  const mtu = (v.mtu as number | undefined) ?? seg.maxMtu;
  if (mtu > seg.maxMtu) throw invalidInput(`Requested MTU is too big, maximum is ${seg.maxMtu}`);
  if (v.is_default && !v['router:external'])
    throw invalidInput('is_default can only be set on an external network');
  return insertRow(tx.q, {
    kind: 'network',
    id: randomUUID(),
    project_id: projectId,
    unique_key: seg.key,
    // A fresh network is at revision 1, as Neutron's (its segment is written after it).
    revision_number: 1,
    body: {
      ...v,
      mtu,
      'provider:network_type': seg.type,
      'provider:physical_network': seg.physnet,
      'provider:segmentation_id': seg.vni,
    },
  });
}

async function update(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_network');
  const given = resourceBody(body, 'network');
  const provider = Object.keys(given).filter((k) => k.startsWith('provider:'));
  if (provider.length)
    throw invalidInput(
      `Plugin does not support updating the following provider network attributes: ${provider.join(', ')}`,
    );
  const v = parseAttributes(ATTRIBUTES, given, 'put', tx.caller, 'update_network');
  const maxMtu =
    row.body['provider:network_type'] === 'flat' ? tx.config.public_mtu : tx.config.default_mtu;
  if (typeof v.mtu === 'number' && v.mtu > maxMtu)
    throw invalidInput(`Requested MTU is too big, maximum is ${maxMtu}`);
  return saveRow(tx.q, row, { body: { ...row.body, ...v } });
}

async function remove(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_network');
  const ports = await listRows(tx.q, 'port', { parent_id: row.id });
  const busy = ports.filter((p) => p.body.device_owner !== 'network:dhcp');
  const fips = (await listRows(tx.q, 'floatingip')).filter(
    (f) => f.body.floating_network_id === row.id,
  );
  // An unassociated floating IP goes with its network, as in Neutron; one in use holds it.
  const forwarded = new Set((await listRows(tx.q, 'port_forwarding')).map((pf) => pf.parent_id));
  const inUse = fips.filter((f) => f.body.port_id !== null || forwarded.has(f.id));
  if (busy.length || inUse.length)
    throw new NeutronError(
      409,
      'NetworkInUse',
      `Unable to complete operation on network ${row.id}. There are one or more ports still in use on the network, id for these ports is: ${[...busy, ...inUse].map((p) => p.id).join(',')}.`,
    );
  for (const f of fips) {
    await freeIps(tx, f.id);
    await deleteRow(tx.q, 'floatingip', f.id);
  }
  for (const p of ports) {
    await freeIps(tx, p.id);
    await deleteRow(tx.q, 'port', p.id);
  }
  for (const s of await listRows(tx.q, 'subnet', { parent_id: row.id }))
    await deleteRow(tx.q, 'subnet', s.id);
  await deleteRow(tx.q, 'network', row.id);
}

async function view(tx: NetTx, row: Row) {
  const b = row.body;
  const subnets = await listRows(tx.q, 'subnet', { parent_id: row.id });
  const out: Record<string, unknown> = {
    id: row.id,
    name: b.name,
    admin_state_up: b.admin_state_up,
    mtu: b.mtu,
    status: 'ACTIVE',
    subnets: subnets.map((s) => s.id),
    shared: b.shared,
    port_security_enabled: b.port_security_enabled,
    'router:external': b['router:external'],
    availability_zone_hints: b.availability_zone_hints,
    availability_zones: [],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    dns_domain: b.dns_domain ?? '',
    ...standardView(row),
  };
  // Neutron shows is_default on external networks only, and provider attributes to admins only.
  if (b['router:external']) out.is_default = b.is_default;
  if (tx.caller.isAdmin)
    for (const k of [
      'provider:network_type',
      'provider:physical_network',
      'provider:segmentation_id',
    ])
      out[k] = b[k];
  return out;
}

export const NETWORKS: ResourceType = {
  kind: 'network',
  resource: 'network',
  collection: 'networks',
  path: 'networks',
  keys: KEYS,
  taggable: true,
  visible: networkVisible,
  view,
  create,
  update,
  remove,
};
