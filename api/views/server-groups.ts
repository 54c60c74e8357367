/**
 * The os-server-groups resource as Nova shapes it
 * (server_groups.py _format_server_group): a policies list and empty
 * metadata before 2.64, a single policy with rules from it.
 */
import type { ServerGroup } from '../db/server-groups';
import type { Microversion } from '../microversion';

export function serverGroupView(g: ServerGroup, members: string[], v: Microversion) {
  const view: Record<string, unknown> = { id: g.uuid, name: g.name };
  if (v.ge('2.64')) {
    view.policy = g.policy;
    view.rules = g.rules;
  } else {
    view.policies = [g.policy];
    view.metadata = {};
  }
  view.members = members;
  if (v.ge('2.13')) {
    view.project_id = g.project_id;
    view.user_id = g.user_id;
  }
  return view;
}
