/**
 * addFloatingIp / removeFloatingIp (Nova's floating_ips.py, 2.1 to 2.43):
 * proxies to the network service's floating IPs. A floating IP is
 * associated with the server's port that holds the fixed address (the
 * first IPv4 one unless `fixed_address` names another).
 */
import { FLOATING_IPS } from '../network/floating-ips';
import { NeutronError } from '../network/errors';
import type { NetTx } from '../network/context';
import { listRows, type Row } from '../network/store';
import type { ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import type { Instance } from '../db/instances';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { networkCaller } from './instance-ports';

async function floatingIpByAddress(tx: NetTx, address: string): Promise<Row> {
  const fip = (await listRows(tx.q, 'floatingip')).find(
    (f) =>
      f.body.floating_ip_address === address &&
      (tx.caller.isAdmin || f.project_id === tx.caller.projectId),
  );
  if (!fip) throw itemNotFound('floating IP not found');
  return fip;
}

/** The port and fixed address the floating IP goes to. */
async function target(tx: NetTx, inst: Instance, address: string, fixed?: string) {
  const ports = await listRows(tx.q, 'port', { device_id: inst.uuid });
  if (ports.length === 0) throw badRequest('Instance network is not ready yet');
  const ips = ports.flatMap((p) =>
    ((p.body.fixed_ips as { ip_address: string }[] | undefined) ?? []).map((ip) => ({
      port: p,
      address: ip.ip_address,
    })),
  );
  if (ips.length === 0) throw badRequest('No fixed IPs associated to instance');
  if (fixed !== undefined) {
    const named = ips.find((ip) => ip.address === fixed);
    if (!named) throw badRequest('Specified fixed address not assigned to instance');
    return named;
  }
  const v4 = ips.find((ip) => !ip.address.includes(':'));
  if (!v4)
    throw badRequest(
      `Unable to associate floating IP ${address} to any fixed IPs for instance ${inst.uuid}. Instance has no fixed IPv4 addresses to associate.`,
    );
  return v4;
}

export async function addFloatingIp(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  address: string,
  fixedAddress?: string,
): Promise<void> {
  await deps.network.write(networkCaller(ctx), async (tx) => {
    const to = await target(tx, inst, address, fixedAddress);
    const fip = await floatingIpByAddress(tx, address);
    // Nova over Neutron moves an associated address to this server (a re-assign), as
    // update_floatingip does; only nova-network refused it.
    await FLOATING_IPS.update(tx, fip, {
      floatingip: { port_id: to.port.id, fixed_ip_address: to.address },
    }).catch((err: unknown) => {
      // Nova answers a refused association (the fixed address has another floating IP) 400.
      if (err instanceof NeutronError && err.status === 409) throw badRequest(err.message);
      throw err;
    });
  });
}

export async function removeFloatingIp(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  address: string,
): Promise<void> {
  await deps.network.write(networkCaller(ctx), async (tx) => {
    const fip = await floatingIpByAddress(tx, address);
    const ports = await listRows(tx.q, 'port', { device_id: inst.uuid });
    if (!fip.body.port_id || !ports.some((p) => p.id === fip.body.port_id))
      throw conflictingRequest(
        `Floating IP ${address} is not associated with instance ${inst.uuid}.`,
      );
    await FLOATING_IPS.update(tx, fip, { floatingip: { port_id: null } });
  });
}
