/**
 * POST /v2.1/os-server-external-events: events a peer service (Neutron,
 * Cinder) reports about servers, answered per event as Nova does: 200
 * for a known server on a host, 404 for an unknown one, 422 for one with
 * no host, 400 for a missing tag where the event needs one; 207 overall
 * when any failed. berth's own network and volume services act in
 * process, so accepted events need no delivery to a compute host.
 */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import type { InstanceRow } from '../db/instances';
import type { ApiDeps } from '../deps';
import { policyForbidden } from '../faults';
import { route } from '../http';
import { ADMIN_RULES } from '../policy';
import type { Microversion } from '../microversion';
import { validate } from '../validate';

/** Event names and the microversion each arrives in. */
const EVENTS: [string, string][] = [
  ['network-changed', '2.0'],
  ['network-vif-plugged', '2.0'],
  ['network-vif-unplugged', '2.0'],
  ['network-vif-deleted', '2.0'],
  ['volume-extended', '2.51'],
  ['power-update', '2.76'],
  ['accelerator-request-bound', '2.82'],
  ['volume-reimaged', '2.93'],
];
const TAG_REQUIRED = ['volume-extended', 'power-update', 'accelerator-request-bound'];

const schema = (v: Microversion) =>
  Joi.object({
    events: Joi.array()
      .min(1)
      .items(
        Joi.object({
          name: Joi.string()
            .valid(...EVENTS.filter(([, since]) => v.ge(since)).map(([name]) => name))
            .required(),
          server_uuid: Joi.string().guid().required(),
          status: Joi.string().valid('failed', 'completed', 'in-progress'),
          tag: Joi.string().max(255),
        }),
      )
      .required(),
  }).required();

interface ExternalEvent {
  name: string;
  server_uuid: string;
  status?: string;
  tag?: string;
  code?: number;
}

/** Nova's default is the service role; berth's admins may report events too. */
function requireService(ctx: ApiContext) {
  if (!ctx.isAdmin && !ctx.roles.includes('service'))
    throw policyForbidden(ADMIN_RULES.externalEventsCreate);
}

export function serverExternalEventsRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const router = Router();
  router.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { events } = validate<{ events: ExternalEvent[] }>(schema(ctx.version), req.body);
      requireService(ctx);
      const uuids = [...new Set(events.map((e) => e.server_uuid))];
      const rows = await db<InstanceRow>('instances')
        .whereIn('uuid', uuids)
        .where({ deleted: false })
        .select('uuid', 'host');
      const hostOf = new Map(rows.map((r) => [r.uuid, r.host]));
      const answered = events.map((e): ExternalEvent => {
        const code = !hostOf.has(e.server_uuid)
          ? 404
          : TAG_REQUIRED.includes(e.name) && e.tag === undefined
            ? 400
            : hostOf.get(e.server_uuid)
              ? 200
              : 422;
        return { ...e, status: code === 200 ? 'completed' : 'failed', code };
      });
      if (answered.some((e) => e.code !== 200)) res.status(207);
      res.json({ events: answered });
    }),
  );
  return router;
}
