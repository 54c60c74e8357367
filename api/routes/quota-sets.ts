/**
 * /v2.1/os-quota-sets/{project_id}: a project's limits (its own, or any
 * for an admin), the defaults, limits with usage (detail), and the
 * admin's update and reset. berth keeps project quotas only: Nova's
 * per-user quotas (?user_id on update/delete) are refused.
 */
import { Router, type Request } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import {
  classLimits,
  deleteLimits,
  limitsFor,
  setLimits,
  usageFor,
  type Limits,
  type QuotaResource,
} from '../db/quotas';
import type { ApiDeps } from '../deps';
import { badRequest } from '../faults';
import { route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin, requireOwnerOrAdmin } from '../policy';
import {
  integerLike,
  novaBoolean,
  refuseUnknownFrom275,
  validate,
  validateQuery,
} from '../validate';
import { inUse, quotaDetailView, quotaSetView, visibleResources } from '../views/quota-sets';

/** Nova's quota value: an integer or a string of one, from -1 (unlimited). */
const quotaValue = integerLike(-1);

function updateSchema(v: Microversion) {
  const keys: Record<string, Joi.Schema> = { force: novaBoolean };
  for (const r of visibleResources(v)) keys[r] = quotaValue;
  return Joi.object({ quota_set: Joi.object(keys).required() }).required();
}

const userQuery = Joi.object({ user_id: Joi.string() });

function parseQuery(req: Request, ctx: ApiContext): { user_id?: string } {
  const schema = refuseUnknownFrom275(userQuery, ctx.version);
  return validateQuery<{ user_id?: string }>(schema, req.query);
}

const noUserQuotas = () =>
  badRequest('Per-user quotas are not supported by berth; set quotas for the project.');

export function quotaSetsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/:project_id/defaults',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const defaults = await classLimits(db, config);
      res.json({ quota_set: quotaSetView(defaults, ctx.version, req.params.project_id) });
    }),
  );

  router.get(
    '/:project_id/detail',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const projectId = req.params.project_id;
      requireOwnerOrAdmin(ctx, projectId, ADMIN_RULES.quotaDetail);
      parseQuery(req, ctx);
      const [limits, usage] = await Promise.all([
        limitsFor(db, config, projectId),
        usageFor(db, projectId),
      ]);
      res.json({ quota_set: quotaDetailView(limits, usage, ctx.version, projectId) });
    }),
  );

  router.get(
    '/:project_id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const projectId = req.params.project_id;
      requireOwnerOrAdmin(ctx, projectId, ADMIN_RULES.quotaShow);
      parseQuery(req, ctx);
      const limits = await limitsFor(db, config, projectId);
      res.json({ quota_set: quotaSetView(limits, ctx.version, projectId) });
    }),
  );

  router.put(
    '/:project_id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const projectId = req.params.project_id;
      requireAdmin(ctx, ADMIN_RULES.quotaUpdate);
      // Project ids are the quotas table's 255 characters at most; a longer one names no project.
      if (projectId.length > 255)
        throw badRequest(`Project ID ${projectId.slice(0, 64)}… is not a valid project.`);
      if (parseQuery(req, ctx).user_id !== undefined) throw noUserQuotas();
      const body = validate<{ quota_set: Partial<Limits> & { force?: boolean } }>(
        updateSchema(ctx.version),
        req.body,
      );
      const { force, ...values } = body.quota_set;
      if (!force) {
        // A limit below what is already used would leave the project over quota at once.
        const usage = await usageFor(db, projectId);
        for (const [r, limit] of Object.entries(values) as [QuotaResource, number][]) {
          const used = inUse(usage, r);
          if (limit !== -1 && limit < used)
            throw badRequest(
              `Quota limit ${limit} for ${r} must be greater than or equal to already used and reserved ${used}.`,
            );
        }
      }
      await setLimits(db, projectId, values);
      res.json({ quota_set: quotaSetView(await limitsFor(db, config, projectId), ctx.version) });
    }),
  );

  router.delete(
    '/:project_id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.quotaDelete);
      if (parseQuery(req, ctx).user_id !== undefined) throw noUserQuotas();
      await deleteLimits(db, req.params.project_id);
      res.status(202).end();
    }),
  );
  return router;
}
