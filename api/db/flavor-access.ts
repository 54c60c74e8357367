/**
 * The flavor_projects table: which projects may see and use a private
 * flavor, besides admins (Nova's flavor access lists).
 */
import { ConflictError, NotFoundError } from '../../common/errors';
import type { Database } from './connection';
import type { FlavorRow } from './flavors';

/** The internal ids of the flavors `projectId` has been given access to. */
export async function accessibleFlavorIds(db: Database, projectId: string): Promise<Set<number>> {
  const rows = await db('flavor_projects')
    .where({ project_id: projectId })
    .select<{ flavor_id: number }[]>('flavor_id');
  return new Set(rows.map((r) => Number(r.flavor_id)));
}

export async function hasFlavorAccess(
  db: Database,
  flavor: FlavorRow,
  projectId: string,
): Promise<boolean> {
  return Boolean(
    await db('flavor_projects').where({ flavor_id: flavor.id, project_id: projectId }).first(),
  );
}

/** The projects of a flavor's access list, in the order they were given access. */
export async function flavorProjects(db: Database, flavor: FlavorRow): Promise<string[]> {
  const rows = await db('flavor_projects')
    .where({ flavor_id: flavor.id })
    .orderBy('id')
    .select<{ project_id: string }[]>('project_id');
  return rows.map((r) => r.project_id);
}

/** Nova's FlavorAccessExists (409) when the project is on the list already. */
export async function addFlavorAccess(
  db: Database,
  flavor: FlavorRow,
  projectId: string,
): Promise<void> {
  const inserted = await db('flavor_projects')
    .insert({ flavor_id: flavor.id, project_id: projectId, created_at: new Date().toISOString() })
    .onConflict(['flavor_id', 'project_id'])
    .ignore()
    .returning('id');
  if (inserted.length === 0)
    throw new ConflictError(
      `Flavor access already exists for flavor ${flavor.id} and project ${projectId} combination.`,
    );
}

/** Nova's FlavorAccessNotFound (404) when the project is not on the list. */
export async function removeFlavorAccess(
  db: Database,
  flavor: FlavorRow,
  projectId: string,
): Promise<void> {
  const n = await db('flavor_projects')
    .where({ flavor_id: flavor.id, project_id: projectId })
    .delete();
  if (!n)
    throw new NotFoundError(`Flavor access not found for ${flavor.id} / ${projectId} combination.`);
}

/** A deleted flavor's list goes with it, as Nova's flavor destroy removes its projects. */
export async function dropFlavorAccess(db: Database, flavorId: number): Promise<void> {
  await db('flavor_projects').where({ flavor_id: flavorId }).delete();
}
