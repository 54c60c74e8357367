/**
 * Security groups and their rules. Every project gets its `default` group
 * on its first request (Neutron's: ingress from members of the group,
 * egress anywhere, for IPv4 and IPv6); a new group starts with the two
 * egress rules. A rule is validated as Neutron does (protocol, port range,
 * remote prefix or group, ethertype) and a duplicate is 409
 * SecurityGroupRuleExists. The default group and groups in use are not
 * deleted.
 */
import { randomUUID } from 'node:crypto';
import {
  bool,
  DESCRIPTION,
  NAME,
  nullable,
  oneOf,
  owningProject,
  parseAttributes,
  PROJECT,
  resourceBody,
  str,
  uuid,
  type AttributeMap,
  type Converter,
} from './attributes';
import { checkQuota, owns, ownedRow, requireOwner, type NetTx } from './context';
import { invalidInput, NeutronError, NOT_FOUND } from './errors';
import { formatCidr, parseCidr } from './ipv4';
import type { ResourceType } from './resource';
import { standardView, STANDARD_KEYS } from './resource';
import {
  deleteRow,
  findRow,
  insertRow,
  listRows,
  saveRow,
  touchRow,
  type Body,
  type Row,
} from './store';

/** IANA protocol numbers of the names Neutron accepts. */
const PROTOCOLS: Record<string, number> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ipip: 4,
  ipv6_encap: 41,
  ipv6_frag: 44,
  ipv6_icmp: 58,
  icmpv6: 58,
  ipv6_nonxt: 59,
  ipv6_opts: 60,
  ipv6_route: 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
};
const PORTS_PROTOCOLS = ['tcp', 'udp', 'dccp', 'sctp', 'udplite', '6', '17', '33', '132', '136'];
const ICMP_PROTOCOLS = ['icmp', 'icmpv6', 'ipv6-icmp', 'ipv6_icmp', '1', '58'];

