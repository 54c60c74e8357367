/**
 * lock / unlock (Nova's compute API lock, unlock): a locked server refuses
 * every action and delete for non-admins (checkNotLocked). Who locked it
 * is kept: an owner may not unlock what an admin locked (Nova's
 * unlock_override rule).
 */
import type { ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import type { Instance } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import { now } from '../http';
import { policyForbidden } from '../faults';

export async function lockServer(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  reason: string | null,
): Promise<void> {
  const isOwner = inst.project_id === ctx.projectId;
  // Nova leaves a lock the owner already holds as it is.
  if (Boolean(inst.locked) && isOwner) return;
  await deps
    .db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .update({
      locked: true,
      locked_by: isOwner ? 'owner' : 'admin',
      locked_reason: reason,
      updated_at: now(),
    });
  await recordAction(deps.db, inst.uuid, 'lock', ctx);
  await finishApiAction(deps, inst.uuid);
}

export async function unlockServer(deps: ApiDeps, ctx: ApiContext, inst: Instance): Promise<void> {
  const lockedBy = inst.project_id === ctx.projectId ? 'owner' : 'admin';
  if (Boolean(inst.locked) && inst.locked_by !== lockedBy && !ctx.isAdmin)
    throw policyForbidden('os_compute_api:os-lock-server:unlock:unlock_override');
  await deps
    .db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .update({ locked: false, locked_by: null, locked_reason: null, updated_at: now() });
  await recordAction(deps.db, inst.uuid, 'unlock', ctx);
  await finishApiAction(deps, inst.uuid);
}

/** An action done in the API alone (lock, unlock, resetState) is finished when recorded, as Nova's. */
export async function finishApiAction(deps: ApiDeps, uuid: string): Promise<void> {
  const t = now();
  await deps
    .db('instance_actions')
    .where({ instance_uuid: uuid })
    .whereNull('finish_time')
    .whereIn('action', ['lock', 'unlock', 'resetState'])
    .update({ finish_time: t, updated_at: t });
}
