/**
 * resize, confirmResize and revertResize (Nova's compute API): berth
 * resizes on the instance's own host (Nova's allow_resize_to_same_host,
 * with no other host to choose), so the API claims the new flavor's room
 * on that host, records a migration of type resize and casts
 * resize_instance there. What the compute reports moves the migration on
 * (resize-progress.ts).
 */
import { randomUUID } from 'node:crypto';
import { CONFIRM_RESIZE, RESIZE, REVERT_RESIZE } from '../../nova/actions';
import { type ApiContext, rpcContext } from '../context';
import type { FlavorSizes, MigrationRecord } from '../compute-rpc';
import type { ApiDeps } from '../deps';
import { findFlavor, flavorSnapshot } from '../db/flavors';
import { recordAction } from '../db/instance-actions';
import { type FlavorSnapshot, getInstance, type Instance } from '../db/instances';
import { checkQuota } from '../db/quotas';
import { badRequest } from '../faults';
import { now } from '../http';
import { findServer } from '../routes/server-lookup';
import { claimOnHost } from '../scheduler/claims';
import { checkNotLocked, claimTask, releaseTask } from './instance-guards';

const diskOf = (f: FlavorSnapshot, rootGb = f.root_gb) =>
  rootGb + f.ephemeral_gb + Math.ceil(f.swap / 1024);

export const flavorSizes = (f: FlavorSnapshot): FlavorSizes => ({
  flavorid: f.flavorid,
  name: f.name,
  vcpus: f.vcpus,
  memory_mb: f.memory_mb,
  root_gb: f.root_gb,
  ephemeral_gb: f.ephemeral_gb,
  swap: f.swap,
});

/** Nova's checks of the new flavor (compute/api.py resize), as 400s. */
function checkNewFlavor(inst: Instance, next: FlavorSnapshot, disabled: boolean): void {
  if (next.flavorid === inst.flavorid)
    throw badRequest('When resizing, instances must change flavor!');
  if (disabled) throw badRequest(`Flavor ${next.flavorid} could not be found.`);
  const cannot = (reason: string) =>
    badRequest(`Server disk was unable to be resized because: ${reason}`);
  if (next.root_gb === 0 && inst.flavor.root_gb !== 0)
    throw cannot('Resize to zero disk flavor is not allowed.');
  // Nova's libvirt driver refuses this too (after the cast); ext4 cannot shrink while mounted.
  if (next.root_gb < inst.flavor.root_gb) throw cannot('Unable to resize disk down.');
}

export async function resizeServer(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  flavorRef: string,
  diskConfig?: 'AUTO' | 'MANUAL',
): Promise<void> {
  const { db, config, log } = deps;
  const inst = await findServer(db, ctx, uuid);
  checkNotLocked(inst, ctx);
  const row = await findFlavor(db, flavorRef, { ctx, asBadRequest: true });
  const next = flavorSnapshot(row);
  checkNewFlavor(inst, next, Boolean(row.disabled));
  // Nova's _check_quota_for_upsize: only what grows counts.
  await checkQuota(
    db,
    config,
    { projectId: inst.project_id, userId: inst.user_id },
    {
      cores: Math.max(0, next.vcpus - inst.flavor.vcpus),
      ram: Math.max(0, next.memory_mb - inst.flavor.memory_mb),
    },
  );
  await claimTask(db, inst, RESIZE, RESIZE.task);
  try {
    const outcome = await claimOnHost(
      db,
      inst.host!,
      {
        instanceUuid: inst.uuid,
        projectId: inst.project_id,
        vcpus: next.vcpus,
        memoryMb: next.memory_mb,
        // The disk never shrinks, and a revert keeps it as grown.
        diskGb: diskOf(next, Math.max(next.root_gb, inst.flavor.root_gb)),
        ignoreHosts: [],
      },
      { config, enforceGroupPolicy: false, log },
    );
    if (outcome !== 'claimed')
      throw badRequest(
        `No valid host was found. Host ${inst.host} has no room for flavor ${next.flavorid}`,
      );
    const migration = await insertMigration(deps, inst, next, row.id);
    await recordAction(db, inst.uuid, RESIZE.name, ctx);
    const current = (await getInstance(db, inst.uuid))!;
    await deps.compute.resizeInstance(current, migration, flavorSizes(next), rpcContext(ctx));
    if (diskConfig)
      await db('instances')
        .where({ uuid: inst.uuid })
        .update({ auto_disk_config: diskConfig === 'AUTO' });
  } catch (err) {
    await releaseTask(db, inst, RESIZE.task);
    await restoreAllocation(deps, inst);
    await db('migrations')
      .where({ instance_uuid: inst.uuid, status: 'pre-migrating' })
      .update({ status: 'error', updated_at: now() });
    throw err;
  }
}

