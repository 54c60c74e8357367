/**
 * /v2.1/os-simple-tenant-usage: every project's usage over a period (for
 * admins; detailed=1 lists each server) and one project's, with its
 * servers (its members or an admin). From 2.40 the servers are paged with
 * limit and marker (an instance uuid) and a full page carries a next link;
 * before, a page is [api] max_limit servers and has no link.
 */
import { Router, type Request } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { itemNotFound } from '../faults';
import { isEmptyIdPath, nextLinks, route } from '../http';
import { ADMIN_RULES, requireAdmin, requireOwnerOrAdmin } from '../policy';
import { tenantUsages, usagePeriod, type ServerUsage } from '../usage/tenant-usage';
import { refuseUnknownFrom275, validateQuery } from '../validate';

const strings = Joi.array().items(Joi.string().allow(''));
const PERIOD = { start: strings, end: strings };
const PAGING = {
  limit: Joi.array().items(Joi.string().pattern(/^[0-9]*$/, 'a non-negative integer')),
  marker: strings,
};

type Query = Record<string, string[]>;

/**
 * The query as Nova reads it (urlparse.parse_qs on the raw string): every
 * value of every key, with `+` a space and blank values dropped.
 */
function rawQuery(req: Request): Query {
  // No prototype: a key named __proto__ is a key like any other.
  const q: Query = Object.create(null) as Query;
  for (const [k, v] of new URLSearchParams(req.url.split('?')[1] ?? ''))
    if (v !== '') (q[k] ??= []).push(v);
  return q;
}

/**
 * The period's bounds, detailed, and the page: limit and marker from
 * 2.40, else max_limit servers. The bounds are parsed after the policy
 * check, as Nova does.
 */
function parseQuery(
  req: Request,
  ctx: ApiContext,
  keys: Record<string, Joi.Schema>,
  maxLimit: number,
) {
  const paged = ctx.version.ge('2.40');
  const schema = Joi.object({ ...keys, ...(paged ? PAGING : {}) });
  const q = validateQuery<Query>(refuseUnknownFrom275(schema, ctx.version), rawQuery(req));
  const asked = paged && q.limit ? Number(q.limit.at(-1)) : maxLimit;
  return {
    start: q.start?.[0],
    end: q.end?.[0],
    detailed: q.detailed?.[0] === '1',
    paged,
    page: { limit: Math.min(asked, maxLimit), marker: paged ? q.marker?.at(-1) : undefined },
  };
}

/** `<collection>_links` from 2.40, the marker being the last server's uuid. */
function usageLinks(req: Request, path: string, servers: ServerUsage[], limit: number) {
  return nextLinks(
    baseUrl(req),
    path,
    req.query as Record<string, unknown>,
    servers.map((s) => ({ id: s.instance_id })),
    limit,
  );
}

export function simpleTenantUsageRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      if (isEmptyIdPath(req)) throw itemNotFound('The resource could not be found.');
      const q = parseQuery(req, ctx, { ...PERIOD, detailed: strings }, config.api.max_limit);
      requireAdmin(ctx, ADMIN_RULES.tenantUsageList);
      const period = usagePeriod(q.start, q.end);
      const { usages, servers } = await tenantUsages(db, period, q.page, q.detailed);
      const body: Record<string, unknown> = { tenant_usages: usages };
      const links =
        q.paged && usageLinks(req, '/v2.1/os-simple-tenant-usage', servers, q.page.limit);
      if (links) body.tenant_usages_links = links;
      res.json(body);
    }),
  );

  router.get(
    '/:tenant_id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const projectId = req.params.tenant_id;
      const q = parseQuery(req, ctx, PERIOD, config.api.max_limit);
      requireOwnerOrAdmin(ctx, projectId, ADMIN_RULES.tenantUsageShow);
      const period = usagePeriod(q.start, q.end);
      const page = { ...q.page, projectId };
      const { usages, servers } = await tenantUsages(db, period, page, true);
      // A project that used nothing is an empty object, not zeros.
      const body: Record<string, unknown> = { tenant_usage: usages[0] ?? {} };
      const path = `/v2.1/os-simple-tenant-usage/${encodeURIComponent(projectId)}`;
      const links = q.paged && usageLinks(req, path, servers, q.page.limit);
      if (links) body.tenant_usage_links = links;
      res.json(body);
    }),
  );
  return router;
}
