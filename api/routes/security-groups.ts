/**
 * /v2.1/os-security-groups and /v2.1/os-security-group-rules: Nova's
 * proxies to the network service's security groups (nova/api/openstack/
 * compute/security_groups.py over Neutron), until microversion 2.35. The
 * groups and rules are the Neutron routes' own (SECURITY_GROUPS,
 * SECURITY_GROUP_RULES); this is only Nova's body shapes, its checks and
 * how it answers Neutron's errors.
 */
import { Router, type Request, type Response } from 'express';
import { ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, forbidden, itemNotFound } from '../faults';
import { route } from '../http';
import { owns, type NetTx } from '../network/context';
import { NOT_FOUND } from '../network/errors';
import { SECURITY_GROUP_RULES, SECURITY_GROUPS } from '../network/security-groups';
import { findRow, type Row } from '../network/store';
import { networkCaller } from '../servers/instance-ports';
import { proxied } from '../servers/network-faults';
import { groupsById, novaGroup, novaRule } from '../servers/server-security-groups';
import { UUID_LIKE } from '../validate';
import { removedAt236 } from './removed-proxy';

/** Nova's _from_body. */
function fromBody(body: unknown, key: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Object.keys(body).length === 0)
    throw badRequest("The request body can't be empty");
  const value = (body as Record<string, unknown>)[key];
  if (value === undefined || value === null) throw badRequest(`Missing parameter ${key}`);
  if (typeof value !== 'object') throw badRequest(`Missing parameter ${key}`);
  return value as Record<string, unknown>;
}

/** Nova's validate_id. */
function groupId(id: unknown): string {
  if (typeof id !== 'string' || !UUID_LIKE.test(id))
    throw badRequest('Security group id should be uuid');
  return id;
}

/** Nova's validate_property: a string of 1 to 255 characters once stripped, kept as given. */
function property(value: unknown, name: string): string {
  if (typeof value !== 'string')
    throw badRequest(`Security group ${name} is not a string or unicode`);
  const v = value.trim();
  if (v.length < 1) throw badRequest(`${name} has a minimum character requirement of 1.`);
  if (v.length > 255) throw badRequest(`${name} has more than 255 characters.`);
  return value;
}

function nameAndDescription(body: unknown) {
  const g = fromBody(body, 'security_group');
  return { name: property(g.name, 'name'), description: property(g.description, 'description') };
}

async function groupOf(tx: NetTx, id: string): Promise<Row> {
  const g = await findRow(tx.q, 'security_group', groupId(id));
  if (!g || !owns(tx, g)) throw itemNotFound(`Security group ${id} not found.`);
  return g;
}

const PORT_PROTOCOLS = ['TCP', 'UDP'];

/**
 * Nova's _rule_args_to_dict / _new_ingress_rule, as the Neutron rule Nova
 * then asks for: ingress, from a CIDR (0.0.0.0/0 unless given) or a group,
 * with Nova's port checks and its -1 (any ICMP type or code) as none.
 */
function neutronRule(parent: string, r: Record<string, unknown>) {
  const groupIdGiven = r.group_id !== undefined && r.group_id !== null && r.group_id !== '';
  const cidr = groupIdGiven ? null : typeof r.cidr === 'string' && r.cidr ? r.cidr : '0.0.0.0/0';
  const rule: Record<string, unknown> = {
    security_group_id: parent,
    direction: 'ingress',
    ethertype: cidr?.includes(':') ? 'IPv6' : 'IPv4',
    remote_group_id: groupIdGiven ? groupId(r.group_id) : null,
    remote_ip_prefix: cidr,
  };
  const { ip_protocol: protocol, from_port: from, to_port: to } = r;
  if (!protocol || from === undefined || from === null || to === undefined || to === null) {
    // A CIDR rule needs its protocol and ports.
    if (!groupIdGiven) throw badRequest('Not enough parameters to build a valid rule.');
    return rule;
  }
  const name = String(protocol).toUpperCase();
  const min = Number(from);
  const max = Number(to);
  if (!Number.isInteger(min) || !Number.isInteger(max) || String(from).trim() === '')
    throw badRequest(
      name === 'ICMP'
        ? 'Type and Code must be integers for ICMP protocol type'
        : 'To and From ports must be integers',
    );
  if (![...PORT_PROTOCOLS, 'ICMP'].includes(name))
    throw badRequest(`Invalid IP protocol ${String(protocol)}.`);
  const range = (why: string) => badRequest(`Invalid port range ${min}:${max}. ${why}`);
  if (PORT_PROTOCOLS.includes(name) && min > max)
    throw range('Former value cannot be greater than the later');
  if (PORT_PROTOCOLS.includes(name) && (min < 1 || max > 65535))
    throw range(`Valid ${name} ports should be between 1-65535`);
  if (name === 'ICMP' && (min < -1 || min > 255 || max < -1 || max > 255))
    throw range('For ICMP, the type:code must be valid');
  return {
    ...rule,
    protocol: name.toLowerCase(),
    port_range_min: min === -1 ? null : min,
    port_range_max: max === -1 ? null : max,
  };
}

