/**
 * Server tags (Nova's tags table, kept here as the instances.tags JSON
 * list): the per-server limits, changes that never lose a concurrent
 * one, and the list filters of GET /servers.
 */
import { ConflictError } from '../../common/errors';
import type { Database } from './connection';

/** Nova's MAX_TAG_COUNT and MAX_TAG_LENGTH. */
export const MAX_TAGS = 50;
export const MAX_TAG_LENGTH = 60;
/** Nova's parameter_types.tag: 1 to 60 characters, none of them "/" or ",". */
export const TAG = /^[^,/]{1,60}$/u;

/**
 * Replaces the server's tags with `change(current)`. The write only
 * lands if the list is still what was read, so that two requests adding
 * a tag each keep both; a lost race reads again.
 */
export async function changeTags(
  db: Database,
  uuid: string,
  change: (tags: string[]) => string[],
): Promise<string[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const row = await db('instances')
      .where({ uuid, deleted: false })
      .first<{ tags: string } | undefined>('tags');
    if (!row) return [];
    const next = change(JSON.parse(row.tags) as string[]);
    const n = await db('instances')
      .where({ uuid, deleted: false, tags: row.tags })
      .update({ tags: JSON.stringify(next), updated_at: new Date().toISOString() });
    if (n) return next;
  }
  throw new ConflictError(`The tags of server ${uuid} are changing too often; try again.`);
}

export interface TagFilters {
  /** all of them */
  tags?: string[];
  /** at least one */
  'tags-any'?: string[];
  /** not all of them */
  'not-tags'?: string[];
  /** none of them */
  'not-tags-any'?: string[];
}

export const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'] as const;

/** Whether a server with `tags` passes Nova's tag filters. */
export function matchesTags(tags: readonly string[], f: TagFilters): boolean {
  const has = (t: string) => tags.includes(t);
  if (f.tags && !f.tags.every(has)) return false;
  if (f['tags-any'] && !f['tags-any'].some(has)) return false;
  if (f['not-tags'] && f['not-tags'].every(has)) return false;
  if (f['not-tags-any'] && f['not-tags-any'].some(has)) return false;
  return true;
}
