/**
 * The agent RPC the computes call (NETWORK_RPC.server): `get_host_state`
 * records the host's VXLAN endpoint and answers its HostNetworkState;
 * `update_ports_status` marks the host's ports ACTIVE once plugged (or
 * DOWN). A new or moved endpoint changes every other host's FDB, so it is
 * a committed change like any other.
 */
import type { Knex } from 'knex';
import type { Server, Transport } from '../../messaging/transport';
import { NETWORK_RPC, type HostNetworkState } from '../../nova/network-model';
import { isPostgres } from '../db/connection';
import { SERVICE_CALLER } from './context';
import { buildHostState, type NetworkSnapshot } from './host-state';
import type { NetworkService } from './network-service';
import { listRows, saveRow } from './store';

export async function loadSnapshot(q: Knex, dnsDomain: string): Promise<NetworkSnapshot> {
  const state = await q('network_state').where({ id: 1 }).first();
  const agents = await q<{ host: string; tunnel_ip: string }>('network_agents');
  return {
    revision: Number(state.revision),
    publicNetworkId: state.public_network_id,
    dnsDomain,
    networks: await listRows(q, 'network'),
    subnets: await listRows(q, 'subnet'),
    ports: await listRows(q, 'port'),
    securityGroups: await listRows(q, 'security_group'),
    rules: await listRows(q, 'security_group_rule'),
    routers: await listRows(q, 'router'),
    floatingIps: await listRows(q, 'floatingip'),
    portForwardings: await listRows(q, 'port_forwarding'),
    tunnelIps: new Map(agents.map((a) => [a.host, a.tunnel_ip])),
  };
}

const text = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || !v) throw new TypeError(`${name} must be a non-empty string`);
  return v;
};

export async function hostState(
  svc: NetworkService,
  host: string,
  tunnelIp: string,
): Promise<HostNetworkState> {
  const known = await svc.db('network_agents').where({ host }).first();
  if (known?.tunnel_ip !== tunnelIp)
    await svc.write(SERVICE_CALLER, async (tx) => {
      await tx.q('network_agents').where({ host }).delete();
      await tx
        .q('network_agents')
        .insert({ host, tunnel_ip: tunnelIp, updated_at: new Date().toISOString() });
    });
  return svc.db.transaction(async (trx) =>
    buildHostState(await loadSnapshot(trx, svc.config.network.dns_domain), host),
  );
}

export async function updatePortsStatus(
  svc: NetworkService,
  host: string,
  portIds: string[],
  status: 'ACTIVE' | 'DOWN',
): Promise<void> {
  // Status is for clients to read; the data plane does not depend on it, so no revision bump —
  // but the state row is still locked, as writers lock it, so no port update interleaves.
  await svc.db.transaction(async (trx) => {
    if (isPostgres(trx))
      await trx.raw('select revision from network_state where id = 1 for update');
    for (const p of await listRows(trx, 'port'))
      if (portIds.includes(p.id) && p.body['binding:host_id'] === host && p.body.status !== status)
        await saveRow(trx, p, { body: { ...p.body, status } });
  });
}

export function serveAgentRpc(
  svc: NetworkService,
  transport: Transport,
  server: string,
): Promise<Server> {
  return transport.serve({ topic: NETWORK_RPC.server.topic, server }, [
    {
      version: NETWORK_RPC.server.version,
      methods: {
        [NETWORK_RPC.methods.getHostState]: (args) =>
          hostState(svc, text(args.host, 'host'), text(args.tunnel_ip, 'tunnel_ip')),
        [NETWORK_RPC.methods.portsStatus]: async (args) => {
          const status = args.status;
          if (status !== 'ACTIVE' && status !== 'DOWN')
            throw new TypeError('status must be ACTIVE or DOWN');
          if (!Array.isArray(args.port_ids) || !args.port_ids.every((x) => typeof x === 'string'))
            throw new TypeError('port_ids must be a list of port ids');
          await updatePortsStatus(svc, text(args.host, 'host'), args.port_ids, status);
          return null;
        },
      },
    },
  ]);
}
