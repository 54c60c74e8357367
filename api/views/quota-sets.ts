/**
 * Quota sets and absolute limits as Nova shapes them (quota_sets.py and
 * views/limits.py): nova-network resources leave the responses at 2.36,
 * file injection at 2.57.
 */
import type { Limits, QuotaResource, Usage } from '../db/quotas';
import { QUOTA_RESOURCES } from '../db/quotas';
import type { Microversion } from '../microversion';

const GONE_AT_2_36: QuotaResource[] = [
  'fixed_ips',
  'floating_ips',
  'security_group_rules',
  'security_groups',
];
const GONE_AT_2_57: QuotaResource[] = [
  ...GONE_AT_2_36,
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
];

/** The resources a quota set shows (and accepts) at `v`. */
export function visibleResources(v: Microversion): QuotaResource[] {
  const gone = v.ge('2.57') ? GONE_AT_2_57 : v.ge('2.36') ? GONE_AT_2_36 : [];
  return QUOTA_RESOURCES.filter((r) => !gone.includes(r));
}

/** {id?, <resource>: limit}; update answers without the id, as Nova does. */
export function quotaSetView(limits: Limits, v: Microversion, projectId?: string) {
  const view: Record<string, unknown> = {};
  if (projectId !== undefined) view.id = projectId;
  for (const r of visibleResources(v)) view[r] = limits[r];
  return view;
}

/** Nova counts only instances, cores, ram and server groups here; the rest show 0 in use. */
export function inUse(usage: Usage, r: QuotaResource): number {
  switch (r) {
    case 'instances':
    case 'cores':
    case 'ram':
    case 'server_groups':
      return usage[r];
    default:
      return 0;
  }
}

export function quotaDetailView(limits: Limits, usage: Usage, v: Microversion, projectId: string) {
  const view: Record<string, unknown> = { id: projectId };
  for (const r of visibleResources(v))
    view[r] = { in_use: inUse(usage, r), limit: limits[r], reserved: 0 };
  return view;
}

const ABSOLUTE_NAMES: Partial<Record<QuotaResource, string[]>> = {
  ram: ['maxTotalRAMSize'],
  instances: ['maxTotalInstances'],
  cores: ['maxTotalCores'],
  key_pairs: ['maxTotalKeypairs'],
  floating_ips: ['maxTotalFloatingIps'],
  metadata_items: ['maxServerMeta', 'maxImageMeta'],
  injected_files: ['maxPersonality'],
  injected_file_content_bytes: ['maxPersonalitySize'],
  security_groups: ['maxSecurityGroups'],
  security_group_rules: ['maxSecurityGroupRules'],
  server_groups: ['maxServerGroups'],
  server_group_members: ['maxServerGroupMembers'],
};

const USED_NAMES: [string, QuotaResource][] = [
  ['totalRAMUsed', 'ram'],
  ['totalCoresUsed', 'cores'],
  ['totalInstancesUsed', 'instances'],
  ['totalFloatingIpsUsed', 'floating_ips'],
  ['totalSecurityGroupsUsed', 'security_groups'],
  ['totalServerGroupsUsed', 'server_groups'],
];

/** GET /limits: rate limits are long gone from Nova, so `rate` is always empty. */
export function limitsView(limits: Limits, usage: Usage, v: Microversion) {
  // Limits drops injected_file_path_bytes with the others at 2.57, but never listed it anyway.
  const shown = visibleResources(v);
  const absolute: Record<string, number> = {};
  for (const r of shown)
    for (const name of ABSOLUTE_NAMES[r] ?? [])
      if (!(name === 'maxImageMeta' && v.ge('2.39'))) absolute[name] = limits[r];
  for (const [name, r] of USED_NAMES) if (shown.includes(r)) absolute[name] = inUse(usage, r);
  return { limits: { rate: [], absolute } };
}

/**
 * The resources a quota class set shows (and accepts) at `v`: the server
 * group ones only from 2.50, which also drops nova-network's; 2.57 drops
 * file injection.
 */
export function classResources(v: Microversion): QuotaResource[] {
  const gone: QuotaResource[] = v.ge('2.57')
    ? GONE_AT_2_57
    : v.ge('2.50')
      ? GONE_AT_2_36
      : ['server_groups', 'server_group_members'];
  return QUOTA_RESOURCES.filter((r) => !gone.includes(r));
}

/** {id?, <resource>: limit}; update answers without the id, as Nova does. */
export function quotaClassView(limits: Limits, v: Microversion, className?: string) {
  const view: Record<string, unknown> = {};
  if (className !== undefined) view.id = className;
  for (const r of classResources(v)) view[r] = limits[r];
  return view;
}