export function securityGroupsRouter(deps: ApiDeps): Router {
  const r = Router();
  r.use(removedAt236);
  const caller = (res: Response) => networkCaller(ctxOf(res));
  const read = <T>(res: Response, fn: (tx: NetTx) => Promise<T>) =>
    proxied(() => deps.network.read(caller(res), fn));
  // Nova says SecurityGroupLimitExceeded (403) for what Neutron refuses with 409 on create.
  const write = <T>(res: Response, fn: (tx: NetTx) => Promise<T>, conflict = forbidden) =>
    proxied(() => deps.network.write(caller(res), fn), conflict);
  // Neutron makes a project's default group on its first request; Nova's proxy asks Neutron.
  r.use((_req, res, next) => {
    deps.network.ensureDefaultGroup(caller(res)).then(() => next(), next);
  });

  r.get(
    '/',
    route(async (req: Request, res: Response) => {
      const ctx: ApiContext = ctxOf(res);
      const all = ctx.isAdmin && req.query.all_tenants !== undefined;
      const groups = await read(res, async (tx) => {
        const byId = await groupsById(tx);
        const mine = [...byId.values()].filter((g) => all || g.project_id === ctx.projectId);
        return Promise.all(mine.map((g) => novaGroup(tx, g, byId)));
      });
      res.json({ security_groups: groups });
    }),
  );
  r.get(
    '/:id',
    route(async (req, res) => {
      const group = await read(res, async (tx) =>
        novaGroup(tx, await groupOf(tx, req.params.id), await groupsById(tx)),
      );
      res.json({ security_group: group });
    }),
  );
  r.post(
    '/',
    route(async (req, res) => {
      const v = nameAndDescription(req.body);
      const group = await write(res, async (tx) => {
        const g = await SECURITY_GROUPS.create(tx, { security_group: v });
        return novaGroup(tx, g, await groupsById(tx));
      });
      res.json({ security_group: group });
    }),
  );
  r.put(
    '/:id',
    route(async (req, res) => {
      const v = nameAndDescription(req.body);
      const group = await write(
        res,
        async (tx) => {
          const g = await SECURITY_GROUPS.update(tx, await groupOf(tx, req.params.id), {
            security_group: v,
          });
          return novaGroup(tx, g, await groupsById(tx));
        },
        badRequest,
      );
      res.json({ security_group: group });
    }),
  );
  r.delete(
    '/:id',
    route(async (req, res) => {
      // Nova's destroy: Neutron's 409 (in use, the default group) is exception.Invalid, a 400.
      await write(
        res,
        async (tx) => SECURITY_GROUPS.remove(tx, await groupOf(tx, req.params.id)),
        badRequest,
      );
      res.status(202).end();
    }),
  );
  return r;
}

export function securityGroupRulesRouter(deps: ApiDeps): Router {
  const r = Router();
  r.use(removedAt236);
  const caller = (res: Response) => networkCaller(ctxOf(res));
  r.post(
    '/',
    route(async (req, res) => {
      const body = fromBody(req.body, 'security_group_rule');
      const rule = await proxied(
        () =>
          deps.network.write(caller(res), async (tx) => {
            const parent = await groupOf(tx, body.parent_group_id as string);
            const spec = neutronRule(parent.id, body);
            if (spec.remote_group_id) await groupOf(tx, spec.remote_group_id as string);
            const row = await SECURITY_GROUP_RULES.create(tx, { security_group_rule: spec });
            return novaRule(row, await groupsById(tx));
          }),
        // Nova's SecurityGroupRuleExists is a 400; over quota, SecurityGroupLimitExceeded a 403.
        (message, err) =>
          err.type === 'SecurityGroupRuleExists'
            ? badRequest(`This rule already exists in group ${String(body.parent_group_id)}`)
            : forbidden(message),
      );
      res.json({ security_group_rule: rule });
    }),
  );
  r.delete(
    '/:id',
    route(async (req, res) => {
      const id = groupId(req.params.id);
      await proxied(() =>
        deps.network.write(caller(res), async (tx) => {
          const rule = await findRow(tx.q, 'security_group_rule', id);
          if (!rule || !owns(tx, rule)) throw NOT_FOUND.security_group_rule(id);
          await SECURITY_GROUP_RULES.remove(tx, rule);
        }),
      );
      res.status(202).end();
    }),
  );
  return r;
}
