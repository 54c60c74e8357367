/**
 * /v2.1/os-quota-sets/{project_id}: a project's limits (its own, or any
 * for an admin), the defaults, limits with usage (detail), and the
 * admin's update and reset; with ?user_id, a user's own limits within the
 * project (Nova's per-user quotas): each at most the project's, and held
 * to at create and resize against what the user owns.
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

const userQuery = Joi.object({ user_id: Joi.string().max(255) });

function parseQuery(req: Request, ctx: ApiContext): { user_id?: string } {
  const schema = refuseUnknownFrom275(userQuery, ctx.version);
  return validateQuery<{ user_id?: string }>(schema, req.query);
}

/** Nova's _validate_quota_limit: not below what is in use, not above the project's limit. */
function checkLimit(r: QuotaResource, limit: number, used: number, maximum: number | undefined) {
  if (limit !== -1 && limit < used)
    throw badRequest(
      `Quota limit ${limit} for ${r} must be greater than or equal to already used and reserved ${used}.`,
    );
  if (maximum !== undefined && maximum !== -1 && (limit === -1 || limit > maximum))
    throw badRequest(`Quota limit ${limit} for ${r} must be less than or equal to ${maximum}.`);
}

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
      const { user_id: userId } = parseQuery(req, ctx);
      const [limits, usage] = await Promise.all([
        limitsFor(db, config, projectId, userId),
        usageFor(db, projectId, userId, userId === undefined ? 'project' : 'user'),
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
      const { user_id: userId } = parseQuery(req, ctx);
      const limits = await limitsFor(db, config, projectId, userId);
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
      const { user_id: userId } = parseQuery(req, ctx);
      const body = validate<{ quota_set: Partial<Limits> & { force?: boolean } }>(
        updateSchema(ctx.version),
        req.body,
      );
      const { force, ...values } = body.quota_set;
      if (!force) {
        // A limit below what is already used would leave the project (or user) over quota at once.
        const [usage, project] = await Promise.all([
          usageFor(db, projectId, userId, userId === undefined ? 'project' : 'user'),
          userId === undefined ? undefined : limitsFor(db, config, projectId),
        ]);
        for (const [r, limit] of Object.entries(values) as [QuotaResource, number][])
          checkLimit(r, limit, inUse(usage, r), project?.[r]);
      }
      await setLimits(db, projectId, values, userId);
      const limits = await limitsFor(db, config, projectId, userId);
      res.json({ quota_set: quotaSetView(limits, ctx.version) });
    }),
  );

  router.delete(
    '/:project_id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.quotaDelete);
      await deleteLimits(db, req.params.project_id, parseQuery(req, ctx).user_id);
      res.status(202).end();
    }),
  );
  return router;
}
