/**
 * Floating IPs on an external network, associated with a port's fixed IP
 * through the router that connects that port's subnet to the network, and
 * their port forwardings (one external port of the floating IP DNATed to
 * a port's fixed IP and port). A floating IP holds its address in
 * network_ip_allocations without a port of its own.
 */
import { randomUUID } from 'node:crypto';
import {
  DESCRIPTION,
  int,
  ip,
  nullable,
  oneOf,
  owningProject,
  parseAttributes,
  PROJECT,
  resourceBody,
  str,
  uuid,
  type AttributeMap,
} from './attributes';
import { checkQuota, ownedRow, owns, requireOwner, visibleNetwork, type NetTx } from './context';
import { badResourceRequest, externalGatewayNotFound, NeutronError, NOT_FOUND } from './errors';
import { allocateIps, freeIps, type FixedIp } from './ipam';
import { parseIp } from './ipv4';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import { routerFor } from './routers';
import {
  deleteRow,
  findRow,
  getRow,
  insertRow,
  listRows,
  saveRow,
  type Body,
  type Row,
} from './store';

const ATTRIBUTES: AttributeMap = {
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  floating_network_id: { post: true, required: true, convert: uuid },
  floating_ip_address: { post: true, convert: ip, adminOnly: true },
  subnet_id: { post: true, convert: nullable(uuid) },
  port_id: { post: true, put: true, default: null, convert: nullable(uuid) },
  fixed_ip_address: { post: true, put: true, default: null, convert: nullable(ip) },
  dns_name: { post: true, default: '', convert: str(255) },
  dns_domain: { post: true, default: '', convert: str(255) },
};

const KEYS = [
  'id',
  'floating_ip_address',
  'floating_network_id',
  'router_id',
  'port_id',
  'fixed_ip_address',
  'status',
  'port_details',
  'port_forwardings',
  'dns_name',
  'dns_domain',
  ...STANDARD_KEYS,
] as const;

interface Association {
  port_id: string | null;
  fixed_ip_address: string | null;
  router_id: string | null;
  /** kept so that the router interface it goes through cannot be removed under it */
  fixed_subnet_id?: string;
  status: 'ACTIVE' | 'DOWN';
}

const NONE: Association = {
  port_id: null,
  fixed_ip_address: null,
  router_id: null,
  status: 'DOWN',
};

/** The port's IPv4 address to use (the given one, or its first) and its subnet. */
function fixedIpOf(port: Row, wanted: string | null, resource: string): FixedIp {
  const ips = (port.body.fixed_ips as FixedIp[]).filter((f) => parseIp(f.ip_address) !== undefined);
  if (!ips.length)
    throw badResourceRequest(resource, `Port ${port.id} does not have any IPv4 address`);
  if (wanted === null) return ips[0];
  const hit = ips.find((f) => f.ip_address === wanted);
  if (!hit) throw badResourceRequest(resource, `Port ${port.id} does not have fixed ip ${wanted}`);
  return hit;
}

/** Where `port_id` / `fixed_ip_address` lead: the port's address and the router that reaches `fip`'s network. */
async function associate(
  tx: NetTx,
  fip: { id: string; network: string; address: string },
  v: Body,
): Promise<Association> {
  if (v.port_id === null) return NONE;
  const port = await ownedRow(tx, 'port', v.port_id);
  if ((port.body.device_owner as string).startsWith('network:'))
    throw badResourceRequest(
      'floatingip',
      `Port ${port.id} has owner ${port.body.device_owner} and therefore cannot be assigned a floating IP`,
    );
  const fixed = fixedIpOf(port, v.fixed_ip_address, 'floatingip');
  const router = await routerFor(tx, fixed.subnet_id, fip.network);
  if (!router) throw externalGatewayNotFound(fip.network, fixed.subnet_id, port.id);
  const taken = (await listRows(tx.q, 'floatingip')).find(
    (f) =>
      f.id !== fip.id &&
      f.body.port_id === port.id &&
      f.body.fixed_ip_address === fixed.ip_address &&
      f.body.floating_network_id === fip.network,
  );
  if (taken)
    throw new NeutronError(
      409,
      'FloatingIPPortAlreadyAssociated',
      `Cannot associate floating IP ${fip.address} (${fip.id}) with port ${port.id} using fixed IP ${fixed.ip_address}, as that fixed IP already has a floating IP on external network ${fip.network}.`,
    );
  return {
    port_id: port.id,
    fixed_ip_address: fixed.ip_address,
    router_id: router.id,
    fixed_subnet_id: fixed.subnet_id,
    status: 'ACTIVE',
  };
}

