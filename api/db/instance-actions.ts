/**
 * os-instance-actions: what was asked of an instance (recorded by the API
 * when it accepts the request) and how the compute's part ended (recorded
 * by the conductor when the compute reports the task done).
 */
import type { Knex } from 'knex';
import type { ApiContext } from '../context';
import { now } from '../http';

export interface ActionRow {
  id: number;
  action: string;
  instance_uuid: string;
  request_id: string;
  user_id: string | null;
  project_id: string | null;
  start_time: string;
  finish_time: string | null;
  message: string | null;
  updated_at: string | null;
}

export interface EventRow {
  id: number;
  action_id: number;
  event: string;
  start_time: string;
  finish_time: string | null;
  result: string | null;
  traceback: string | null;
  host: string | null;
  details: string | null;
}

export async function recordAction(
  db: Knex,
  instanceUuid: string,
  action: string,
  ctx: Pick<ApiContext, 'requestId' | 'userId' | 'projectId'>,
): Promise<void> {
  const t = now();
  await db('instance_actions').insert({
    action,
    instance_uuid: instanceUuid,
    request_id: ctx.requestId,
    user_id: ctx.userId,
    project_id: ctx.projectId,
    start_time: t,
    updated_at: t,
  });
}

/** Closes the instance's newest open action with one compute event. */
export async function finishAction(
  db: Knex,
  instanceUuid: string,
  o: { host: string | null; error?: string },
): Promise<void> {
  const open = await db<ActionRow>('instance_actions')
    .where({ instance_uuid: instanceUuid })
    .whereNull('finish_time')
    .orderBy('id', 'desc')
    .first();
  if (!open) return;
  const t = now();
  await db('instance_actions_events').insert({
    action_id: open.id,
    event: `compute_${open.action === 'create' ? '_do_build_and_run_instance' : `${open.action}_instance`}`,
    start_time: open.start_time,
    finish_time: t,
    result: o.error ? 'Error' : 'Success',
    traceback: o.error ?? null,
    host: o.host,
  });
  await db('instance_actions')
    .where({ id: open.id })
    .update({ finish_time: t, updated_at: t, message: o.error ? 'Error' : null });
}
