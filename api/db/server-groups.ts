/**
 * Server groups (Nova's InstanceGroup): one policy, its rules, and the
 * instances that joined it. Members are rows of server_group_members;
 * only live instances count as members.
 */
import type { ApiContext } from '../context';
import { badRequest, itemNotFound } from '../faults';
import type { Database } from './connection';

export const GROUP_POLICIES = [
  'anti-affinity',
  'affinity',
  'soft-anti-affinity',
  'soft-affinity',
] as const;
export type GroupPolicy = (typeof GROUP_POLICIES)[number];

export interface GroupRules {
  max_server_per_host?: number;
}

export interface ServerGroupRow {
  id: number;
  uuid: string;
  name: string;
  project_id: string;
  user_id: string;
  policy: string;
  rules: string;
  created_at: string;
  updated_at: string | null;
}

export interface ServerGroup extends Omit<ServerGroupRow, 'rules'> {
  policy: GroupPolicy;
  rules: GroupRules;
}

export function decodeGroup(row: ServerGroupRow): ServerGroup {
  return {
    ...row,
    policy: row.policy as GroupPolicy,
    rules: JSON.parse(row.rules || '{}') as GroupRules,
  };
}

export const groupNotFound = (uuid: string) =>
  itemNotFound(`Instance group ${uuid} could not be found.`);

/**
 * The group `uuid` as `ctx` may see it: its own project's, or any for an
 * admin. Another project's group is not found, so that its existence does
 * not leak. Throws Nova's 404 — or a 400 with `asBadRequest`, as Nova
 * answers a server create whose `group` hint names no group.
 */
export async function getGroup(
  db: Database,
  uuid: string,
  ctx: ApiContext,
  o: { asBadRequest?: boolean } = {},
): Promise<ServerGroup> {
  const row = await db<ServerGroupRow>('server_groups').where({ uuid }).first();
  if (row && (ctx.isAdmin || row.project_id === ctx.projectId)) return decodeGroup(row);
  if (o.asBadRequest) throw badRequest(`Instance group ${uuid} could not be found.`);
  throw groupNotFound(uuid);
}

/** The live members of each group, by group uuid. */
export async function membersOf(
  db: Database,
  groupUuids: string[],
): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>(groupUuids.map((g) => [g, []]));
  if (groupUuids.length === 0) return members;
  const rows = await db('server_group_members as m')
    .join('instances as i', 'i.uuid', 'm.instance_uuid')
    .whereIn('m.group_uuid', groupUuids)
    .where({ 'i.deleted': false })
    .orderBy('m.id')
    .select<{ group_uuid: string; instance_uuid: string }[]>('m.group_uuid', 'm.instance_uuid');
  for (const r of rows) members.get(r.group_uuid)?.push(r.instance_uuid);
  return members;
}

/** Deletes the group and its membership rows; the instances themselves are untouched. */
export async function deleteGroup(db: Database, uuid: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('server_group_members').where({ group_uuid: uuid }).delete();
    await trx('server_groups').where({ uuid }).delete();
  });
}

/** The uuids of the server groups an instance is in (at most one). */
export const groupsOfInstance = (db: Database, uuid: string): Promise<string[]> =>
  db('server_group_members').where({ instance_uuid: uuid }).pluck('group_uuid');
