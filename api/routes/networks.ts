/**
 * /v2.1/os-networks and /v2.1/os-tenant-networks: Nova's proxies to the
 * network service's networks (nova/api/openstack/compute/networks.py,
 * tenant_networks.py over Neutron), until microversion 2.35. Nova reads
 * only a network's id and name from Neutron, so every nova-network field
 * is null (admins see the admin ones, null too); what managed
 * nova-network's networks (create, delete, add, the actions) is 410 Gone.
 */
import { Router, type Response } from 'express';
import { ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { gone, itemNotFound } from '../faults';
import { route } from '../http';
import { networkVisible, type NetTx } from '../network/context';
import { findRow, listRows, type Row } from '../network/store';
import { networkCaller } from '../servers/instance-ports';
import { removedAt236 } from './removed-proxy';

const FIELDS = [
  'id',
  'cidr',
  'netmask',
  'gateway',
  'broadcast',
  'dns1',
  'dns2',
  'cidr_v6',
  'gateway_v6',
  'label',
  'netmask_v6',
];
const ADMIN_FIELDS = [
  'created_at',
  'updated_at',
  'deleted_at',
  'deleted',
  'injected',
  'bridge',
  'vlan',
  'vpn_public_address',
  'vpn_public_port',
  'vpn_private_address',
  'dhcp_start',
  'project_id',
  'host',
  'bridge_interface',
  'multi_host',
  'priority',
  'rxtx_base',
  'mtu',
  'dhcp_server',
  'enable_dhcp',
  'share_address',
];

/** networks.py's network_dict of a network Nova made from Neutron's id and name. */
function networkDict(row: Row, isAdmin: boolean) {
  const fields = isAdmin ? [...FIELDS, ...ADMIN_FIELDS] : FIELDS;
  return {
    ...Object.fromEntries(fields.map((f) => [f, null])),
    id: row.id,
    label: row.body.name,
  };
}

/** tenant_networks.py's network_dict: Nova prints the cidr it does not have, "None". */
const tenantNetworkDict = (row: Row) => ({ id: row.id, cidr: 'None', label: row.body.name });

async function visibleNetworks(tx: NetTx): Promise<Row[]> {
  return (await listRows(tx.q, 'network')).filter((n) => networkVisible(tx, n));
}

async function networkOf(tx: NetTx, id: string): Promise<Row> {
  const row = await findRow(tx.q, 'network', id);
  if (!row || !networkVisible(tx, row)) throw itemNotFound('Network not found');
  return row;
}

const refuseGone = route(() => {
  throw gone();
});

function proxyRouter(deps: ApiDeps, view: (row: Row, res: Response) => unknown): Router {
  const r = Router();
  r.use(removedAt236);
  const read = <T>(res: Response, fn: (tx: NetTx) => Promise<T>) =>
    deps.network.read(networkCaller(ctxOf(res)), fn);
  r.get(
    '/',
    route(async (_req, res) => {
      const rows = await read(res, visibleNetworks);
      res.json({ networks: rows.map((n) => view(n, res)) });
    }),
  );
  r.get(
    '/:id',
    route(async (req, res) => {
      res.json({ network: view(await read(res, (tx) => networkOf(tx, req.params.id)), res) });
    }),
  );
  r.post('/', refuseGone);
  r.delete('/:id', refuseGone);
  return r;
}

export function networksRouter(deps: ApiDeps): Router {
  const r = proxyRouter(deps, (row, res) => networkDict(row, ctxOf(res).isAdmin));
  r.post('/add', refuseGone);
  r.post('/:id/action', refuseGone);
  return r;
}

export const tenantNetworksRouter = (deps: ApiDeps) => proxyRouter(deps, tenantNetworkDict);
