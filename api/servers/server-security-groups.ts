/**
 * Nova's security group proxies for one server (nova/network/
 * security_group_api.py over Neutron): the groups of the server's ports
 * in Nova's view, and addSecurityGroup / removeSecurityGroup applied to
 * every port of the server.
 */
import type { Knex } from 'knex';
import { PORTS } from '../network/ports';
import type { NetTx } from '../network/context';
import { listRows, type Row } from '../network/store';
import type { ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import type { Instance } from '../db/instances';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { now } from '../http';
import { networkCaller } from './instance-ports';

const isUuid = (s: string) => /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(s);

async function serverPorts(tx: NetTx, uuid: string): Promise<Row[]> {
  return listRows(tx.q, 'port', { device_id: uuid });
}

/** Nova's _convert_to_nova_security_group_rule_format: ingress rules only, Nova's port defaults. */
export function novaRule(rule: Row, groups: Map<string, Row>) {
  const b = rule.body;
  const ports =
    b.protocol && b.port_range_min === null && b.port_range_max === null
      ? ['tcp', 'udp'].includes(String(b.protocol).toLowerCase())
        ? [1, 65535]
        : [-1, -1]
      : [b.port_range_min, b.port_range_max];
  const remote = b.remote_group_id ? groups.get(b.remote_group_id as string) : undefined;
  return {
    id: rule.id,
    parent_group_id: rule.parent_id,
    ip_protocol: b.protocol,
    from_port: ports[0],
    to_port: ports[1],
    group: remote ? { name: remote.body.name, tenant_id: remote.project_id } : {},
    ip_range: b.remote_group_id
      ? {}
      : { cidr: b.remote_ip_prefix ?? (b.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0') },
  };
}

/** GET /servers/{id}/os-security-groups. */
export async function serverSecurityGroups(deps: ApiDeps, ctx: ApiContext, inst: Instance) {
  return deps.network.read(networkCaller(ctx), async (tx) => {
    const ids = new Set<string>();
    for (const p of await serverPorts(tx, inst.uuid))
      for (const id of (p.body.security_groups as string[] | undefined) ?? []) ids.add(id);
    const groups = await groupsById(tx);
    const view = [];
    for (const id of ids) {
      const g = groups.get(id);
      if (g) view.push(await novaGroup(tx, g, groups));
    }
    return view;
  });
}

/** Every security group by id: what a rule's remote group is looked up in. */
export async function groupsById(tx: NetTx): Promise<Map<string, Row>> {
  return new Map((await listRows(tx.q, 'security_group')).map((g) => [g.id, g]));
}

/** Nova's _convert_to_nova_security_group_format: the group with its ingress rules. */
export async function novaGroup(tx: NetTx, g: Row, groups: Map<string, Row>) {
  const rules = await listRows(tx.q, 'security_group_rule', { parent_id: g.id });
  return {
    id: g.id,
    name: g.body.name as string,
    description: (g.body.description as string | undefined) ?? '',
    tenant_id: g.project_id,
    rules: rules.filter((r) => r.body.direction === 'ingress').map((r) => novaRule(r, groups)),
  };
}

/** The group a name or id means in the server's project, as Nova asks Neutron. */
async function findGroup(tx: NetTx, inst: Instance, nameOrId: string): Promise<Row> {
  const candidates = (await listRows(tx.q, 'security_group')).filter(
    (g) =>
      (g.project_id === inst.project_id || tx.caller.isAdmin) &&
      (g.body.name === nameOrId || (isUuid(nameOrId) && g.id === nameOrId)),
  );
  const own = candidates.filter((g) => g.project_id === inst.project_id);
  const found = own.length ? own : candidates;
  if (found.length === 0)
    throw itemNotFound(`Security group ${nameOrId} not found for project ${inst.project_id}.`);
  if (found.length > 1)
    throw conflictingRequest(
      `Multiple security groups found matching '${nameOrId}'. Use an ID to be more specific.`,
    );
  return found[0];
}

/**
 * addSecurityGroup / removeSecurityGroup: the group joins (or leaves)
 * every port of the server; the server's own list of group names, which
 * its view shows, follows.
 */
export async function changeServerSecurityGroup(
  deps: ApiDeps,
  ctx: ApiContext,
  inst: Instance,
  nameOrId: string,
  how: 'add' | 'remove',
): Promise<void> {
  const names = await deps.network.write(networkCaller(ctx), async (tx) => {
    const group = await findGroup(tx, inst, nameOrId);
    const ports = await serverPorts(tx, inst.uuid);
    if (ports.length === 0)
      throw itemNotFound(`instance_id ${inst.uuid} could not be found as device id on any ports`);
    let touched = false;
    for (const port of ports) {
      const current = (port.body.security_groups as string[] | undefined) ?? [];
      const has = current.includes(group.id);
      if (how === 'add' && port.body.port_security_enabled === false)
        throw badRequest(
          `Unable to add security group ${nameOrId} to port ${port.id}: port security is disabled`,
        );
      if (has === (how === 'add')) continue;
      touched = true;
      const next = how === 'add' ? [...current, group.id] : current.filter((id) => id !== group.id);
      await PORTS.update(tx, port, { port: { security_groups: next } });
    }
    if (how === 'remove' && !touched)
      throw badRequest(`Security group ${nameOrId} not associated with the instance ${inst.uuid}`);
    return groupNames(tx, await serverPorts(tx, inst.uuid));
  });
  await saveGroupNames(deps.db, inst, names);
}

async function groupNames(tx: NetTx, ports: Row[]): Promise<string[]> {
  const ids = new Set(ports.flatMap((p) => (p.body.security_groups as string[] | undefined) ?? []));
  const groups = await listRows(tx.q, 'security_group');
  return groups.filter((g) => ids.has(g.id)).map((g) => g.body.name as string);
}

async function saveGroupNames(db: Knex, inst: Instance, names: string[]): Promise<void> {
  const spec = { ...inst.request_spec, security_groups: names };
  await db('instances')
    .where({ uuid: inst.uuid })
    .update({ request_spec: JSON.stringify(spec), updated_at: now() });
}
