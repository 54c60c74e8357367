/**
 * os-interface attach and detach (Nova's compute/api.py attach_interface
 * and detach_interface): the network service makes or claims the port,
 * bound to the instance's host, and the compute plugs it; a compute that
 * cannot gets the port released again. Detach unplugs first, then releases.
 */
import { ATTACH_INTERFACE, DETACH_INTERFACE } from '../../nova/actions';
import type { Vif } from '../../nova/network-model';
import { rpcContext, type ApiContext } from '../context';
import { getInstance, type Instance } from '../db/instances';
import { finishAction, recordAction } from '../db/instance-actions';
import type { ApiDeps } from '../deps';
import { ApiFault, computeFault, itemNotFound } from '../faults';
import type { RequestedNetwork } from '../network/instance-network';
import { callCompute } from '../routes/compute-errors';
import { checkGuarded } from './instance-guards';
import { instanceOwner, networkCaller } from './instance-ports';
import { networkFault } from './network-faults';

export async function attachInterface(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  requested: RequestedNetwork,
): Promise<Vif> {
  checkGuarded(inst, ATTACH_INTERFACE, ctx);
  const { db, instanceNetwork: network } = deps;
  await recordAction(db, inst.uuid, ATTACH_INTERFACE.method, ctx);
  let vif: Vif;
  try {
    vif = await network.attachInterface(
      networkCaller(ctx),
      instanceOwner(inst),
      requested,
      inst.host,
    );
  } catch (err) {
    await finishAction(db, inst.uuid, { host: inst.host, error: (err as Error).message });
    throw networkFault(err, 'attach', { networks: [requested], securityGroups: [] });
  }
  try {
    const networkInfo = await network.networkInfo(inst.uuid);
    await callCompute(() =>
      deps.compute.attachInterface(
        inst,
        networkInfo,
        {
          networkId: vif.network.id,
          portId: vif.id,
          requestedIp: requested.fixedIp ?? null,
          tag: requested.tag ?? null,
        },
        rpcContext(ctx),
      ),
    );
  } catch (err) {
    await network.detachInterface(inst.uuid, vif.id).catch((undo: Error) =>
      ctx.log.error('port of a failed attach not released', {
        instance_uuid: inst.uuid,
        port_id: vif.id,
        error: undo.message,
      }),
    );
    await finishAction(db, inst.uuid, { host: inst.host, error: (err as Error).message });
    // Nova's InterfaceAttachFailed, unless the compute said what was wrong.
    throw err instanceof ApiFault
      ? err
      : computeFault(`Failed to attach network adapter device to ${inst.uuid}`);
  }
  await setPortTag(deps, inst.uuid, vif.id, requested.tag);
  await finishAction(db, inst.uuid, { host: inst.host });
  return vif;
}

export async function detachInterface(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  portId: string,
): Promise<void> {
  checkGuarded(inst, DETACH_INTERFACE, ctx);
  const { db, instanceNetwork: network } = deps;
  const vifs = await network.networkInfo(inst.uuid);
  if (!vifs.some((v) => v.id === portId))
    throw itemNotFound(`Port id ${portId} could not be found.`);
  await recordAction(db, inst.uuid, DETACH_INTERFACE.method, ctx);
  try {
    await callCompute(() => deps.compute.detachInterface(inst, portId, rpcContext(ctx)));
    await network.detachInterface(inst.uuid, portId).catch((err) => {
      throw networkFault(err, 'attach', { networks: [{ port: portId }], securityGroups: [] });
    });
  } catch (err) {
    await finishAction(db, inst.uuid, { host: inst.host, error: (err as Error).message });
    throw err;
  }
  await setPortTag(deps, inst.uuid, portId, undefined);
  await finishAction(db, inst.uuid, { host: inst.host });
}

/** The os-interface tag (2.70) of a port, kept with the instance's request spec. */
async function setPortTag(
  deps: ApiDeps,
  uuid: string,
  portId: string,
  tag: string | undefined,
): Promise<void> {
  const inst = await getInstance(deps.db, uuid);
  if (!inst) return;
  const tags = { ...inst.request_spec.port_tags };
  if (tag === undefined && !(portId in tags)) return;
  if (tag === undefined) delete tags[portId];
  else tags[portId] = tag;
  await deps
    .db('instances')
    .where({ uuid, deleted: false })
    .update({ request_spec: JSON.stringify({ ...inst.request_spec, port_tags: tags }) });
}
