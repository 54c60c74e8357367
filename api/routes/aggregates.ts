/**
 * /v2.1/os-aggregates (admin only), read side: berth has no host
 * aggregates, so the list is empty. It is here because clients ask for it
 * unconditionally: `openstack hypervisor show` lists aggregates to print
 * which ones hold the host, and fails on a 404.
 */
import { Router } from 'express';
import { ctxOf } from '../context';
import { route } from '../http';
import { ADMIN_RULES, requireAdmin } from '../policy';

export function aggregatesRouter(): Router {
  const router = Router();
  router.get(
    '/',
    route((_req, res) => {
      requireAdmin(ctxOf(res), ADMIN_RULES.aggregatesIndex);
      res.json({ aggregates: [] });
    }),
  );
  return router;
}
