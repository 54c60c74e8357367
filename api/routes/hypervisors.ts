/**
 * /v2.1/os-hypervisors (admin only): the compute nodes the conductor
 * records from compute resource reports, each seen with its nova-compute
 * service for state (heartbeats) and status (enabled/disabled). From 2.53
 * ids are uuids and search moves into query parameters; at 2.88 the usage
 * figures, statistics and uptime routes go away and the detail view
 * carries the host's uptime instead.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { isUp, type ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { badRequest, itemNotFound } from '../faults';
import { nextLinks, route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin } from '../policy';
import {
  integerId,
  isQueryTrue,
  queryBoolean,
  refuseUnknown,
  UUID_LIKE,
  validateQuery,
} from '../validate';
import { hypervisorView, nodeFigures, type ComputeNodeRow } from '../views/hypervisors';
import { callCompute } from './compute-errors';

const query233 = Joi.object({ limit: Joi.number().integer().min(0), marker: Joi.string() });
const query253 = refuseUnknown(
  query233.keys({
    hypervisor_hostname_pattern: Joi.string()
      .min(1)
      .max(255)
      .pattern(/^[a-zA-Z0-9-._]*$/, 'a host name'),
    with_servers: queryBoolean,
  }),
);
const showQuery253 = refuseUnknown(Joi.object({ with_servers: queryBoolean }));

interface ListQuery {
  limit?: number;
  marker?: string;
  hypervisor_hostname_pattern?: string;
  with_servers?: string;
}

/** A node with the nova-compute service of its host; nodes whose service was deleted are left out, as Nova does. */
interface Hypervisor {
  node: ComputeNodeRow;
  service: ServiceRow;
}

async function withServices(db: Database, nodes: ComputeNodeRow[]): Promise<Hypervisor[]> {
  const services = await db<ServiceRow>('services')
    .where({ binary: 'nova-compute' })
    .whereIn(
      'host',
      nodes.map((n) => n.host),
    );
  const byHost = new Map(services.map((s) => [s.host, s]));
  return nodes.flatMap((node) => {
    const service = byHost.get(node.host);
    return service ? [{ node, service }] : [];
  });
}

/** SQL LIKE '%pattern%' as Nova searches hypervisor names, case-insensitively. */
function likeMatcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(
    pattern
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/%/g, '.*')
      .replace(/_/g, '.'),
    'i',
  );
  return (name) => re.test(name);
}

async function searchNodes(db: Database, pattern: string): Promise<Hypervisor[]> {
  const match = likeMatcher(pattern);
  const nodes = (await db<ComputeNodeRow>('compute_nodes').orderBy('id')).filter((n) =>
    match(n.hypervisor_hostname),
  );
  if (nodes.length === 0) throw itemNotFound(`No hypervisor matching '${pattern}' could be found.`);
  return withServices(db, nodes);
}

async function pageOfNodes(
  db: Database,
  v: Microversion,
  limit: number | undefined,
  marker: string | undefined,
): Promise<Hypervisor[]> {
  const q = db<ComputeNodeRow>('compute_nodes').orderBy('id');
  if (marker !== undefined) {
    const at = await nodeById(db, v, marker);
    if (!at) throw badRequest(`marker [${marker}] not found`);
    q.where('id', '>', at.id);
  }
  if (limit !== undefined) q.limit(limit);
  return withServices(db, await q);
}

/** The node an API id names: the integer id before 2.53, the uuid from it. */
async function nodeById(
  db: Database,
  v: Microversion,
  id: string,
): Promise<ComputeNodeRow | undefined> {
  if (v.ge('2.53'))
    return UUID_LIKE.test(id) ? db('compute_nodes').where({ uuid: id }).first() : undefined;
  // Past the id column's range there is no node, and PostgreSQL would refuse the query.
  const n = integerId(id);
  return n === undefined ? undefined : db('compute_nodes').where({ id: n }).first();
}

const notFound = (id: string) => itemNotFound(`Hypervisor with ID '${id}' could not be found.`);

/** Nova's _validate_id: a non-uuid is a 400 from 2.53, a non-integer a 404 before. */
async function showNode(db: Database, v: Microversion, id: string): Promise<Hypervisor> {
  if (v.ge('2.53') && !UUID_LIKE.test(id)) throw badRequest(`Invalid uuid ${id}`);
  const node = await nodeById(db, v, id);
  if (!node) throw notFound(id);
  const [h] = await withServices(db, [node]);
  if (!h) throw notFound(id);
  return h;
}

/** Instances with a task in progress, per host: Nova's current_workload. */
async function workloads(db: Database, hosts: string[]): Promise<Map<string, number>> {
  const rows = (await db('instances')
    .where({ deleted: false })
    .whereNotNull('task_state')
    .whereIn('host', hosts)
    .select('host')
    .count({ n: '*' })
    .groupBy('host')) as unknown as { host: string; n: number | string }[];
  return new Map(rows.map((r) => [r.host, Number(r.n)]));
}

async function serversOn(db: Database, host: string) {
  const rows = await db('instances')
    .where({ host, deleted: false })
    .orderBy('id')
    .select<{ display_name: string; uuid: string }[]>('display_name', 'uuid');
  return rows.map((r) => ({ name: r.display_name, uuid: r.uuid }));
}

