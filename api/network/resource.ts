/**
 * What the HTTP layer needs of each Neutron resource: its names, who sees
 * a row, its wire form, and create / update / delete. The router serves
 * every collection from these, so listing, filtering, tags and errors are
 * written once.
 */
import type { NetTx } from './context';
import type { Body, Kind, Row } from './store';

export interface ResourceType {
  kind: Kind;
  /** the body key of one: `network` */
  resource: string;
  /** the body key of a list and the URL segment: `networks`, `security-groups` → `security_groups` */
  collection: string;
  path: string;
  /** every key of the wire form: what `fields=` and filters may name */
  keys: readonly string[];
  taggable: boolean;
  visible(tx: NetTx, row: Row): Promise<boolean> | boolean;
  view(tx: NetTx, row: Row): Promise<Body>;
  create(tx: NetTx, body: unknown): Promise<Row>;
  update(tx: NetTx, row: Row, body: unknown): Promise<Row>;
  remove(tx: NetTx, row: Row): Promise<void>;
}

/** Keys every resource with standard attributes shows. */
export const STANDARD_KEYS = [
  'tenant_id',
  'project_id',
  'description',
  'tags',
  'created_at',
  'updated_at',
  'revision_number',
] as const;

export function standardView(row: Row): Body {
  return {
    tenant_id: row.project_id,
    project_id: row.project_id,
    description: row.body.description ?? '',
    tags: row.tags,
    created_at: row.created_at,
    updated_at: row.updated_at,
    revision_number: row.revision_number,
  };
}
