/**
 * Cinder's quotas per project: Cinder's default limits unless an admin
 * set others, and the usage counted from the rows (volumes, snapshots and
 * their gigabytes; berth has no backups or groups, so those stay at 0).
 */
import type { Knex } from 'knex';
import { quotaExceeded } from './errors';

export const QUOTA_DEFAULTS = {
  volumes: 10,
  snapshots: 10,
  gigabytes: 1000,
  backups: 10,
  backup_gigabytes: 1000,
  groups: 10,
  per_volume_gigabytes: -1,
} as const;

export type QuotaResource = keyof typeof QUOTA_DEFAULTS;
export const QUOTA_RESOURCES = Object.keys(QUOTA_DEFAULTS) as QuotaResource[];

export async function quotaLimits(q: Knex, projectId: string) {
  const set: { resource: string; hard_limit: number }[] = await q('volume_quotas').where({
    project_id: projectId,
  });
  const out = { ...QUOTA_DEFAULTS } as Record<QuotaResource, number>;
  for (const s of set)
    if (s.resource in out) out[s.resource as QuotaResource] = Number(s.hard_limit);
  return out;
}

export async function quotaUsage(q: Knex, projectId: string) {
  const count = async (table: string) => {
    const r = await q(table)
      .where({ project_id: projectId })
      .count({ n: '*' })
      .sum({ gb: 'size' })
      .first();
    return { n: Number(r?.n ?? 0), gb: Number(r?.gb ?? 0) };
  };
  const volumes = await count('volumes');
  const snapshots = await count('volume_snapshots');
  const out = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0])) as Record<
    QuotaResource,
    number
  >;
  out.volumes = volumes.n;
  out.snapshots = snapshots.n;
  out.gigabytes = volumes.gb + snapshots.gb;
  return out;
}

export async function setQuota(q: Knex, projectId: string, resource: QuotaResource, limit: number) {
  await q('volume_quotas').where({ project_id: projectId, resource }).delete();
  await q('volume_quotas').insert({ project_id: projectId, resource, hard_limit: limit });
}

export async function resetQuotas(q: Knex, projectId: string) {
  await q('volume_quotas').where({ project_id: projectId }).delete();
}

/** Refuses one more volume or snapshot of `gb` GiB (and `gb` more GiB) when over quota: 413. */
export async function checkQuota(
  q: Knex,
  projectId: string,
  what: { volumes?: number; snapshots?: number; gigabytes: number; size?: number },
) {
  const limits = await quotaLimits(q, projectId);
  const used = await quotaUsage(q, projectId);
  const perVolume = limits.per_volume_gigabytes;
  if (what.size !== undefined && perVolume >= 0 && what.size > perVolume)
    throw quotaExceeded(
      `Volume size ${what.size}G exceeded the per volume limit of ${perVolume}G.`,
    );
  for (const r of ['volumes', 'snapshots'] as const) {
    const n = what[r] ?? 0;
    if (n && limits[r] >= 0 && used[r] + n > limits[r])
      throw quotaExceeded(
        `Maximum number of ${r} allowed (${limits[r]}) exceeded for quota '${r}'.`,
      );
  }
  if (what.gigabytes && limits.gigabytes >= 0 && used.gigabytes + what.gigabytes > limits.gigabytes)
    throw quotaExceeded(
      `Requested volume or snapshot exceeds allowed gigabytes quota. Requested ${what.gigabytes}G, quota is ${limits.gigabytes}G and ${used.gigabytes}G has been consumed.`,
    );
}