async function insertMigration(
  deps: ApiDeps,
  inst: Instance,
  next: FlavorSnapshot,
  newTypeId: number,
): Promise<MigrationRecord> {
  const old = await deps.db('flavors').where({ flavorid: inst.flavorid }).first('id');
  const t = now();
  const m = {
    uuid: randomUUID(),
    instance_uuid: inst.uuid,
    source_compute: inst.host,
    dest_compute: inst.host,
    migration_type: 'resize',
    status: 'pre-migrating',
  };
  const [inserted] = await deps
    .db('migrations')
    .insert({
      ...m,
      project_id: inst.project_id,
      user_id: inst.user_id,
      source_node: inst.node,
      dest_node: inst.node,
      dest_host: null,
      old_instance_type_id: (old as { id?: number } | undefined)?.id ?? null,
      new_instance_type_id: newTypeId,
      old_flavor: JSON.stringify(inst.flavor),
      new_flavor: JSON.stringify(next),
      created_at: t,
      updated_at: t,
    })
    .returning('id');
  const id = typeof inserted === 'object' ? (inserted as { id: number }).id : inserted;
  return { id: Number(id), ...m };
}

/** The instance's allocation as its flavor has it (a failed or reverted resize). */
export async function restoreAllocation(
  deps: Pick<ApiDeps, 'db'>,
  inst: Pick<Instance, 'uuid' | 'flavor'>,
): Promise<void> {
  await deps.db('allocations').where({ instance_uuid: inst.uuid }).update({
    vcpus: inst.flavor.vcpus,
    memory_mb: inst.flavor.memory_mb,
  });
}

/** The resize the instance waits on: its migration in `status`; 400 as Nova when there is none. */
async function pendingMigration(
  deps: ApiDeps,
  inst: Instance,
  status: string,
): Promise<MigrationRecord> {
  const m = await deps
    .db('migrations')
    .where({ instance_uuid: inst.uuid, status, deleted: false })
    .orderBy('id', 'desc')
    .first<MigrationRecord | undefined>(
      'id',
      'uuid',
      'instance_uuid',
      'source_compute',
      'dest_compute',
      'migration_type',
      'status',
    );
  if (!m) throw badRequest('Instance has not been resized.');
  return m;
}

/** confirmResize and revertResize: the same guard, task and cast but for the RPC method. */
export async function finishResize(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  how: 'confirm' | 'revert',
): Promise<void> {
  const { db } = deps;
  const action = how === 'confirm' ? CONFIRM_RESIZE : REVERT_RESIZE;
  const inst = await findServer(db, ctx, uuid);
  checkNotLocked(inst, ctx);
  if (inst.vm_state === 'resized' && !inst.task_state)
    await pendingMigration(deps, inst, 'finished');
  await claimTask(db, inst, action, action.task);
  try {
    const migration = await pendingMigration(deps, inst, 'finished');
    const status = how === 'confirm' ? 'confirming' : 'reverting';
    await db('migrations').where({ id: migration.id }).update({ status, updated_at: now() });
    await recordAction(db, inst.uuid, action.name, ctx);
    const current = (await getInstance(db, inst.uuid))!;
    const m = { ...migration, status };
    if (how === 'confirm') await deps.compute.confirmResize(current, m, rpcContext(ctx));
    else await deps.compute.revertResize(current, m, rpcContext(ctx));
  } catch (err) {
    await releaseTask(db, inst, action.task);
    await db('migrations')
      .where({ instance_uuid: inst.uuid })
      .whereIn('status', ['confirming', 'reverting'])
      .update({ status: 'finished' });
    throw err;
  }
}
