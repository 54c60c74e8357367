/**
 * /v2.1/os-server-groups: a project's server groups — a policy the
 * scheduler applies to the group's members (hard or soft, affinity or
 * anti-affinity) and, from 2.64, its rules. Another project's group does
 * not exist for the caller; admins see all with ?all_projects.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import type { Database } from '../db/connection';
import { overQuota } from '../db/quotas';
import {
  decodeGroup,
  deleteGroup,
  getGroup,
  GROUP_POLICIES,
  membersOf,
  type GroupPolicy,
  type GroupRules,
  type ServerGroupRow,
} from '../db/server-groups';
import type { ApiDeps } from '../deps';
import { badRequest, forbidden } from '../faults';
import { now, route } from '../http';
import type { Microversion } from '../microversion';
import { integerLike, novaName, refuseUnknownFrom275, validate, validateQuery } from '../validate';
import { serverGroupView } from '../views/server-groups';

function createSchema(v: Microversion) {
  // The soft policies arrived in 2.15.
  const policies = v.ge('2.15') ? GROUP_POLICIES : GROUP_POLICIES.slice(0, 2);
  const group = v.ge('2.64')
    ? {
        name: novaName.required(),
        policy: Joi.string()
          .valid(...policies)
          .required(),
        rules: Joi.object({ max_server_per_host: integerLike(1) }),
      }
    : {
        name: novaName.required(),
        policies: Joi.array()
          .items(Joi.string().valid(...policies))
          .length(1)
          .required(),
      };
  return Joi.object({ server_group: Joi.object(group).required() }).required();
}

interface CreateBody {
  server_group: {
    name: string;
    policy?: GroupPolicy;
    policies?: GroupPolicy[];
    rules?: GroupRules;
  };
}

const listQuery = Joi.object({
  all_projects: Joi.string().allow(''),
  limit: Joi.number().integer().min(0),
  offset: Joi.number().integer().min(0),
});

async function createGroup(
  db: Database,
  deps: ApiDeps,
  g: { name: string; policy: GroupPolicy; rules: GroupRules; projectId: string; userId: string },
): Promise<ServerGroupRow> {
  return db.transaction(async (trx) => {
    const count = await trx('server_groups')
      .where({ project_id: g.projectId })
      .count({ n: '*' })
      .first();
    if (await overQuota(trx, deps.config, g.projectId, 'server_groups', Number(count?.n ?? 0), 1))
      throw forbidden('Quota exceeded, too many server groups.');
    const t = now();
    const uuid = randomUUID();
    await trx('server_groups').insert({
      uuid,
      name: g.name,
      project_id: g.projectId,
      user_id: g.userId,
      policy: g.policy,
      rules: JSON.stringify(g.rules),
      created_at: t,
      updated_at: null,
    });
    return (await trx<ServerGroupRow>('server_groups').where({ uuid }).first())!;
  });
}

export function serverGroupsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const schema = refuseUnknownFrom275(listQuery, v);
      const q = validateQuery<{ all_projects?: string; limit?: number; offset?: number }>(
        schema,
        req.query,
      );
      // As Nova: all_projects from a non-admin is ignored, not refused.
      const all = q.all_projects !== undefined && ctx.isAdmin;
      const limit = Math.min(q.limit || config.api.max_limit, config.api.max_limit);
      const rows: ServerGroupRow[] = await db<ServerGroupRow>('server_groups')
        .modify((b) => {
          if (!all) b.where({ project_id: ctx.projectId });
        })
        .orderBy('id')
        .offset(q.offset ?? 0)
        .limit(limit);
      const groups = rows.map(decodeGroup);
      const members = await membersOf(
        db,
        groups.map((g) => g.uuid),
      );
      res.json({
        server_groups: groups.map((g) => serverGroupView(g, members.get(g.uuid) ?? [], v)),
      });
    }),
  );

  router.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const body = validate<CreateBody>(createSchema(v), req.body).server_group;
      const policy = v.ge('2.64') ? body.policy! : body.policies![0];
      const rules = v.ge('2.64') ? (body.rules ?? {}) : {};
      if (policy !== 'anti-affinity' && Object.keys(rules).length > 0)
        throw badRequest('Only anti-affinity policy supports rules.');
      const row = await createGroup(db, deps, {
        name: body.name,
        policy,
        rules,
        projectId: ctx.projectId,
        userId: ctx.userId,
      });
      res.json({ server_group: serverGroupView(decodeGroup(row), [], v) });
    }),
  );

  router.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const group = await getGroup(db, req.params.id, ctx);
      const members = await membersOf(db, [group.uuid]);
      res.json({
        server_group: serverGroupView(group, members.get(group.uuid) ?? [], ctx.version),
      });
    }),
  );

  router.delete(
    '/:id',
    route(async (req, res) => {
      const group = await getGroup(db, req.params.id, ctxOf(res));
      await deleteGroup(db, group.uuid);
      res.status(204).end();
    }),
  );
  return router;
}
