/**
 * Nova's DB quota driver, counting usage rather than reserving it: the
 * limits of a project are the [quota] defaults overlaid with its rows in
 * the quotas table; usage is counted from instances, server groups and key
 * pairs whenever it is checked.
 */
import type { BerthConfig } from '../../config/schema';
import { ResourceExhaustedError } from '../../common/errors';
import type { Database } from './connection';

/** Every resource Nova's quota engine knows, in the order its responses list them. */
export const QUOTA_RESOURCES = [
  'cores',
  'fixed_ips',
  'floating_ips',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
  'instances',
  'key_pairs',
  'metadata_items',
  'ram',
  'security_group_rules',
  'security_groups',
  'server_group_members',
  'server_groups',
] as const;

export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type Limits = Record<QuotaResource, number>;

/** The resources a usage count exists for; the rest are limits only (Nova's AbsoluteResource). */
export interface Usage {
  instances: number;
  cores: number;
  ram: number;
  server_groups: number;
  /** the given user's key pairs; 0 when no user was given */
  key_pairs: number;
}

/** Nova's defaults for what berth's config has no option for; -1 is unlimited. */
const FIXED_DEFAULTS = {
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  // nova-network's quotas: kept in responses for old clients, never enforced.
  fixed_ips: -1,
  floating_ips: -1,
  security_groups: -1,
  security_group_rules: -1,
} as const;

export function defaultLimits(config: BerthConfig): Limits {
  const q = config.quota;
  return {
    ...FIXED_DEFAULTS,
    instances: q.instances,
    cores: q.cores,
    ram: q.ram,
    metadata_items: q.metadata_items,
    key_pairs: q.key_pairs,
    server_groups: q.server_groups,
    server_group_members: q.server_group_members,
  };
}

type LimitRow = { resource: string; hard_limit: number };

/** `limits` with each known resource of `rows` set to the row's limit. */
function overlay(limits: Limits, rows: LimitRow[]): Limits {
  for (const r of rows)
    if ((QUOTA_RESOURCES as readonly string[]).includes(r.resource))
      limits[r.resource as QuotaResource] = Number(r.hard_limit);
  return limits;
}

/** The class that every project's limits start from. */
export const DEFAULT_QUOTA_CLASS = 'default';

/** A quota class's limits: the [quota] defaults overlaid with the class's rows. */
export async function classLimits(
  db: Database,
  config: BerthConfig,
  className = DEFAULT_QUOTA_CLASS,
): Promise<Limits> {
  const rows = await db('quota_classes')
    .where({ class_name: className })
    .select<LimitRow[]>('resource', 'hard_limit');
  return overlay(defaultLimits(config), rows);
}

/** Writes a quota class's limits, replacing any earlier value for the same resource. */
export async function setClassLimits(
  db: Database,
  className: string,
  values: Partial<Limits>,
): Promise<void> {
  const t = new Date().toISOString();
  for (const [resource, hard_limit] of Object.entries(values))
    await db('quota_classes')
      .insert({ class_name: className, resource, hard_limit, created_at: t, updated_at: t })
      .onConflict(['class_name', 'resource'])
      .merge(['hard_limit', 'updated_at']);
}

/**
 * A project's limits: the default class's, overlaid with the project's own
 * rows; with a user, overlaid again with that user's rows in the project.
 */
export async function limitsFor(
  db: Database,
  config: BerthConfig,
  projectId: string,
  userId?: string,
): Promise<Limits> {
  const rows = await db('quotas')
    .where({ project_id: projectId })
    .select<LimitRow[]>('resource', 'hard_limit');
  const limits = overlay(await classLimits(db, config), rows);
  return userId === undefined ? limits : overlay(limits, await userRows(db, projectId, userId));
}

function userRows(db: Database, projectId: string, userId: string): Promise<LimitRow[]> {
  return db('project_user_quotas')
    .where({ project_id: projectId, user_id: userId })
    .select<LimitRow[]>('resource', 'hard_limit');
}

/** Writes per-project limits, or a user's in the project, replacing earlier values. */
export async function setLimits(
  db: Database,
  projectId: string,
  values: Partial<Limits>,
  userId?: string,
): Promise<void> {
  const t = new Date().toISOString();
  const [table, key, conflict] =
    userId === undefined
      ? ['quotas', { project_id: projectId }, ['project_id', 'resource']]
      : [
          'project_user_quotas',
          { project_id: projectId, user_id: userId },
          ['project_id', 'user_id', 'resource'],
        ];
  for (const [resource, hard_limit] of Object.entries(values))
    await db(table)
      .insert({ ...key, resource, hard_limit, created_at: t, updated_at: t })
      .onConflict(conflict)
      .merge(['hard_limit', 'updated_at']);
}

/** Back to the defaults: Nova's quota-set delete, of the project's limits or of one user's. */
export async function deleteLimits(db: Database, projectId: string, userId?: string) {
  if (userId !== undefined)
    await db('project_user_quotas').where({ project_id: projectId, user_id: userId }).delete();
  else {
    await db('quotas').where({ project_id: projectId }).delete();
    await db('project_user_quotas').where({ project_id: projectId }).delete();
  }
}

/**
 * What a project uses: instances, cores and RAM from the flavor snapshots
 * of its live instances (soft-deleted ones no longer count, as in Nova),
 * its server groups, and `userId`'s key pairs. With `scope` 'user', only
 * what that user owns in the project: what the user's own limits cover.
 */
