/**
 * GET /v2.1/os-migrations: the migrations table (berth's resizes) for
 * admins, in Nova's shape per microversion: migration_type from 2.23;
 * uuid, limit/marker paging, changes-since and unknown parameters refused
 * from 2.59; changes-before from 2.66; user_id/project_id from 2.80.
 */
import { Router } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest } from '../faults';
import { nextLinks, novaTime, route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin } from '../policy';
import { refuseUnknown, validateQuery } from '../validate';

interface MigrationRow {
  id: number;
  uuid: string;
  instance_uuid: string;
  project_id: string;
  user_id: string;
  source_compute: string | null;
  source_node: string | null;
  dest_compute: string | null;
  dest_node: string | null;
  dest_host: string | null;
  old_instance_type_id: number | null;
  new_instance_type_id: number | null;
  migration_type: string;
  status: string;
  created_at: string;
  updated_at: string | null;
}

const one = Joi.string();
function querySchema(v: Microversion): Joi.ObjectSchema {
  const keys: Record<string, Joi.Schema> = {
    hidden: one,
    host: one,
    instance_uuid: one,
    source_compute: one,
    status: one,
    migration_type: one,
  };
  if (v.lt('2.59')) return Joi.object(keys);
  Object.assign(keys, {
    limit: Joi.number().integer().min(0),
    marker: one,
    'changes-since': Joi.date().iso(),
  });
  if (v.ge('2.66')) keys['changes-before'] = Joi.date().iso();
  if (v.ge('2.80')) Object.assign(keys, { user_id: one, project_id: one });
  return refuseUnknown(Joi.object(keys));
}

type Query = Record<string, string | undefined> & {
  limit?: number;
  'changes-since'?: Date;
  'changes-before'?: Date;
};

const nova = (t: string | null) => (t ? novaTime(Date.parse(t) * 1000) : null);

function migrationView(m: MigrationRow, v: Microversion) {
  return {
    id: m.id,
    ...(v.ge('2.59') ? { uuid: m.uuid } : {}),
    instance_uuid: m.instance_uuid,
    source_compute: m.source_compute,
    source_node: m.source_node,
    dest_compute: m.dest_compute,
    dest_host: m.dest_host,
    dest_node: m.dest_node,
    old_instance_type_id: m.old_instance_type_id,
    new_instance_type_id: m.new_instance_type_id,
    status: m.status,
    ...(v.ge('2.23') ? { migration_type: m.migration_type } : {}),
    created_at: nova(m.created_at),
    updated_at: nova(m.updated_at),
    ...(v.ge('2.80') ? { project_id: m.project_id, user_id: m.user_id } : {}),
  };
}

export function migrationsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  router.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const q = validateQuery<Query>(querySchema(v), req.query);
      requireAdmin(ctx, ADMIN_RULES.migrationsIndex);
      let query = db('migrations').where({ deleted: false });
      if (q.status !== undefined) query = query.whereIn('status', q.status.split(','));
      if (q.host !== undefined)
        query = query.where((w) =>
          w.where({ source_compute: q.host }).orWhere({ dest_compute: q.host }),
        );
      else if (q.source_compute !== undefined)
        query = query.where({ source_compute: q.source_compute });
      // A parameter of a later microversion is unchecked (and ignored) before it.
      const keys = [
        'migration_type',
        'instance_uuid',
        ...(v.ge('2.80') ? ['user_id', 'project_id'] : []),
      ];
      for (const key of keys) if (q[key] !== undefined) query = query.where({ [key]: q[key] });
      const since = v.ge('2.59') ? q['changes-since'] : undefined;
      const before = v.ge('2.66') ? q['changes-before'] : undefined;
      if (since && before && before < since)
        throw badRequest(
          'The value of changes-since must be less than or equal to changes-before.',
        );
      if (since) query = query.where('updated_at', '>=', since.toISOString());
      if (before) query = query.where('updated_at', '<=', before.toISOString());
      let rows = (await query.orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])) as MigrationRow[];
      let limit: number | undefined;
      if (v.ge('2.59')) {
        if (q.marker !== undefined) {
          const at = rows.findIndex((m) => m.uuid === q.marker);
          if (at < 0) throw badRequest(`Marker ${q.marker} could not be found.`);
          rows = rows.slice(at + 1);
        }
        limit = Math.min(q.limit ?? config.api.max_limit, config.api.max_limit);
        rows = rows.slice(0, limit);
      }
      const body: Record<string, unknown> = { migrations: rows.map((m) => migrationView(m, v)) };
      if (limit !== undefined) {
        const links = nextLinks(
          baseUrl(req),
          '/v2.1/os-migrations',
          req.query as Record<string, unknown>,
          rows.map((m) => ({ id: m.uuid })),
          limit,
        );
        if (links) body.migrations_links = links;
      }
      res.json(body);
    }),
  );
  return router;
}