async function create(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    ATTRIBUTES,
    resourceBody(body, 'floatingip'),
    'post',
    tx.caller,
    'create_floatingip',
  );
  const projectId = owningProject(tx.caller, v);
  const network = await visibleNetwork(tx, v.floating_network_id);
  if (!network.body['router:external'])
    throw badResourceRequest('floatingip', `Network ${network.id} is not a valid external network`);
  await checkQuota(tx, 'floatingip', projectId);
  const id = randomUUID();
  const requested =
    v.floating_ip_address !== undefined || v.subnet_id
      ? [{ ip_address: v.floating_ip_address, subnet_id: v.subnet_id ?? undefined }]
      : undefined;
  const [address] = await allocateIps(tx, network, requested, id);
  if (!address)
    throw badResourceRequest('floatingip', `External network ${network.id} has no subnet`);
  const association = await associate(
    tx,
    { id, network: network.id, address: address.ip_address },
    v,
  );
  return insertRow(tx.q, {
    kind: 'floatingip',
    id,
    project_id: projectId,
    body: {
      description: v.description,
      dns_name: v.dns_name,
      dns_domain: v.dns_domain,
      floating_ip_address: address.ip_address,
      floating_network_id: network.id,
      ...association,
    },
  });
}

async function update(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_floatingip');
  const given = resourceBody(body, 'floatingip');
  const v = parseAttributes(ATTRIBUTES, given, 'put', tx.caller, 'update_floatingip');
  const next: Body = { ...row.body, ...v };
  if (v.port_id !== undefined || v.fixed_ip_address !== undefined) {
    if (
      next.port_id !== null &&
      (await listRows(tx.q, 'port_forwarding', { parent_id: row.id })).length
    )
      throw new NeutronError(
        409,
        'FipInUseByPortForwarding',
        `Floating IP ${row.id} has port forwarding resources and cannot be associated with a port`,
      );
    // A new port without an address takes the port's first, not the old port's.
    if (next.port_id === null || (v.port_id !== undefined && v.fixed_ip_address === undefined))
      next.fixed_ip_address = null;
    delete next.fixed_subnet_id;
    Object.assign(
      next,
      await associate(
        tx,
        {
          id: row.id,
          network: row.body.floating_network_id,
          address: row.body.floating_ip_address,
        },
        next,
      ),
    );
  }
  return saveRow(tx.q, row, { body: next });
}

async function remove(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_floatingip');
  for (const pf of await listRows(tx.q, 'port_forwarding', { parent_id: row.id }))
    await deleteRow(tx.q, 'port_forwarding', pf.id);
  await freeIps(tx, row.id);
  await deleteRow(tx.q, 'floatingip', row.id);
}

async function view(tx: NetTx, row: Row) {
  const b = row.body;
  const port = b.port_id ? await findRow(tx.q, 'port', b.port_id) : undefined;
  const pfs = await listRows(tx.q, 'port_forwarding', { parent_id: row.id });
  return {
    id: row.id,
    floating_ip_address: b.floating_ip_address,
    floating_network_id: b.floating_network_id,
    router_id: b.router_id,
    port_id: b.port_id,
    fixed_ip_address: b.fixed_ip_address,
    status: b.status,
    dns_name: b.dns_name ?? '',
    dns_domain: b.dns_domain ?? '',
    port_details: port
      ? {
          name: port.body.name,
          network_id: port.parent_id,
          mac_address: port.body.mac_address,
          admin_state_up: port.body.admin_state_up,
          status: port.body.status,
          device_id: port.body.device_id,
          device_owner: port.body.device_owner,
        }
      : null,
    port_forwardings: pfs.map((pf) => ({
      id: pf.id,
      internal_port_id: pf.body.internal_port_id,
      internal_ip_address: pf.body.internal_ip_address,
      internal_port: pf.body.internal_port,
      external_port: pf.body.external_port,
      protocol: pf.body.protocol,
    })),
    ...standardView(row),
  };
}

