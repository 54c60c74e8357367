/**
 * A request's server group as the policy filters, weighers and claims see
 * it: on which hosts its other members hold allocations.
 */
import type { Database } from '../db/connection';
import type { ScheduleRequest } from './scheduler';

/** The hard policies, each enforced only while its filter is enabled. */
export const POLICY_FILTERS: Readonly<Record<string, string>> = {
  affinity: 'ServerGroupAffinityFilter',
  'anti-affinity': 'ServerGroupAntiAffinityFilter',
};

export interface GroupState {
  uuid: string;
  policy: string;
  /** Nova's max_server_per_host rule for anti-affinity (microversion 2.64); 1 when unset */
  maxServerPerHost: number;
  /** allocations of the group's other members, counted per host */
  members: Map<string, number>;
}

function maxServerPerHost(rules: string | undefined): number {
  let value: unknown;
  try {
    value = (JSON.parse(rules ?? '{}') as Record<string, unknown>).max_server_per_host;
  } catch {
    return 1;
  }
  const max = Number(value);
  return Number.isInteger(max) && max >= 1 ? max : 1;
}

/** Reads the group's rules and its members' hosts; `db` may be a transaction. */
export async function loadGroupState(
  db: Database,
  req: Pick<ScheduleRequest, 'group' | 'instanceUuid'>,
): Promise<GroupState | undefined> {
  if (!req.group) return undefined;
  const { uuid, policy } = req.group;
  const row = await db('server_groups')
    .where({ uuid })
    .first<{ rules: string } | undefined>('rules');
  const counts = (await db('allocations as a')
    .join('server_group_members as m', 'm.instance_uuid', 'a.instance_uuid')
    .where('m.group_uuid', uuid)
    .whereNot('a.instance_uuid', req.instanceUuid)
    .select('a.host')
    .count({ n: '*' })
    .groupBy('a.host')) as { host: string; n: number | string }[];
  return {
    uuid,
    policy,
    maxServerPerHost: maxServerPerHost(row?.rules),
    members: new Map(counts.map((c) => [c.host, Number(c.n)])),
  };
}

/** Whether the group's hard policy allows one more member on `host`; soft policies always do. */
export function policyAllows(group: GroupState, host: string): boolean {
  switch (group.policy) {
    case 'anti-affinity':
      return (group.members.get(host) ?? 0) < group.maxServerPerHost;
    case 'affinity':
      return group.members.size === 0 || group.members.has(host);
    default:
      return true;
  }
}

/** Whether `enabledFilters` asks for the group's policy to be enforced. */
export function policyEnforced(group: GroupState | undefined, enabledFilters: readonly string[]) {
  const filter = group && POLICY_FILTERS[group.policy];
  return filter !== undefined && enabledFilters.includes(filter);
}
