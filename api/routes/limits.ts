/**
 * /v2.1/limits: the caller's project limits and what it uses, in Nova's
 * absolute-limit names; another project's (tenant_id) for admins only.
 */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import { limitsFor, usageFor } from '../db/quotas';
import type { ApiDeps } from '../deps';
import { route } from '../http';
import { ADMIN_RULES, requireAdmin } from '../policy';
import { refuseUnknownFrom275, validateQuery } from '../validate';
import { limitsView } from '../views/quota-sets';

const query = Joi.object({ tenant_id: Joi.string().min(1).max(255) });

export function limitsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const schema = refuseUnknownFrom275(query, v);
      const q = validateQuery<{ tenant_id?: string }>(schema, req.query);
      let projectId = ctx.projectId;
      if (q.tenant_id !== undefined) {
        requireAdmin(ctx, ADMIN_RULES.limitsOtherProject);
        projectId = q.tenant_id;
      }
      const [limits, usage] = await Promise.all([
        limitsFor(db, config, projectId),
        usageFor(db, projectId),
      ]);
      res.json(limitsView(limits, usage, v));
    }),
  );
  return router;
}