export const FLOATING_IPS: ResourceType = {
  kind: 'floatingip',
  resource: 'floatingip',
  collection: 'floatingips',
  path: 'floatingips',
  keys: KEYS,
  taggable: true,
  visible: owns,
  view,
  create,
  update,
  remove,
};

/** A port going away: its floating IPs are disassociated and port forwardings to it deleted, as Neutron does. */
export async function releasePortFromFloatingIps(tx: NetTx, portId: string): Promise<void> {
  for (const f of await listRows(tx.q, 'floatingip'))
    if (f.body.port_id === portId) {
      const { fixed_subnet_id: _gone, ...rest } = f.body;
      void _gone;
      await saveRow(tx.q, f, { body: { ...rest, ...NONE } });
    }
  for (const pf of await listRows(tx.q, 'port_forwarding'))
    if (pf.body.internal_port_id === portId) await deletePortForwarding(tx, pf);
}

// ---- port forwardings: /v2.0/floatingips/{id}/port_forwardings ----

/** "22" or "22:22" (a range of one: berth forwards single ports). */
const portRange = (v: unknown, fail: (r: string) => never) => {
  const m = typeof v === 'string' ? /^(\d{1,5})(?::(\d{1,5}))?$/.exec(v) : null;
  if (!m || (m[2] !== undefined && m[2] !== m[1]) || Number(m[1]) < 1 || Number(m[1]) > 65535)
    fail(`'${String(v)}' is not a single port between 1 and 65535`);
  return Number(m![1]);
};

const PF_ATTRIBUTES: AttributeMap = {
  description: DESCRIPTION,
  internal_port_id: { post: true, put: true, convert: uuid },
  internal_ip_address: { post: true, put: true, convert: ip },
  internal_port: { post: true, put: true, convert: int(1, 65535) },
  external_port: { post: true, put: true, convert: int(1, 65535) },
  internal_port_range: { post: true, put: true, convert: portRange },
  external_port_range: { post: true, put: true, convert: portRange },
  protocol: { post: true, put: true, convert: oneOf('tcp', 'udp') },
};

export const PF_KEYS = [
  'id',
  'external_port',
  'external_port_range',
  'protocol',
  'internal_port_id',
  'internal_ip_address',
  'internal_port',
  'internal_port_range',
  'description',
] as const;

export function portForwardingView(row: Row) {
  const b = row.body;
  return {
    id: row.id,
    external_port: b.external_port,
    external_port_range: `${b.external_port}:${b.external_port}`,
    protocol: b.protocol,
    internal_port_id: b.internal_port_id,
    internal_ip_address: b.internal_ip_address,
    internal_port: b.internal_port,
    internal_port_range: `${b.internal_port}:${b.internal_port}`,
    description: b.description ?? '',
  };
}

const required = (name: string) =>
  new NeutronError(
    400,
    'HTTPBadRequest',
    `Failed to parse request. Required attribute '${name}' not specified`,
  );

