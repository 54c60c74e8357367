/**
 * os-resetState (Nova's admin_actions): an admin sets vm_state to active or
 * error and clears the task, in the API alone; the compute's record is
 * left to its next report, as Nova's is.
 */
import type { ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import type { Instance } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import { now } from '../http';
import { finishApiAction } from './lock-server';

export async function resetState(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  state: 'active' | 'error',
): Promise<void> {
  await recordAction(deps.db, inst.uuid, 'resetState', ctx);
  await deps
    .db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .update({ vm_state: state, task_state: null, updated_at: now() });
  await finishApiAction(deps, inst.uuid);
}
