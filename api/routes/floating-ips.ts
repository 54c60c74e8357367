/**
 * /v2.1/os-floating-ips and /v2.1/os-floating-ip-pools: Nova's proxies
 * to the network service's floating IPs (nova/api/openstack/compute/
 * floating_ips.py, floating_ip_pools.py over Neutron), until microversion
 * 2.35. A pool is an external network; allocating asks the Neutron
 * routes' own FLOATING_IPS.create, releasing FLOATING_IPS.remove.
 */
import { Router, type Response } from 'express';
import { ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { conflictingRequest, forbidden, itemNotFound } from '../faults';
import { route } from '../http';
import { owns, type NetTx } from '../network/context';
import type { NeutronError } from '../network/errors';
import { FLOATING_IPS } from '../network/floating-ips';
import { findRow, listRows, type Row } from '../network/store';
import { networkCaller } from '../servers/instance-ports';
import { proxied } from '../servers/network-faults';
import { removedAt236 } from './removed-proxy';

const externalNetworks = async (tx: NetTx) =>
  (await listRows(tx.q, 'network')).filter((n) => n.body['router:external'] === true);

/** Nova's _translate_floating_ip_view. */
async function novaFloatingIp(tx: NetTx, fip: Row) {
  const b = fip.body;
  const network = await findRow(tx.q, 'network', b.floating_network_id as string);
  const port = b.port_id ? await findRow(tx.q, 'port', b.port_id as string) : undefined;
  return {
    id: fip.id,
    ip: b.floating_ip_address,
    pool: (network?.body.name as string | undefined) || b.floating_network_id,
    fixed_ip: b.fixed_ip_address ?? null,
    instance_id: (port?.body.device_id as string | undefined) || null,
  };
}

async function floatingIpOf(tx: NetTx, id: string): Promise<Row> {
  const fip = await findRow(tx.q, 'floatingip', id);
  if (!fip || !owns(tx, fip)) throw itemNotFound(`Floating IP not found for ID ${id}`);
  return fip;
}

/**
 * Nova's _get_floating_ip_pool_id_by_name_or_id; without a pool, berth's
 * external network (Nova's [neutron] default_floating_pool).
 */
async function poolId(tx: NetTx, pool: unknown): Promise<string> {
  if (pool === undefined || pool === null) {
    const state = await tx.q('network_state').where({ id: 1 }).first();
    if (state?.public_network_id) return state.public_network_id as string;
    throw itemNotFound('Floating IP pool not found.');
  }
  const external = await externalNetworks(tx);
  const named = external.filter((n) => n.body.name === pool);
  if (named.length > 1)
    throw conflictingRequest(`Multiple floating IP pools matches found for name '${pool}'`);
  const found = named[0] ?? external.find((n) => n.id === pool);
  if (!found) throw itemNotFound('Floating IP pool not found.');
  return found.id;
}

export function floatingIpsRouter(deps: ApiDeps): Router {
  const r = Router();
  r.use(removedAt236);
  const caller = (res: Response) => networkCaller(ctxOf(res));

  r.get(
    '/',
    route(async (_req, res) => {
      const ctx = ctxOf(res);
      const list = await proxied(() =>
        deps.network.read(caller(res), async (tx) => {
          const mine = await listRows(tx.q, 'floatingip', { project_id: ctx.projectId });
          return Promise.all(mine.map((f) => novaFloatingIp(tx, f)));
        }),
      );
      res.json({ floating_ips: list });
    }),
  );
  r.get(
    '/:id',
    route(async (req, res) => {
      const fip = await proxied(() =>
        deps.network.read(caller(res), async (tx) =>
          novaFloatingIp(tx, await floatingIpOf(tx, req.params.id)),
        ),
      );
      res.json({ floating_ip: fip });
    }),
  );
  r.post(
    '/',
    route(async (req, res) => {
      const pool = (req.body as { pool?: unknown } | undefined)?.pool;
      const inPool = typeof pool === 'string' ? ` in pool ${pool}` : '';
      // Nova's NoMoreFloatingIps (404) and FloatingIpLimitExceeded (403).
      const conflict = (message: string, err: NeutronError) =>
        err.type === 'IpAddressGenerationFailure'
          ? itemNotFound(
              inPool ? `No more floating IPs${inPool}.` : 'No more floating IPs available.',
            )
          : err.type === 'OverQuota'
            ? forbidden(`IP allocation over quota${inPool}.`)
            : conflictingRequest(message);
      const fip = await proxied(
        () =>
          deps.network.write(caller(res), async (tx) => {
            const network = await poolId(tx, pool);
            return novaFloatingIp(
              tx,
              await FLOATING_IPS.create(tx, { floatingip: { floating_network_id: network } }),
            );
          }),
        conflict,
      );
      res.json({ floating_ip: fip });
    }),
  );
  r.delete(
    '/:id',
    route(async (req, res) => {
      // Nova's disassociate_and_release_floating_ip: the association goes with the address.
      await proxied(() =>
        deps.network.write(caller(res), async (tx) =>
          FLOATING_IPS.remove(tx, await floatingIpOf(tx, req.params.id)),
        ),
      );
      res.status(202).end();
    }),
  );
  return r;
}

export function floatingIpPoolsRouter(deps: ApiDeps): Router {
  const r = Router();
  r.use(removedAt236);
  r.get(
    '/',
    route(async (_req, res) => {
      const pools = await deps.network.read(networkCaller(ctxOf(res)), externalNetworks);
      res.json({ floating_ip_pools: pools.map((n) => ({ name: n.body.name })) });
    }),
  );
  return r;
}
