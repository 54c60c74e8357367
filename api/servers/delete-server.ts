/**
 * Server delete (Nova's compute/api.py delete): a server on a live host is
 * terminated there, and the conductor releases its ports once the compute
 * says it is gone; one that never reached a host, or whose host is down,
 * is deleted here at once, ports and volume attachments and all.
 */
import { TaskState } from '../../nova/states';
import { rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { getInstance, type Instance } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import { isUp, type ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { conflictingRequest } from '../faults';
import { now } from '../http';
import { releasePorts } from './instance-ports';
import { releaseInstanceVolumes } from './instance-volumes';
import { deleteShelvedImage } from './shelve-server';

export async function deleteServer(deps: ApiDeps, ctx: ApiContext, inst: Instance): Promise<void> {
  const { db, config } = deps;
  if (Boolean(inst.locked) && !ctx.isAdmin)
    throw conflictingRequest(`Instance ${inst.uuid} is locked`);
  await db('instances')
    .where({ uuid: inst.uuid, deleted: false })
    .update({ task_state: TaskState.DELETING, updated_at: now() });
  await recordAction(db, inst.uuid, 'delete', ctx);
  const current = await getInstance(db, inst.uuid);
  if (!current) return;
  await deleteShelvedImage(deps, current);
  // As Nova: a host that comes back removes what it still has.
  if (!current.host || !(await hostIsUp(db, current.host, config.DEFAULT.service_down_time))) {
    await localDelete(db, current.uuid);
    await releasePorts(deps.instanceNetwork, current.uuid, ctx.log);
    await releaseInstanceVolumes(deps.volumes, current.uuid, ctx);
  } else {
    await deps.compute.terminateInstance(current, rpcContext(ctx));
  }
}

async function hostIsUp(db: Database, host: string, downTime: number): Promise<boolean> {
  const service = await db<ServiceRow>('services').where({ host, binary: 'nova-compute' }).first();
  return service !== undefined && isUp(service, downTime);
}

/** Nova's local delete: the row, its claim and its group membership go at once. */
export async function localDelete(db: Database, uuid: string): Promise<void> {
  const t = now();
  await db.transaction(async (trx) => {
    await trx('instances').where({ uuid, deleted: false }).update({
      vm_state: 'deleted',
      task_state: null,
      deleted: true,
      deleted_at: t,
      terminated_at: t,
      updated_at: t,
    });
    await trx('allocations').where({ instance_uuid: uuid }).delete();
    await trx('server_group_members').where({ instance_uuid: uuid }).delete();
    await trx('instance_actions')
      .where({ instance_uuid: uuid })
      .whereNull('finish_time')
      .update({ finish_time: t, updated_at: t });
  });
}
