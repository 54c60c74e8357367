/** /servers/{id}/os-instance-actions: what was asked of a server and how it ended. */
import { Router } from 'express';
import { ctxOf, type ApiContext } from '../context';
import type { ActionRow, EventRow } from '../db/instance-actions';
import type { ApiDeps } from '../deps';
import { itemNotFound } from '../faults';
import { isoSeconds, route } from '../http';
import { findServer } from './server-lookup';

function actionView(a: ActionRow, ctx: ApiContext) {
  return {
    action: a.action,
    instance_uuid: a.instance_uuid,
    request_id: a.request_id,
    user_id: a.user_id,
    project_id: a.project_id,
    start_time: isoSeconds(a.start_time)?.slice(0, 19) + '.000000',
    message: a.message,
    ...(ctx.version.ge('2.58') ? { updated_at: isoSeconds(a.updated_at) } : {}),
  };
}

function eventView(e: EventRow, ctx: ApiContext) {
  return {
    event: e.event,
    start_time: `${e.start_time.slice(0, 19)}.000000`,
    finish_time: e.finish_time ? `${e.finish_time.slice(0, 19)}.000000` : null,
    result: e.result,
    ...(ctx.isAdmin ? { traceback: e.traceback } : {}),
    ...(ctx.version.ge('2.51') && ctx.isAdmin ? { host: e.host } : {}),
    ...(ctx.version.ge('2.84') ? { details: e.details } : {}),
  };
}

export function instanceActionsRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const r = Router({ mergeParams: true });
  const id = (p: unknown) => (p as { id: string }).id;
  r.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      // From 2.21 the actions of a deleted server are still shown.
      const inst = await findServer(db, ctx, id(req.params), {
        readDeleted: ctx.version.ge('2.21'),
      });
      const rows = await db<ActionRow>('instance_actions')
        .where({ instance_uuid: inst.uuid })
        .orderBy('id', 'desc');
      res.json({ instanceActions: rows.map((a) => actionView(a, ctx)) });
    }),
  );
  r.get(
    '/:requestId',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      // From 2.21 the actions of a deleted server are still shown.
      const inst = await findServer(db, ctx, id(req.params), {
        readDeleted: ctx.version.ge('2.21'),
      });
      const a = await db<ActionRow>('instance_actions')
        .where({ instance_uuid: inst.uuid, request_id: req.params.requestId })
        .first();
      if (!a)
        throw itemNotFound(
          `Action for request_id ${req.params.requestId} on instance ${inst.uuid} not found`,
        );
      const events = await db<EventRow>('instance_actions_events')
        .where({ action_id: a.id })
        .orderBy('id');
      res.json({
        instanceAction: { ...actionView(a, ctx), events: events.map((e) => eventView(e, ctx)) },
      });
    }),
  );
  return r;
}