export function hypervisorsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  const up = (s: ServiceRow) => isUp(s, config.DEFAULT.service_down_time);

  /** Asked of the compute, as Nova does; a host that is down or does not answer has none. */
  async function uptimeOf(h: Hypervisor, ctx: ApiContext): Promise<string | null> {
    if (!up(h.service)) return null;
    try {
      return await deps.compute.getHostUptime(h.node.host, rpcContext(ctx));
    } catch (err) {
      ctx.log.warn('host uptime not available', {
        host: h.node.host,
        error: (err as Error).message,
      });
      return null;
    }
  }

  async function render(
    hs: Hypervisor[],
    ctx: ApiContext,
    o: { detail: boolean; withServers?: boolean },
  ) {
    const v = ctx.version;
    const load = await workloads(
      db,
      hs.map((h) => h.node.host),
    );
    return Promise.all(
      hs.map(async (h) =>
        hypervisorView(h.node, h.service, {
          v,
          detail: o.detail,
          up: up(h.service),
          workload: load.get(h.node.host) ?? 0,
          servers: o.withServers ? await serversOn(db, h.node.host) : undefined,
          withServers: o.withServers,
          uptime: o.detail && v.ge('2.88') ? await uptimeOf(h, ctx) : undefined,
        }),
      ),
    );
  }

  const list = (detail: boolean) =>
    route(async (req: Request, res: Response) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      requireAdmin(ctx, detail ? ADMIN_RULES.hypervisorsDetail : ADMIN_RULES.hypervisors);
      const q = v.ge('2.33')
        ? validateQuery<ListQuery>(v.ge('2.53') ? query253 : query233, req.query)
        : ({} as ListQuery);
      const pattern = v.ge('2.53') ? q.hypervisor_hostname_pattern : undefined;
      const withServers = v.ge('2.53') && isQueryTrue(q.with_servers);
      let hs: Hypervisor[];
      let limit: number | undefined;
      if (pattern !== undefined) {
        if (q.limit !== undefined || q.marker !== undefined)
          throw badRequest(
            'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.',
          );
        hs = await searchNodes(db, pattern);
      } else {
        limit = v.ge('2.33')
          ? Math.min(q.limit || config.api.max_limit, config.api.max_limit)
          : undefined;
        hs = await pageOfNodes(db, v, limit, v.ge('2.33') ? q.marker : undefined);
      }
      const body: Record<string, unknown> = {
        hypervisors: await render(hs, ctx, { detail, withServers }),
      };
      const links =
        limit === undefined
          ? undefined
          : nextLinks(
              baseUrl(req),
              `/v2.1/os-hypervisors${detail ? '/detail' : ''}`,
              req.query as Record<string, unknown>,
              hs.map(({ node }) => ({ id: v.ge('2.53') ? node.uuid : String(node.id) })),
              limit,
            );
      if (links) body.hypervisors_links = links;
      res.json(body);
    });

  router.get('/', list(false));
  router.get('/detail', list(true));

  router.get(
    '/statistics',
    route(async (_req, res) => {
      const ctx = ctxOf(res);
      if (ctx.version.ge('2.88')) throw itemNotFound('The resource could not be found.');
      requireAdmin(ctx, ADMIN_RULES.hypervisorStatistics);
      // Nova sums the nodes of enabled compute services only.
      const hs = (
        await withServices(db, await db<ComputeNodeRow>('compute_nodes').orderBy('id'))
      ).filter((h) => !h.service.disabled);
      const load = await workloads(
        db,
        hs.map((h) => h.node.host),
      );
      const stats: Record<string, number> = {
        count: hs.length,
        vcpus: 0,
        memory_mb: 0,
        local_gb: 0,
        vcpus_used: 0,
        memory_mb_used: 0,
        local_gb_used: 0,
        free_ram_mb: 0,
        free_disk_gb: 0,
        current_workload: 0,
        running_vms: 0,
        disk_available_least: 0,
      };
      for (const { node } of hs)
        for (const [k, value] of Object.entries(nodeFigures(node, load.get(node.host) ?? 0)))
          stats[k] += value;
      res.json({ hypervisor_statistics: stats });
    }),
  );

  router.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      requireAdmin(ctx, ADMIN_RULES.hypervisorShow);
      const q = v.ge('2.53')
        ? validateQuery<{ with_servers?: string }>(showQuery253, req.query)
        : {};
      const h = await showNode(db, v, req.params.id);
      const [view] = await render([h], ctx, {
        detail: true,
        withServers: isQueryTrue(q.with_servers),
      });
      res.json({ hypervisor: view });
    }),
  );

  router.get(
    '/:id/uptime',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      if (v.ge('2.88')) throw itemNotFound('The resource could not be found.');
      requireAdmin(ctx, ADMIN_RULES.hypervisorUptime);
      const h = await showNode(db, v, req.params.id);
      if (!up(h.service))
        throw badRequest(`Compute service of ${h.node.host} is unavailable at this time.`);
      const uptime = await callCompute(() =>
        deps.compute.getHostUptime(h.node.host, rpcContext(ctx)),
      );
      const [view] = await render([h], ctx, { detail: false });
      res.json({ hypervisor: { ...view, uptime } });
    }),
  );

  // Before 2.53, search and servers were routes of their own, keyed by a name pattern.
  const byPattern = (servers: boolean) =>
    route(async (req: Request, res: Response) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      if (v.ge('2.53')) throw itemNotFound('The resource could not be found.');
      requireAdmin(ctx, servers ? ADMIN_RULES.hypervisorServers : ADMIN_RULES.hypervisorSearch);
      const hs = await searchNodes(db, req.params.pattern);
      res.json({ hypervisors: await render(hs, ctx, { detail: false, withServers: servers }) });
    });
  router.get('/:pattern/search', byPattern(false));
  router.get('/:pattern/servers', byPattern(true));
  return router;
}
