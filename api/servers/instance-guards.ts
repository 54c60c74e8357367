/**
 * nova-api's checks before an action (check_instance_lock,
 * check_instance_state) and the task it records, as one conditional
 * update: of two concurrent requests, the second sees the first's task
 * and conflicts.
 */
import type { GuardedAction } from '../../nova/actions';
import { VmState, type TaskState } from '../../nova/states';
import type { ApiContext } from '../context';
import type { Database } from '../db/connection';
import type { Instance } from '../db/instances';
import { conflictingRequest } from '../faults';
import { now } from '../http';

/** Nova's InstanceIsLocked: a locked server acts only for admins. */
export function checkNotLocked(inst: Instance, ctx: ApiContext): void {
  if (Boolean(inst.locked) && !ctx.isAdmin)
    throw conflictingRequest(`Instance ${inst.uuid} is locked`);
}

/** Nova's InstanceInvalidState as the API words it. */
export function invalidState(inst: Instance, action: string) {
  return conflictingRequest(
    `Cannot '${action}' instance ${inst.uuid} while it is in ${inst.task_state ? `task_state ${inst.task_state}` : `vm_state ${inst.vm_state}`}`,
  );
}

/**
 * Nova's check_instance_lock and check_instance_state for an action that
 * records no task (os-interface, os-volume_attachments): the compute
 * checks the state again when the call arrives.
 */
export function checkGuarded(inst: Instance, action: GuardedAction, ctx: ApiContext): void {
  checkNotLocked(inst, ctx);
  // Only an offloaded server is hostless by right; any other without a host is still building.
  const placed = inst.host || inst.vm_state === VmState.SHELVED_OFFLOADED;
  if (!placed || inst.task_state !== null || !action.allowed.includes(inst.vm_state as never))
    throw invalidState(inst, action.method);
}

/**
 * Records `task` if the instance has none and is in one of the action's
 * vm_states (with `changes` in the same update); 409 otherwise.
 */
export async function claimTask(
  db: Database,
  inst: Instance,
  action: GuardedAction & { name: string },
  task: Exclude<TaskState, null>,
  changes: Record<string, unknown> = {},
): Promise<void> {
  if (!inst.host) throw invalidState(inst, action.name);
  const claimed = await db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .whereNull('task_state')
    .whereIn('vm_state', action.allowed as readonly string[])
    .update({ ...changes, task_state: task, updated_at: now() });
  if (claimed === 0) throw invalidState(inst, action.name);
}

/** Puts back what claimTask changed, if the task is still the one it recorded. */
export async function releaseTask(
  db: Database,
  inst: Instance,
  task: Exclude<TaskState, null>,
  restore: Record<string, unknown> = {},
): Promise<void> {
  await db('instances')
    .where({ uuid: inst.uuid, task_state: task })
    .update({ ...restore, task_state: null });
}
