/**
 * What a compute's report of a finished resize task means for the
 * instance's migration, flavor and allocation (Nova's compute does these
 * itself in finish_resize, confirm_resize and finish_revert_resize; berth's
 * computes do not write the control plane's rows). Runs in the conductor's
 * transaction of the instance save.
 */
import type { Knex } from 'knex';
import { TaskState, VmState } from '../../nova/states';
import type { FlavorSnapshot, InstanceRow } from '../db/instances';
import { now } from '../http';

const RESIZING: (string | null)[] = [
  TaskState.RESIZE_PREP,
  TaskState.RESIZE_MIGRATING,
  TaskState.RESIZE_MIGRATED,
  TaskState.RESIZE_FINISH,
];

interface MigrationRow {
  id: number;
  status: string;
  old_flavor: string;
  new_flavor: string;
}

/** `update`: the columns the save writes; called before they are written. */
export async function recordResizeProgress(
  trx: Knex.Transaction,
  row: InstanceRow,
  update: Record<string, unknown>,
): Promise<void> {
  if (row.task_state === null || update.task_state !== null) return;
  const open = ['pre-migrating', 'confirming', 'reverting'];
  const m: MigrationRow | undefined = await trx('migrations')
    .where({ instance_uuid: row.uuid, deleted: false })
    .whereIn('status', open)
    .orderBy('id', 'desc')
    .first();
  if (!m) return;
  const vm = (update.vm_state as string | undefined) ?? row.vm_state;
  const to = (status: string, flavor?: string) =>
    moveOn(
      trx,
      row.uuid,
      m.id,
      status,
      flavor ? (JSON.parse(flavor) as FlavorSnapshot) : undefined,
    );
  if (RESIZING.includes(row.task_state) && m.status === 'pre-migrating') {
    if (vm === VmState.RESIZED) await to('finished', m.new_flavor);
    else await to('error', m.old_flavor);
  } else if (row.task_state === TaskState.RESIZE_CONFIRMING && m.status === 'confirming') {
    await to(vm === VmState.RESIZED ? 'finished' : 'confirmed');
  } else if (row.task_state === TaskState.RESIZE_REVERTING && m.status === 'reverting') {
    if (vm === VmState.RESIZED) await to('finished');
    else await to(vm === VmState.ERROR ? 'error' : 'reverted', m.old_flavor);
  }
}

/** The migration's new status; with `flavor`, the instance and its allocation take it. */
async function moveOn(
  trx: Knex.Transaction,
  uuid: string,
  id: number,
  status: string,
  flavor?: FlavorSnapshot,
): Promise<void> {
  const t = now();
  await trx('migrations').where({ id }).update({ status, updated_at: t });
  if (!flavor) return;
  await trx('instances')
    .where({ uuid })
    .update({ flavor: JSON.stringify(flavor), flavorid: flavor.flavorid, updated_at: t });
  await trx('allocations')
    .where({ instance_uuid: uuid })
    .update({ vcpus: flavor.vcpus, memory_mb: flavor.memory_mb });
}