/** Checks a port forwarding's attributes against its floating IP, its port and its siblings. */
async function checkPortForwarding(tx: NetTx, fip: Row, b: Body, self?: string): Promise<Body> {
  for (const k of [
    'internal_port_id',
    'internal_ip_address',
    'internal_port',
    'external_port',
    'protocol',
  ])
    if (b[k] === undefined) throw required(k);
  if (fip.body.port_id)
    throw badResourceRequest(
      'port_forwarding',
      `Cannot create port forwarding to floating IP ${fip.body.floating_ip_address} (${fip.id}), as it is already associated with port ${fip.body.port_id}`,
    );
  const port = await ownedRow(tx, 'port', b.internal_port_id);
  const fixed = fixedIpOf(port, b.internal_ip_address, 'port_forwarding');
  const router = await routerFor(tx, fixed.subnet_id, fip.body.floating_network_id);
  if (!router)
    throw externalGatewayNotFound(fip.body.floating_network_id, fixed.subnet_id, port.id);
  if (fip.body.router_id && fip.body.router_id !== router.id)
    throw badResourceRequest(
      'port_forwarding',
      `The internal port ${port.id} is not behind router ${fip.body.router_id} of floating IP ${fip.id}`,
    );
  for (const other of await listRows(tx.q, 'port_forwarding')) {
    if (other.id === self) continue;
    const o = other.body;
    const sameExternal =
      other.parent_id === fip.id &&
      o.external_port === b.external_port &&
      o.protocol === b.protocol;
    const sameInternal =
      o.internal_ip_address === b.internal_ip_address &&
      o.internal_port === b.internal_port &&
      o.protocol === b.protocol;
    if (sameExternal || sameInternal)
      throw badResourceRequest(
        'port_forwarding',
        `A duplicate port forwarding entry with same attributes already exists, conflicting values are ${JSON.stringify(
          sameExternal
            ? { floatingip_id: fip.id, external_port: b.external_port, protocol: b.protocol }
            : {
                internal_ip_address: b.internal_ip_address,
                internal_port: b.internal_port,
                protocol: b.protocol,
              },
        )}`,
      );
  }
  return {
    ...b,
    internal_port_id: port.id,
    router_id: router.id,
    internal_subnet_id: fixed.subnet_id,
  };
}

/** The attributes of a request, `*_port_range` ones as the single ports they name. */
function parsePortForwarding(tx: NetTx, body: unknown, mode: 'post' | 'put'): Body {
  const action = `${mode === 'post' ? 'create' : 'update'}_floatingip_port_forwarding`;
  const v = parseAttributes(
    PF_ATTRIBUTES,
    resourceBody(body, 'port_forwarding'),
    mode,
    tx.caller,
    action,
  );
  for (const single of ['internal_port', 'external_port'])
    if (v[`${single}_range`] !== undefined) {
      v[single] = v[`${single}_range`];
      delete v[`${single}_range`];
    }
  return v;
}

export async function createPortForwarding(tx: NetTx, fip: Row, body: unknown): Promise<Row> {
  requireOwner(tx, fip, 'create_floatingip_port_forwarding');
  const b = await checkPortForwarding(tx, fip, parsePortForwarding(tx, body, 'post'));
  const row = await insertRow(tx.q, {
    kind: 'port_forwarding',
    id: randomUUID(),
    project_id: fip.project_id,
    parent_id: fip.id,
    body: b,
  });
  await saveRow(tx.q, fip, { body: { ...fip.body, router_id: b.router_id } });
  return row;
}

export async function updatePortForwarding(
  tx: NetTx,
  fip: Row,
  pf: Row,
  body: unknown,
): Promise<Row> {
  requireOwner(tx, fip, 'update_floatingip_port_forwarding');
  const b = await checkPortForwarding(
    tx,
    fip,
    { ...pf.body, ...parsePortForwarding(tx, body, 'put') },
    pf.id,
  );
  return saveRow(tx.q, pf, { body: b });
}

export async function deletePortForwarding(tx: NetTx, pf: Row): Promise<void> {
  await deleteRow(tx.q, 'port_forwarding', pf.id);
  const fip = await getRow(tx.q, 'floatingip', pf.parent_id);
  const left = await listRows(tx.q, 'port_forwarding', { parent_id: fip.id });
  if (!left.length && !fip.body.port_id)
    await saveRow(tx.q, fip, { body: { ...fip.body, router_id: null } });
}

/** The port forwarding `id` of a floating IP the caller sees, or 404. */
export async function portForwardingOf(tx: NetTx, fip: Row, id: string): Promise<Row> {
  const pf = await findRow(tx.q, 'port_forwarding', id);
  if (!pf || pf.parent_id !== fip.id) throw NOT_FOUND.port_forwarding(id);
  return pf;
}
