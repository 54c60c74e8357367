/** /servers/{id}/ips and /ips/{network}: the addresses by network name (Nova's ips.py). */
import { Router } from 'express';
import { ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { itemNotFound } from '../faults';
import { route } from '../http';
import { addressesOf } from '../views/addresses';
import { findServer } from './server-lookup';

export function serverIpsRouter(deps: ApiDeps): Router {
  const r = Router({ mergeParams: true });
  const addresses = async (ctx: ReturnType<typeof ctxOf>, id: string) => {
    const inst = await findServer(deps.db, ctx, id);
    return addressesOf(await deps.instanceNetwork.networkInfo(inst.uuid), false);
  };
  r.get(
    '/',
    route(async (req, res) => {
      const params = req.params as { id: string };
      res.json({ addresses: await addresses(ctxOf(res), params.id) });
    }),
  );
  r.get(
    '/:network',
    route(async (req, res) => {
      const params = req.params as { id: string; network: string };
      const all = await addresses(ctxOf(res), params.id);
      if (!Object.hasOwn(all, params.network))
        throw itemNotFound('Instance is not a member of specified network');
      res.json({ [params.network]: all[params.network] });
    }),
  );
  return r;
}
