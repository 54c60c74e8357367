/**
 * Host aggregates (Nova's aggregates, aggregate_hosts, aggregate_metadata
 * tables) and the availability zone they give their hosts: a host in an
 * aggregate whose metadata has `availability_zone` is in that zone, every
 * other compute host in the zone it reports (the default zone).
 */
import type { Knex } from 'knex';
import type { Database } from './connection';
import type { ServiceRow } from './services';

export const ZONE_KEY = 'availability_zone';

export interface Aggregate {
  id: number;
  uuid: string;
  name: string;
  hosts: string[];
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string | null;
}

interface AggregateRow {
  id: number;
  uuid: string;
  name: string;
  created_at: string;
  updated_at: string | null;
}

/** Every aggregate (or only those with these ids), ordered by id, with its hosts and metadata. */
export async function listAggregates(q: Knex, ids?: number[]): Promise<Aggregate[]> {
  const all = q<AggregateRow>('aggregates').orderBy('id');
  const rows: AggregateRow[] = await (ids ? all.whereIn('id', ids) : all);
  const [hosts, meta] = await Promise.all([
    q('aggregate_hosts').select('aggregate_id', 'host').orderBy('host'),
    q('aggregate_metadata').select('aggregate_id', 'key', 'value'),
  ]);
  return rows.map((r) => ({
    ...r,
    hosts: hosts.filter((h) => h.aggregate_id === r.id).map((h) => h.host as string),
    metadata: Object.fromEntries(
      meta.filter((m) => m.aggregate_id === r.id).map((m) => [m.key, m.value]),
    ),
  }));
}

export async function getAggregate(q: Knex, id: number): Promise<Aggregate | undefined> {
  return (await listAggregates(q, [id]))[0];
}

/** Sets (a string) or removes (null) each key; the aggregate's updated_at moves. */
export async function setAggregateMetadata(
  q: Knex,
  id: number,
  changes: Record<string, string | null>,
  t: string,
): Promise<void> {
  for (const [key, value] of Object.entries(changes)) {
    await q('aggregate_metadata').where({ aggregate_id: id, key }).delete();
    if (value !== null) await q('aggregate_metadata').insert({ aggregate_id: id, key, value });
  }
  await q('aggregates').where({ id }).update({ updated_at: t });
}

/** The zone each aggregated host is in, by its aggregates' metadata. */
export async function aggregateZones(q: Knex): Promise<Map<string, string>> {
  const rows = await q('aggregate_hosts as h')
    .join('aggregate_metadata as m', 'm.aggregate_id', 'h.aggregate_id')
    .where('m.key', ZONE_KEY)
    .select('h.host', 'm.value')
    .orderBy('h.aggregate_id');
  return new Map(rows.map((r) => [r.host as string, r.value as string]));
}

/** Service rows with the zone their host's aggregates put them in. */
export async function withAggregateZones(db: Database, services: ServiceRow[]) {
  const zones = await aggregateZones(db);
  return services.map((s) =>
    s.binary === 'nova-compute' && zones.has(s.host)
      ? { ...s, availability_zone: zones.get(s.host)! }
      : s,
  );
}
