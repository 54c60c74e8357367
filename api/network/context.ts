/**
 * What every operation of the network service runs with: the caller, the
 * transaction, the `[network]` options, and the checks each resource
 * shares (visibility, ownership, quota).
 */
import type { Knex } from 'knex';
import type { NetworkSection } from '../../config/schema';
import type { NetworkCaller } from './instance-network';
import { NOT_FOUND, overQuota, policyNotAuthorized } from './errors';
import { countRows, getRow, type Kind, type Row } from './store';

export interface NetTx {
  q: Knex;
  caller: NetworkCaller;
  config: NetworkSection;
  /** the API's host name (the DHCP ports' device_id is derived from it, as Neutron's agent does) */
  host: string;
}

/** An admin context for work the service does on its own (bootstrap, instance ports). */
export const SERVICE_CALLER: NetworkCaller = {
  projectId: 'admin',
  userId: 'berth',
  isAdmin: true,
  requestId: 'req-network-service',
};

export const owns = (tx: NetTx, row: Row) =>
  tx.caller.isAdmin || row.project_id === tx.caller.projectId;

/** Write policy on a row the caller can see: Neutron's 403 "rule:<action> is disallowed by policy". */
export function requireOwner(tx: NetTx, row: Row, action: string): void {
  if (!owns(tx, row)) throw policyNotAuthorized(`rule:${action}`);
}

/** A network the caller may see (own, shared or external), or NetworkNotFound. */
export async function visibleNetwork(tx: NetTx, id: string): Promise<Row> {
  const row = await getRow(tx.q, 'network', id);
  if (!networkVisible(tx, row)) throw NOT_FOUND.network(id);
  return row;
}

export function networkVisible(tx: NetTx, row: Row): boolean {
  return owns(tx, row) || row.body.shared === true || row.body['router:external'] === true;
}

/** A row only its project (or an admin) sees, or the kind's NotFound. */
export async function ownedRow(tx: NetTx, kind: Kind, id: string): Promise<Row> {
  const row = await getRow(tx.q, kind, id);
  if (!owns(tx, row)) throw NOT_FOUND[kind](id);
  return row;
}

/** Neutron's quota resources, their `[network]` option, and what berth counts for them. */
export const QUOTA_RESOURCES = {
  network: 'quota_network',
  subnet: 'quota_subnet',
  subnetpool: null,
  port: 'quota_port',
  router: 'quota_router',
  floatingip: 'quota_floatingip',
  rbac_policy: null,
  security_group: 'quota_security_group',
  security_group_rule: 'quota_security_group_rule',
} as const;

export type QuotaResource = keyof typeof QUOTA_RESOURCES;

/** Neutron's defaults for the resources berth does not have. */
const FIXED_DEFAULTS: Partial<Record<QuotaResource, number>> = { subnetpool: -1, rbac_policy: 10 };

export function defaultQuota(config: NetworkSection, r: QuotaResource): number {
  const option = QUOTA_RESOURCES[r];
  return option ? config[option] : (FIXED_DEFAULTS[r] ?? -1);
}

export async function quotaLimits(q: Knex, config: NetworkSection, projectId: string) {
  const set: { resource: string; hard_limit: number }[] = await q('network_quotas').where({
    project_id: projectId,
  });
  const out = {} as Record<QuotaResource, number>;
  for (const r of Object.keys(QUOTA_RESOURCES) as QuotaResource[])
    out[r] = Number(set.find((s) => s.resource === r)?.hard_limit ?? defaultQuota(config, r));
  return out;
}

/** Refuses one more `kind` for `projectId` when its quota is used up (409 OverQuota). */
export async function checkQuota(
  tx: NetTx,
  kind: Kind & QuotaResource,
  projectId: string,
  adding = 1,
) {
  const limit = (await quotaLimits(tx.q, tx.config, projectId))[kind];
  if (limit < 0) return;
  if ((await countRows(tx.q, kind, projectId)) + adding > limit) throw overQuota(kind);
}
