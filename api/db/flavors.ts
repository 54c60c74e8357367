/**
 * The flavors table: the default set berth starts with, lookups by the
 * public flavor id, and the snapshot an instance keeps of its flavor.
 */
import type { ApiContext } from '../context';
import { badRequest, itemNotFound } from '../faults';
import type { Database } from './connection';
import { hasFlavorAccess } from './flavor-access';
import type { FlavorSnapshot } from './instances';

/** A row as stored: booleans are 0/1 on SQLite, extra_specs is JSON text. */
export interface FlavorRow {
  id: number;
  flavorid: string;
  name: string;
  memory_mb: number;
  vcpus: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  rxtx_factor: number;
  is_public: boolean | number;
  disabled: boolean | number;
  description: string | null;
  extra_specs: string;
  created_at: string;
  updated_at: string | null;
}

/** DevStack's m1 set, plus a 64 MB flavor that suits a container. */
export const DEFAULT_FLAVORS: readonly Pick<
  FlavorRow,
  'flavorid' | 'name' | 'memory_mb' | 'root_gb' | 'vcpus'
>[] = [
  { flavorid: '1', name: 'm1.tiny', memory_mb: 512, root_gb: 1, vcpus: 1 },
  { flavorid: '2', name: 'm1.small', memory_mb: 2048, root_gb: 20, vcpus: 1 },
  { flavorid: '3', name: 'm1.medium', memory_mb: 4096, root_gb: 40, vcpus: 2 },
  { flavorid: '4', name: 'm1.large', memory_mb: 8192, root_gb: 80, vcpus: 4 },
  { flavorid: '5', name: 'm1.xlarge', memory_mb: 16384, root_gb: 160, vcpus: 8 },
  { flavorid: '42', name: 'b1.nano', memory_mb: 64, root_gb: 1, vcpus: 1 },
];

/**
 * Inserts the default flavors when the table is empty, so that a fresh
 * install can boot something; an operator who has made or removed flavors
 * keeps exactly what they made. Safe to call from several processes at
 * once: a racing insert is ignored.
 */
export async function seedDefaultFlavors(db: Database): Promise<void> {
  const row = await db('flavors').count({ n: '*' }).first();
  if (Number(row?.n ?? 0) > 0) return;
  const t = new Date().toISOString();
  await db('flavors')
    .insert(DEFAULT_FLAVORS.map((f) => ({ ...f, created_at: t, updated_at: null })))
    .onConflict()
    .ignore();
}

// Once per database handle and process: the API seeds on its first flavor lookup.
const seeded = new WeakMap<Database, Promise<void>>();

/** seedDefaultFlavors, run at most once per database handle. */
export function ensureDefaultFlavors(db: Database): Promise<void> {
  let p = seeded.get(db);
  if (!p) {
    p = seedDefaultFlavors(db).catch((err: unknown) => {
      seeded.delete(db);
      throw err;
    });
    seeded.set(db, p);
  }
  return p;
}

/**
 * Whether `ctx` may see the flavor: a private one is for admins and the
 * projects on its access list (`access`: the ids of the flavors the
 * caller's project is on the list of).
 */
export function canSeeFlavor(
  row: FlavorRow,
  ctx: ApiContext | undefined,
  access: ReadonlySet<number>,
): boolean {
  return !ctx || ctx.isAdmin || Boolean(row.is_public) || access.has(row.id);
}

const NO_ACCESS: ReadonlySet<number> = new Set();

export const flavorNotFound = (flavorId: string) =>
  itemNotFound(`Flavor ${flavorId} could not be found.`);

/**
 * The flavor whose public id is `flavorRef`. Throws Nova's 404
 * "Flavor X could not be found." — or a 400 with `asBadRequest`, which is
 * what Nova answers when a server create names an unknown flavor. With
 * `ctx`, private flavors are hidden from non-admins whose project is not
 * on the flavor's access list.
 */
export async function findFlavor(
  db: Database,
  flavorRef: string,
  o: { ctx?: ApiContext; asBadRequest?: boolean } = {},
): Promise<FlavorRow> {
  await ensureDefaultFlavors(db);
  const row = await db<FlavorRow>('flavors').where({ flavorid: flavorRef }).first();
  if (row && canSeeFlavor(row, o.ctx, NO_ACCESS)) return row;
  if (row && o.ctx && (await hasFlavorAccess(db, row, o.ctx.projectId))) return row;
  if (o.asBadRequest) throw badRequest(`Flavor ${flavorRef} could not be found.`);
  throw flavorNotFound(flavorRef);
}

export function extraSpecsOf(row: FlavorRow): Record<string, string> {
  try {
    const specs = JSON.parse(row.extra_specs || '{}') as unknown;
    return specs && typeof specs === 'object' ? (specs as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** What an instance keeps of its flavor (the instances.flavor column). */
export function flavorSnapshot(row: FlavorRow): FlavorSnapshot {
  return {
    flavorid: row.flavorid,
    name: row.name,
    memory_mb: row.memory_mb,
    vcpus: row.vcpus,
    root_gb: row.root_gb,
    ephemeral_gb: row.ephemeral_gb,
    swap: row.swap,
    rxtx_factor: row.rxtx_factor,
    is_public: Boolean(row.is_public),
    description: row.description,
    extra_specs: extraSpecsOf(row),
  };
}
