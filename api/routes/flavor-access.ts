/**
 * /v2.1/flavors/{id}/os-flavor-access and the addTenantAccess /
 * removeTenantAccess flavor actions (admins only, as Nova's defaults):
 * the projects a private flavor is for. A public flavor is everyone's and
 * has no list; from 2.7 it refuses one.
 */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import { addFlavorAccess, flavorProjects, removeFlavorAccess } from '../db/flavor-access';
import { findFlavor, type FlavorRow } from '../db/flavors';
import type { Database } from '../db/connection';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { route } from '../http';
import { ADMIN_RULES, requireAdmin } from '../policy';
import { refuseUnknown, validate, validateQuery } from '../validate';

const tenantSchema = Joi.object({ tenant: Joi.string().min(1).max(255).required() }).required();

async function accessView(db: Database, f: FlavorRow) {
  const projects = await flavorProjects(db, f);
  return { flavor_access: projects.map((p) => ({ flavor_id: f.flavorid, tenant_id: p })) };
}

const ACTIONS = {
  addTenantAccess: {
    rule: ADMIN_RULES.flavorAccessAdd,
    async act(db: Database, ctx: ApiContext, f: FlavorRow, tenant: string) {
      if (ctx.version.ge('2.7') && f.is_public)
        throw conflictingRequest('Can not add access to a public flavor.');
      await addFlavorAccess(db, f, tenant);
    },
  },
  removeTenantAccess: {
    rule: ADMIN_RULES.flavorAccessRemove,
    async act(db: Database, _ctx: ApiContext, f: FlavorRow, tenant: string) {
      await removeFlavorAccess(db, f, tenant);
    },
  },
} as const;

export function flavorAccessRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const router = Router();

  router.get(
    '/:id/os-flavor-access',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      // From 2.102 Nova refuses query parameters here; before, it ignores them.
      if (ctx.version.ge('2.102')) validateQuery(refuseUnknown(Joi.object({})), req.query);
      requireAdmin(ctx, ADMIN_RULES.flavorAccessList);
      const f = await findFlavor(db, req.params.id);
      if (f.is_public) throw itemNotFound('Access list not available for public flavors.');
      res.json(await accessView(db, f));
    }),
  );

  router.post(
    '/:id/action',
    route(async (req, res) => {
      const body = req.body as unknown;
      // Nova's action_peek: exactly one key, the action's name.
      if (
        !body ||
        typeof body !== 'object' ||
        Array.isArray(body) ||
        Object.keys(body).length !== 1
      )
        throw badRequest('Malformed request body');
      const [name] = Object.keys(body);
      if (!Object.hasOwn(ACTIONS, name)) throw badRequest(`There is no such action: ${name}`);
      const action = ACTIONS[name as keyof typeof ACTIONS];
      const { tenant } = validate<{ tenant: string }>(
        tenantSchema,
        (body as Record<string, unknown>)[name],
        name,
      );
      const ctx = ctxOf(res);
      requireAdmin(ctx, action.rule);
      const f = await findFlavor(db, req.params.id);
      await action.act(db, ctx, f, tenant);
      res.json(await accessView(db, f));
    }),
  );
  return router;
}