export async function usageFor(
  db: Database,
  projectId: string,
  userId?: string,
  scope: 'project' | 'user' = 'project',
): Promise<Usage> {
  const owner = scope === 'user' && userId !== undefined ? { user_id: userId } : {};
  const instances = await db('instances')
    .where({ project_id: projectId, deleted: false, ...owner })
    .whereNot({ vm_state: 'soft-delete' })
    .select<{ flavor: string }[]>('flavor');
  let cores = 0;
  let ram = 0;
  for (const i of instances) {
    const f = JSON.parse(i.flavor) as { vcpus?: number; memory_mb?: number };
    cores += Number(f.vcpus ?? 0);
    ram += Number(f.memory_mb ?? 0);
  }
  const groups = await db('server_groups')
    .where({ project_id: projectId, ...owner })
    .count({ n: '*' })
    .first();
  const keys =
    userId === undefined
      ? undefined
      : await db('key_pairs').where({ user_id: userId }).count({ n: '*' }).first();
  return {
    instances: instances.length,
    cores,
    ram,
    server_groups: Number(groups?.n ?? 0),
    key_pairs: Number(keys?.n ?? 0),
  };
}

/** True when `inUse + delta` goes past the project's limit for `resource` (-1 never does). */
export async function overQuota(
  db: Database,
  config: BerthConfig,
  projectId: string,
  resource: QuotaResource,
  inUse: number,
  delta: number,
): Promise<boolean> {
  const limit = (await limitsFor(db, config, projectId))[resource];
  return limit >= 0 && inUse + delta > limit;
}

/**
 * Nova's _check_metadata_properties_quota: a server's metadata within the
 * project's metadata_items (MetadataLimitExceeded, a 403).
 */
export async function checkMetadataQuota(
  db: Database,
  config: BerthConfig,
  projectId: string,
  items: number,
): Promise<void> {
  const limit = (await limitsFor(db, config, projectId)).metadata_items;
  if (limit >= 0 && items > limit)
    throw new ResourceExhaustedError(`Maximum number of metadata items exceeds ${limit}`);
}

type InstanceResource = 'instances' | 'cores' | 'ram';
const INSTANCE_RESOURCES: InstanceResource[] = ['cores', 'instances', 'ram'];

/**
 * Nova's check_num_instances_quota: may the project start between
 * `counts.min` and `counts.max` more instances, each taking `perInstance`?
 * Returns how many it may start (max when all fit, else the most that fit
 * when that is at least min); otherwise throws ResourceExhaustedError
 * (a 403) worded as Nova's TooManyInstances: "Quota exceeded for
 * instances: Requested 1, but already used 10 of 10 instances".
 *
 * Pass the create transaction as `db` so that the count and the insert
 * that follows are one unit.
 */
export async function checkQuota(
  db: Database,
  config: BerthConfig,
  scope: { projectId: string; userId?: string },
  perInstance: Partial<Record<InstanceResource, number>>,
  counts: { min: number; max: number } = { min: 1, max: 1 },
): Promise<number> {
  const { projectId, userId } = scope;
  const scopes: { limits: Limits; used: Usage }[] = [
    {
      limits: await limitsFor(db, config, projectId),
      used: await usageFor(db, projectId),
    },
  ];
  // A user with limits of their own is held to them too, counting only what they own.
  if (userId !== undefined && (await userRows(db, projectId, userId)).length > 0)
    scopes.push({
      limits: await limitsFor(db, config, projectId, userId),
      used: await usageFor(db, projectId, userId, 'user'),
    });
  const each = (r: InstanceResource) => perInstance[r] ?? 0;
  let allowed = Infinity;
  for (const { limits, used } of scopes)
    for (const r of INSTANCE_RESOURCES) {
      const headroom = limits[r] < 0 ? Infinity : Math.max(0, limits[r] - used[r]);
      if (each(r) > 0) allowed = Math.min(allowed, Math.floor(headroom / each(r)));
    }
  if (allowed >= counts.max) return counts.max;
  if (allowed >= counts.min && allowed > 0) return allowed;

  const { limits, used } = scopes.find(({ limits, used }) =>
    INSTANCE_RESOURCES.some((r) => limits[r] >= 0 && used[r] + each(r) * counts.max > limits[r]),
  )!;
  const overs = INSTANCE_RESOURCES.filter(
    (r) => limits[r] >= 0 && used[r] + each(r) * counts.max > limits[r],
  );
  const requested = (r: InstanceResource) =>
    r === 'instances'
      ? counts.min === counts.max
        ? String(counts.max)
        : `${counts.min}-${counts.max}`
      : String(each(r) * counts.max);
  const list = (f: (r: InstanceResource) => string | number) => overs.map(f).join(', ');
  const names = overs.join(', ');
  throw new ResourceExhaustedError(
    `Quota exceeded for ${names}: Requested ${list(requested)}, but already used ${list((r) => used[r])} of ${list((r) => limits[r])} ${names}`,
  );
}

/**
 * Nova's server_group_members quota: may `adding` more instances join
 * the group? Throws Nova's 403 message when not.
 */
export async function checkServerGroupMembers(
  db: Database,
  config: BerthConfig,
  projectId: string,
  groupUuid: string,
  adding: number,
): Promise<void> {
  const members = await db('server_group_members as m')
    .join('instances as i', 'i.uuid', 'm.instance_uuid')
    .where({ 'm.group_uuid': groupUuid, 'i.deleted': false })
    .count({ n: '*' })
    .first();
  if (
    await overQuota(db, config, projectId, 'server_group_members', Number(members?.n ?? 0), adding)
  )
    throw new ResourceExhaustedError('Quota exceeded, too many servers in group');
}
