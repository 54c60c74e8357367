/**
 * Neutron's quotas API: per-project limits over `[network] quota_*`
 * defaults, their usage (`/details`), and admin updates. Members read
 * their own project's; the rest is admin-only.
 */
import type { NetTx } from './context';
import { defaultQuota, QUOTA_RESOURCES, quotaLimits, type QuotaResource } from './context';
import { httpBadRequest, invalidAttribute, policyNotAuthorized } from './errors';
import { int, resourceBody } from './attributes';
import { countRows, type Kind } from './store';

const RESOURCES = Object.keys(QUOTA_RESOURCES) as QuotaResource[];
const COUNTED: QuotaResource[] = [
  'network',
  'subnet',
  'port',
  'router',
  'floatingip',
  'security_group',
  'security_group_rule',
];

export function requireQuotaReader(tx: NetTx, projectId: string): void {
  if (!tx.caller.isAdmin && tx.caller.projectId !== projectId)
    throw policyNotAuthorized('rule:get_quota');
}

export const quotaOf = (tx: NetTx, projectId: string) => quotaLimits(tx.q, tx.config, projectId);

export function defaultQuotas(tx: NetTx) {
  return Object.fromEntries(RESOURCES.map((r) => [r, defaultQuota(tx.config, r)]));
}

export async function quotaDetails(tx: NetTx, projectId: string) {
  const limits = await quotaOf(tx, projectId);
  const out: Record<string, { limit: number; used: number; reserved: number }> = {};
  for (const r of RESOURCES)
    out[r] = {
      limit: limits[r],
      used: COUNTED.includes(r) ? await countRows(tx.q, r as Kind, projectId) : 0,
      reserved: 0,
    };
  return out;
}

export async function updateQuota(tx: NetTx, projectId: string, body: unknown) {
  if (!tx.caller.isAdmin) throw policyNotAuthorized('rule:update_quota');
  const given = resourceBody(body, 'quota');
  const unknown = Object.keys(given).filter((k) => !RESOURCES.includes(k as QuotaResource));
  if (unknown.length) throw httpBadRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
  for (const [resource, value] of Object.entries(given)) {
    const limit = int(-1, 2147483647)(value, (reason) => {
      throw invalidAttribute(resource, reason);
    }) as number;
    await tx.q('network_quotas').where({ project_id: projectId, resource }).delete();
    await tx.q('network_quotas').insert({ project_id: projectId, resource, hard_limit: limit });
  }
  return quotaOf(tx, projectId);
}

export async function resetQuota(tx: NetTx, projectId: string): Promise<void> {
  if (!tx.caller.isAdmin) throw policyNotAuthorized('rule:delete_quota');
  await tx.q('network_quotas').where({ project_id: projectId }).delete();
}

/** Projects with limits of their own (Neutron lists only those). */
export async function listQuotas(tx: NetTx) {
  if (!tx.caller.isAdmin) throw policyNotAuthorized('rule:get_quota');
  const rows = await tx
    .q<{ project_id: string }>('network_quotas')
    .distinct('project_id')
    .orderBy('project_id');
  const out = [];
  for (const { project_id } of rows)
    out.push({ ...(await quotaOf(tx, project_id)), project_id, tenant_id: project_id });
  return out;
}
