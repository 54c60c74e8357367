/**
 * The rows of the network service: one document table for every
 * resource kind (api/db/migrations.ts 0002_network) plus the IP
 * allocations that make an address unique per subnet. Every function takes
 * the transaction it runs in: a request's reads and writes all go through
 * one, so that a failure changes nothing and SQLite's single connection
 * is never asked for twice.
 */
import type { Knex } from 'knex';
import { NOT_FOUND } from './errors';

export type Kind =
  | 'network'
  | 'subnet'
  | 'port'
  | 'security_group'
  | 'security_group_rule'
  | 'router'
  | 'floatingip'
  | 'port_forwarding';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resource bodies are Neutron's free-form documents
export type Body = Record<string, any>;

export interface Row {
  standard_attr_id: number;
  kind: Kind;
  id: string;
  project_id: string;
  parent_id: string;
  device_id: string;
  unique_key: string | null;
  body: Body;
  tags: string[];
  revision_number: number;
  created_at: string;
  updated_at: string | null;
}

type Stored = Omit<Row, 'body' | 'tags'> & { body: string; tags: string };

const TABLE = 'network_resources';

/** Neutron prints times to the second with a Z. */
export const neutronTime = () => `${new Date().toISOString().slice(0, 19)}Z`;

function fromStored(s: Stored): Row {
  return {
    ...s,
    standard_attr_id: Number(s.standard_attr_id),
    revision_number: Number(s.revision_number),
    body: JSON.parse(s.body),
    tags: JSON.parse(s.tags),
  };
}

export async function findRow(q: Knex, kind: Kind, id: string): Promise<Row | undefined> {
  const s = await q<Stored>(TABLE).where({ kind, id }).first();
  return s && fromStored(s);
}

/** The row, or the kind's NotFound. */
export async function getRow(q: Knex, kind: Kind, id: string): Promise<Row> {
  const row = await findRow(q, kind, id);
  if (!row) throw NOT_FOUND[kind](id);
  return row;
}

export async function listRows(
  q: Knex,
  kind: Kind,
  where: Partial<Pick<Row, 'project_id' | 'parent_id' | 'device_id' | 'id'>> = {},
): Promise<Row[]> {
  const rows = await q<Stored>(TABLE)
    .where({ kind, ...where })
    .orderBy('standard_attr_id');
  return rows.map(fromStored);
}

export async function rowsByIds(q: Knex, kind: Kind, ids: string[]): Promise<Row[]> {
  if (!ids.length) return [];
  const rows = await q<Stored>(TABLE)
    .where({ kind })
    .whereIn('id', ids)
    .orderBy('standard_attr_id');
  return rows.map(fromStored);
}

export interface NewRow {
  kind: Kind;
  id: string;
  project_id: string;
  parent_id?: string;
  device_id?: string;
  unique_key?: string | null;
  body: Body;
  revision_number?: number;
}

export async function insertRow(q: Knex, r: NewRow): Promise<Row> {
  const t = neutronTime();
  await q(TABLE).insert({
    kind: r.kind,
    id: r.id,
    project_id: r.project_id,
    parent_id: r.parent_id ?? '',
    device_id: r.device_id ?? '',
    unique_key: r.unique_key ?? null,
    body: JSON.stringify(r.body),
    tags: '[]',
    revision_number: r.revision_number ?? 0,
    created_at: t,
    updated_at: t,
  });
  return getRow(q, r.kind, r.id);
}

/** Saves a changed body (and lookup columns), bumping revision_number and updated_at. */
export async function saveRow(
  q: Knex,
  row: Row,
  changes: { body?: Body; device_id?: string; tags?: string[]; unique_key?: string | null } = {},
): Promise<Row> {
  const update: Record<string, unknown> = {
    revision_number: row.revision_number + 1,
    updated_at: neutronTime(),
  };
  if (changes.body) update.body = JSON.stringify(changes.body);
  if (changes.device_id !== undefined) update.device_id = changes.device_id;
  if (changes.tags) update.tags = JSON.stringify(changes.tags);
  if (changes.unique_key !== undefined) update.unique_key = changes.unique_key;
  await q(TABLE).where({ kind: row.kind, id: row.id }).update(update);
  return getRow(q, row.kind, row.id);
}

/** A child changed (a network's subnet, a group's rule): the parent's revision goes up too. */
export async function touchRow(q: Knex, kind: Kind, id: string): Promise<void> {
  await q(TABLE)
    .where({ kind, id })
    .update({ revision_number: q.raw('revision_number + 1'), updated_at: neutronTime() });
}

export async function deleteRow(q: Knex, kind: Kind, id: string): Promise<void> {
  await q(TABLE).where({ kind, id }).delete();
}

export async function countRows(q: Knex, kind: Kind, projectId: string): Promise<number> {
  const r = await q(TABLE).where({ kind, project_id: projectId }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

/** Whether a write failed on a unique constraint (SQLite and PostgreSQL word it differently). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return (
    e.code === '23505' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

// ---- IP allocations ----

export interface Allocation {
  subnet_id: string;
  ip_address: string;
  network_id: string;
  owner_id: string;
}

export async function allocationsOfSubnet(q: Knex, subnetId: string): Promise<Allocation[]> {
  return q<Allocation>('network_ip_allocations').where({ subnet_id: subnetId });
}

export async function insertAllocation(q: Knex, a: Allocation): Promise<void> {
  await q('network_ip_allocations').insert(a);
}

export async function freeAllocations(
  q: Knex,
  ownerId: string,
  only?: { subnet_id: string; ip_address: string }[],
): Promise<void> {
  const base = () => q('network_ip_allocations').where({ owner_id: ownerId });
  if (!only) {
    await base().delete();
    return;
  }
  for (const a of only) await base().andWhere(a).delete();
}