/** neutron-lib's convert_validate_port_value, with its words. */
const PORT: Converter = (v, fail) => {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535)
    fail(`Invalid value for port ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return n;
};

const PROTOCOL: Converter = (v, fail) => {
  if (v === null || v === 'any') return null;
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s === 'string') {
    const name = s.toLowerCase();
    if (Object.hasOwn(PROTOCOLS, name) || name === 'ipv6-icmp') return name;
    if (/^\d{1,3}$/.test(s) && Number(s) <= 255) return String(Number(s));
  }
  return fail(
    `Security group rule protocol ${JSON.stringify(v)} not supported. Only protocol values [${Object.keys(PROTOCOLS).join(', ')}] and integer representations [0 to 255] are supported`,
  );
};

const GROUP_ATTRIBUTES: AttributeMap = {
  name: NAME,
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  stateful: { post: true, put: true, default: true, convert: bool },
};

const RULE_ATTRIBUTES: AttributeMap = {
  description: DESCRIPTION,
  tenant_id: PROJECT,
  project_id: PROJECT,
  security_group_id: { post: true, required: true, convert: uuid },
  direction: { post: true, required: true, convert: oneOf('ingress', 'egress') },
  ethertype: { post: true, default: 'IPv4', convert: oneOf('IPv4', 'IPv6') },
  protocol: { post: true, default: null, convert: PROTOCOL },
  port_range_min: { post: true, default: null, convert: nullable(PORT) },
  port_range_max: { post: true, default: null, convert: nullable(PORT) },
  remote_ip_prefix: { post: true, default: null, convert: nullable(str(64)) },
  // Not checked as a UUID: Neutron looks any value up, and an unknown one is a 404.
  remote_group_id: { post: true, default: null, convert: nullable(str(255)) },
  remote_address_group_id: {
    post: true,
    default: null,
    convert: nullable((_x, fail) => fail('address groups are not supported')),
  },
};

const GROUP_KEYS = [
  'id',
  'name',
  'stateful',
  'shared',
  'security_group_rules',
  ...STANDARD_KEYS,
] as const;
const RULE_KEYS = [
  'id',
  'security_group_id',
  'ethertype',
  'direction',
  'protocol',
  'port_range_min',
  'port_range_max',
  'remote_ip_prefix',
  'remote_address_group_id',
  'normalized_cidr',
  'remote_group_id',
  ...STANDARD_KEYS,
] as const;

interface RuleSpec {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  description: string | null;
}

/** What makes two rules the same: an any-address prefix means the same as none. */
function signature(r: RuleSpec): string {
  const prefix =
    r.remote_ip_prefix === '0.0.0.0/0' || r.remote_ip_prefix === '::/0' ? null : r.remote_ip_prefix;
  const protocol = r.protocol === null ? null : String(PROTOCOLS[r.protocol] ?? r.protocol);
  return JSON.stringify([
    r.direction,
    r.ethertype,
    protocol,
    r.port_range_min,
    r.port_range_max,
    prefix,
    r.remote_group_id,
  ]);
}

async function insertRule(tx: NetTx, group: Row, spec: RuleSpec): Promise<Row> {
  const key = signature(spec);
  const same = (await listRows(tx.q, 'security_group_rule', { parent_id: group.id })).find(
    (r) => r.unique_key === key,
  );
  if (same)
    throw new NeutronError(
      409,
      'SecurityGroupRuleExists',
      `Security group rule already exists. Rule id is ${same.id}.`,
    );
  return insertRow(tx.q, {
    kind: 'security_group_rule',
    id: randomUUID(),
    project_id: group.project_id,
    parent_id: group.id,
    unique_key: key,
    body: { ...spec },
  });
}

const anyRule = (
  direction: 'ingress' | 'egress',
  ethertype: 'IPv4' | 'IPv6',
  remote: string | null,
): RuleSpec => ({
  direction,
  ethertype,
  protocol: null,
  port_range_min: null,
  port_range_max: null,
  remote_ip_prefix: null,
  remote_group_id: remote,
  description: null,
});

async function insertGroup(
  tx: NetTx,
  projectId: string,
  v: Body,
  isDefault: boolean,
): Promise<Row> {
  const group = await insertRow(tx.q, {
    kind: 'security_group',
    id: randomUUID(),
    project_id: projectId,
    parent_id: isDefault ? projectId : '',
    unique_key: isDefault ? 'default' : null,
    // A fresh group is at revision 1, as Neutron's (its rules are written after it).
    revision_number: 1,
    body: { name: '', description: '', stateful: true, ...v },
  });
  for (const ethertype of ['IPv4', 'IPv6'] as const) {
    if (isDefault) await insertRule(tx, group, anyRule('ingress', ethertype, group.id));
    await insertRule(tx, group, anyRule('egress', ethertype, null));
  }
  return group;
}

async function defaultGroupOf(tx: NetTx, projectId: string): Promise<Row | undefined> {
  return (await listRows(tx.q, 'security_group', { parent_id: projectId })).find(
    (g) => g.unique_key === 'default',
  );
}

/** The id of the project's `default` group, made on first use as Neutron does. */
export async function ensureDefaultGroup(tx: NetTx, projectId: string): Promise<string> {
  const found = await defaultGroupOf(tx, projectId);
  if (found) return found.id;
  const g = await insertGroup(
    tx,
    projectId,
    { name: 'default', description: 'Default security group' },
    true,
  );
  return g.id;
}

export async function hasDefaultGroup(tx: NetTx, projectId: string): Promise<boolean> {
  return (await defaultGroupOf(tx, projectId)) !== undefined;
}

/** Every group a port of `projectId` names must exist and be that project's (404 otherwise). */
export async function checkGroups(tx: NetTx, projectId: string, ids: string[]): Promise<void> {
  for (const id of ids) {
    const g = await findRow(tx.q, 'security_group', id);
    if (!g || (g.project_id !== projectId && !tx.caller.isAdmin))
      throw NOT_FOUND.security_group(id);
  }
}

async function createGroup(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    GROUP_ATTRIBUTES,
    resourceBody(body, 'security_group'),
    'post',
    tx.caller,
    'create_security_group',
  );
  const projectId = owningProject(tx.caller, v);
  await ensureDefaultGroup(tx, projectId);
  if (v.name === 'default')
    throw new NeutronError(
      409,
      'SecurityGroupDefaultAlreadyExists',
      'Default security group already exists.',
    );
  await checkQuota(tx, 'security_group', projectId);
  await checkQuota(tx, 'security_group_rule', projectId, 2);
  return insertGroup(tx, projectId, v, false);
}

async function updateGroup(tx: NetTx, row: Row, body: unknown): Promise<Row> {
  requireOwner(tx, row, 'update_security_group');
  const v = parseAttributes(
    GROUP_ATTRIBUTES,
    resourceBody(body, 'security_group'),
    'put',
    tx.caller,
    'update_security_group',
  );
  if (row.unique_key === 'default' && v.name !== undefined && v.name !== 'default')
    throw new NeutronError(
      409,
      'SecurityGroupCannotUpdateDefault',
      'Updating default security group not allowed.',
    );
  if (row.unique_key !== 'default' && v.name === 'default')
    throw new NeutronError(
      409,
      'SecurityGroupDefaultAlreadyExists',
      'Default security group already exists.',
    );
  return saveRow(tx.q, row, { body: { ...row.body, ...v } });
}

async function removeGroup(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_security_group');
  // An admin may (Tempest's cleanup of a project it made does): the project gets a new one when next asked.
  if (row.unique_key === 'default' && !tx.caller.isAdmin)
    throw new NeutronError(
      409,
      'SecurityGroupCannotRemoveDefault',
      'Insufficient rights for removing default security group.',
    );
  const inUse = (await listRows(tx.q, 'port')).some((p) =>
    (p.body.security_groups as string[]).includes(row.id),
  );
  if (inUse) throw new NeutronError(409, 'SecurityGroupInUse', `Security Group ${row.id} in use.`);
  // Rules elsewhere that name this group as their remote go with it, as Neutron's foreign key cascades.
  for (const r of await listRows(tx.q, 'security_group_rule'))
    if (r.parent_id === row.id || r.body.remote_group_id === row.id) {
      await deleteRow(tx.q, 'security_group_rule', r.id);
      if (r.parent_id !== row.id) await touchRow(tx.q, 'security_group', r.parent_id);
    }
  await deleteRow(tx.q, 'security_group', row.id);
}

function ruleView(row: Row) {
  const b = row.body as RuleSpec;
  const prefix = b.remote_ip_prefix;
  return {
    id: row.id,
    security_group_id: row.parent_id,
    ethertype: b.ethertype,
    direction: b.direction,
    protocol: b.protocol,
    port_range_min: b.port_range_min,
    port_range_max: b.port_range_max,
    remote_ip_prefix: prefix,
    remote_address_group_id: null,
    normalized_cidr: prefix && formatCidr(parseCidr(prefix)!),
    remote_group_id: b.remote_group_id,
    ...standardView(row),
    description: b.description,
  };
}

async function groupView(tx: NetTx, row: Row) {
  const rules = await listRows(tx.q, 'security_group_rule', { parent_id: row.id });
  return {
    id: row.id,
    name: row.body.name,
    stateful: row.body.stateful,
    shared: false,
    security_group_rules: rules.map((r) => ({
      ...ruleView(r),
      standard_attr_id: r.standard_attr_id,
    })),
    ...standardView(row),
  };
}

/** A rule's attributes, checked as Neutron's _validate_port_range and _validate_ip_prefix do. */
async function ruleSpec(tx: NetTx, v: Body, group: Row): Promise<RuleSpec> {
  const spec: RuleSpec = {
    direction: v.direction,
    ethertype: v.ethertype,
    protocol: v.protocol,
    port_range_min: v.port_range_min,
    port_range_max: v.port_range_max,
    remote_ip_prefix: v.remote_ip_prefix,
    remote_group_id: v.remote_group_id,
    description: v.description,
  };
  const { protocol } = spec;
  if (protocol === null && (spec.port_range_min !== null || spec.port_range_max !== null))
    throw invalidInput('Must also specify protocol if port range is given');
  if (protocol !== null && PORTS_PROTOCOLS.includes(protocol)) {
    if (spec.port_range_min !== null && spec.port_range_max === null)
      spec.port_range_max = spec.port_range_min;
    if (spec.port_range_min !== null && (spec.port_range_min === 0 || spec.port_range_max === 0))
      throw invalidInput('Invalid value for port 0');
    if (
      spec.port_range_max !== null &&
      (spec.port_range_min === null || spec.port_range_min > spec.port_range_max)
    )
      throw new NeutronError(
        400,
        'SecurityGroupInvalidPortRange',
        'For TCP/UDP protocols, port_range_min must be <= port_range_max',
      );
  } else if (protocol !== null && ICMP_PROTOCOLS.includes(protocol)) {
    for (const [k, what] of [
      ['port_range_min', 'type'],
      ['port_range_max', 'code'],
    ] as const)
      if (spec[k] !== null && spec[k]! > 255)
        throw new NeutronError(
          400,
          'SecurityGroupInvalidIcmpValue',
          `Invalid value for ICMP ${what} (${k}) ${spec[k]}. It must be 0 to 255.`,
        );
    if (spec.port_range_min === null && spec.port_range_max !== null)
      throw new NeutronError(
        400,
        'SecurityGroupMissingIcmpType',
        `ICMP code (port-range-max) ${spec.port_range_max} is provided but ICMP type (port-range-min) is missing.`,
      );
  } else if (spec.port_range_min !== null || spec.port_range_max !== null) {
    throw invalidInput(`Protocol ${protocol} does not support port ranges`);
  }
  if (spec.remote_ip_prefix !== null && spec.remote_group_id !== null)
    throw new NeutronError(
      400,
      'SecurityGroupRemoteGroupAndRemoteIpPrefix',
      'Only remote_ip_prefix or remote_group_id may be provided.',
    );
  if (spec.remote_ip_prefix !== null) {
    const c = parseCidr(spec.remote_ip_prefix) ?? parseCidr(`${spec.remote_ip_prefix}/32`);
    if (!c) {
      if (spec.remote_ip_prefix.includes(':'))
        throw new NeutronError(
          400,
          'SecurityGroupRuleParameterConflict',
          `Conflicting value ethertype ${spec.ethertype} for CIDR ${spec.remote_ip_prefix}`,
        );
      throw invalidInput(`'${spec.remote_ip_prefix}' is not a valid IP subnet`);
    }
    if (spec.ethertype !== 'IPv4')
      throw new NeutronError(
        400,
        'SecurityGroupRuleParameterConflict',
        `Conflicting value ethertype ${spec.ethertype} for CIDR ${spec.remote_ip_prefix}`,
      );
    if (!spec.remote_ip_prefix.includes('/')) spec.remote_ip_prefix = `${spec.remote_ip_prefix}/32`;
  }
  if (spec.remote_group_id !== null) {
    const remote = await findRow(tx.q, 'security_group', spec.remote_group_id);
    if (!remote || (remote.project_id !== group.project_id && !tx.caller.isAdmin))
      throw NOT_FOUND.security_group(spec.remote_group_id);
  }
  return spec;
}

async function createRule(tx: NetTx, body: unknown): Promise<Row> {
  const v = parseAttributes(
    RULE_ATTRIBUTES,
    resourceBody(body, 'security_group_rule'),
    'post',
    tx.caller,
    'create_security_group_rule',
  );
  owningProject(tx.caller, v);
  const group = await ownedRow(tx, 'security_group', v.security_group_id);
  const spec = await ruleSpec(tx, v, group);
  await checkQuota(tx, 'security_group_rule', group.project_id);
  const rule = await insertRule(tx, group, spec);
  await touchRow(tx.q, 'security_group', group.id);
  return rule;
}

async function removeRule(tx: NetTx, row: Row): Promise<void> {
  requireOwner(tx, row, 'delete_security_group_rule');
  await deleteRow(tx.q, 'security_group_rule', row.id);
  await touchRow(tx.q, 'security_group', row.parent_id);
}

export const SECURITY_GROUPS: ResourceType = {
  kind: 'security_group',
  resource: 'security_group',
  collection: 'security_groups',
  path: 'security-groups',
  keys: GROUP_KEYS,
  taggable: true,
  visible: owns,
  view: groupView,
  create: createGroup,
  update: updateGroup,
  remove: removeGroup,
};

export const SECURITY_GROUP_RULES: ResourceType = {
  kind: 'security_group_rule',
  resource: 'security_group_rule',
  collection: 'security_group_rules',
  path: 'security-group-rules',
  keys: RULE_KEYS,
  taggable: false,
  visible: owns,
  view: async (_tx, row) => ruleView(row),
  create: createRule,
  update: async (tx, row, body) => {
    requireOwner(tx, row, 'update_security_group_rule');
    const v = parseAttributes(
      { description: DESCRIPTION },
      resourceBody(body, 'security_group_rule'),
      'put',
      tx.caller,
      'update_security_group_rule',
    );
    return saveRow(tx.q, row, { body: { ...row.body, ...v } });
  },
  remove: removeRule,
};
