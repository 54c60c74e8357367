/**
 * /v2.1/os-quota-class-sets/{class} (admins only): a quota class's
 * limits, and their update. The "default" class is what every project's
 * limits start from (os-quota-sets defaults included); other classes are
 * stored and shown, and used by nothing, as in Nova.
 */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import { classLimits, setClassLimits, type Limits } from '../db/quotas';
import type { ApiDeps } from '../deps';
import { badRequest } from '../faults';
import { route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin } from '../policy';
import { integerLike, validate } from '../validate';
import { classResources, quotaClassView } from '../views/quota-sets';

function updateSchema(v: Microversion) {
  const keys: Record<string, Joi.Schema> = {};
  for (const r of classResources(v)) keys[r] = integerLike(-1);
  return Joi.object({ quota_class_set: Joi.object(keys).required() }).required();
}

export function quotaClassSetsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.quotaClassShow);
      const limits = await classLimits(db, config, req.params.id);
      res.json({ quota_class_set: quotaClassView(limits, ctx.version, req.params.id) });
    }),
  );

  router.put(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = validate<{ quota_class_set: Partial<Limits> }>(
        updateSchema(ctx.version),
        req.body,
      );
      requireAdmin(ctx, ADMIN_RULES.quotaClassUpdate);
      const name = req.params.id;
      if (name.length > 255)
        throw badRequest('quota_class_name has a maximum length of 255 characters.');
      await setClassLimits(db, name, body.quota_class_set);
      const limits = await classLimits(db, config, name);
      res.json({ quota_class_set: quotaClassView(limits, ctx.version) });
    }),
  );
  return router;
}
