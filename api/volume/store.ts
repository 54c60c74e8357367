/**
 * The rows of the block-storage service (migration 0003_volumes): volumes,
 * their attachments, snapshots and types, decoded from their stored form
 * (JSON text, SQLite's 0/1 booleans).
 */
import type { Knex } from 'knex';
import { now } from '../http';

export type Metadata = Record<string, string>;

export interface VolumeRow {
  id: string;
  project_id: string;
  user_id: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  status_reason: string | null;
  host: string | null;
  availability_zone: string;
  volume_type_id: string;
  bootable: boolean;
  readonly: boolean;
  multiattach: boolean;
  snapshot_id: string | null;
  metadata: Metadata;
  /** the image a volume was made from (Cinder's volume_image_metadata): what it boots */
  image_metadata: Metadata | null;
  created_at: string;
  updated_at: string | null;
}

export interface AttachmentRow {
  id: string;
  volume_id: string;
  instance_uuid: string;
  attached_host: string | null;
  device: string;
  mount_point: string;
  tag: string | null;
  delete_on_termination: boolean;
  attached_at: string | null;
}

export interface SnapshotRow {
  id: string;
  project_id: string;
  user_id: string;
  volume_id: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  metadata: Metadata;
  created_at: string;
  updated_at: string | null;
}

export interface VolumeTypeRow {
  id: string;
  name: string;
  description: string | null;
  is_public: boolean;
  extra_specs: Metadata;
  created_at: string;
}

type Raw = Record<string, unknown>;

const json = (v: unknown) => JSON.parse(String(v)) as Metadata;

function volumeOf(r: Raw): VolumeRow {
  return {
    ...(r as unknown as VolumeRow),
    size: Number(r.size),
    bootable: Boolean(r.bootable),
    readonly: Boolean(r.readonly),
    multiattach: Boolean(r.multiattach),
    metadata: json(r.metadata),
    image_metadata: r.image_metadata == null ? null : json(r.image_metadata),
  };
}

const attachmentOf = (r: Raw): AttachmentRow => ({
  ...(r as unknown as AttachmentRow),
  delete_on_termination: Boolean(r.delete_on_termination),
});

const snapshotOf = (r: Raw): SnapshotRow => ({
  ...(r as unknown as SnapshotRow),
  size: Number(r.size),
  metadata: json(r.metadata),
});

const typeOf = (r: Raw): VolumeTypeRow => ({
  ...(r as unknown as VolumeTypeRow),
  is_public: Boolean(r.is_public),
  extra_specs: json(r.extra_specs),
});

export async function findVolume(q: Knex, id: string): Promise<VolumeRow | undefined> {
  const r = await q('volumes').where({ id }).first();
  return r && volumeOf(r);
}

/** A project's volumes (every project's with `projectId` undefined), oldest first. */
export async function listVolumes(q: Knex, projectId?: string): Promise<VolumeRow[]> {
  const base = q('volumes').orderBy([{ column: 'created_at' }, { column: 'id' }]);
  const rows = await (projectId === undefined ? base : base.where({ project_id: projectId }));
  return rows.map(volumeOf);
}

export async function insertVolume(q: Knex, v: Omit<VolumeRow, 'created_at' | 'updated_at'>) {
  const t = now();
  await q('volumes').insert({
    ...v,
    metadata: JSON.stringify(v.metadata),
    image_metadata: v.image_metadata && JSON.stringify(v.image_metadata),
    created_at: t,
    updated_at: t,
  });
}

export type VolumeChanges = Partial<Omit<VolumeRow, 'id' | 'created_at' | 'updated_at'>>;

const JSON_COLUMNS = new Set(['metadata', 'image_metadata', 'extra_specs']);

/** The columns a change sets, its JSON ones as text, and the time of the change. */
function changedColumns(changes: object): Raw {
  const row: Raw = { updated_at: now() };
  for (const [k, v] of Object.entries(changes))
    row[k] = JSON_COLUMNS.has(k) && v !== null && v !== undefined ? JSON.stringify(v) : v;
  return row;
}

export async function updateVolume(q: Knex, id: string, changes: VolumeChanges): Promise<void> {
  await q('volumes').where({ id }).update(changedColumns(changes));
}

/**
 * Moves a volume from one of `from` to `to` only if it is still in one of
 * them: the status is the lock two concurrent requests compete for.
 */
export async function transition(
  q: Knex,
  id: string,
  from: readonly string[],
  changes: VolumeChanges & { status: string },
): Promise<boolean> {
  const n = await q('volumes')
    .where({ id })
    .whereIn('status', from)
    .update(changedColumns(changes));
  return Number(n) > 0;
}

export async function deleteVolumeRow(q: Knex, id: string): Promise<void> {
  await q('volumes').where({ id }).delete();
}

export async function attachmentsOf(q: Knex, volumeIds: string[]): Promise<AttachmentRow[]> {
  if (!volumeIds.length) return [];
  const rows = await q('volume_attachments').whereIn('volume_id', volumeIds).orderBy('attached_at');
  return rows.map(attachmentOf);
}

export async function attachmentsOfInstance(q: Knex, uuid: string): Promise<AttachmentRow[]> {
  const rows = await q('volume_attachments').where({ instance_uuid: uuid }).orderBy('attached_at');
  return rows.map(attachmentOf);
}

/** The attachments of each of `uuids` (server views), every uuid present. */
export async function attachmentsByInstance(
  q: Knex,
  uuids: string[],
): Promise<Map<string, AttachmentRow[]>> {
  const out = new Map(uuids.map((u): [string, AttachmentRow[]] => [u, []]));
  if (!uuids.length) return out;
  const rows = await q('volume_attachments').whereIn('instance_uuid', uuids).orderBy('attached_at');
  for (const r of rows.map(attachmentOf)) out.get(r.instance_uuid)?.push(r);
  return out;
}

/** Each volume with its attachments and its type's name: what every view of a volume shows. */
export async function detailsOf(q: Knex, rows: VolumeRow[]) {
  const attachments = await attachmentsOf(
    q,
    rows.map((v) => v.id),
  );
  const types = new Map((await listTypes(q)).map((t) => [t.id, t.name]));
  return rows.map((volume) => ({
    volume,
    attachments: attachments.filter((a) => a.volume_id === volume.id),
    typeName: types.get(volume.volume_type_id) ?? null,
  }));
}

export async function insertAttachment(q: Knex, a: AttachmentRow): Promise<void> {
  await q('volume_attachments').insert(a);
}

export async function deleteAttachment(q: Knex, id: string): Promise<void> {
  await q('volume_attachments').where({ id }).delete();
}

export async function findSnapshot(q: Knex, id: string): Promise<SnapshotRow | undefined> {
  const r = await q('volume_snapshots').where({ id }).first();
  return r && snapshotOf(r);
}

export async function listSnapshots(
  q: Knex,
  where: { project_id?: string; volume_id?: string } = {},
): Promise<SnapshotRow[]> {
  const rows = await q('volume_snapshots')
    .where(where)
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);
  return rows.map(snapshotOf);
}

export async function insertSnapshot(q: Knex, s: Omit<SnapshotRow, 'created_at' | 'updated_at'>) {
  const t = now();
  await q('volume_snapshots').insert({
    ...s,
    metadata: JSON.stringify(s.metadata),
    created_at: t,
    updated_at: t,
  });
}

export async function updateSnapshot(
  q: Knex,
  id: string,
  changes: Partial<Pick<SnapshotRow, 'name' | 'description' | 'status' | 'metadata'>>,
): Promise<void> {
  await q('volume_snapshots').where({ id }).update(changedColumns(changes));
}

export async function deleteSnapshotRow(q: Knex, id: string): Promise<void> {
  await q('volume_snapshots').where({ id }).delete();
}

export async function listTypes(q: Knex): Promise<VolumeTypeRow[]> {
  return (await q('volume_types').orderBy('name')).map(typeOf);
}

/** A type by id or by name, as Cinder's volume_types.get_by_name_or_id. */
export async function findType(q: Knex, idOrName: string): Promise<VolumeTypeRow | undefined> {
  const r =
    (await q('volume_types').where({ id: idOrName }).first()) ??
    (await q('volume_types').where({ name: idOrName }).first());
  return r && typeOf(r);
}

export async function insertType(q: Knex, t: Omit<VolumeTypeRow, 'created_at'>): Promise<void> {
  await q('volume_types').insert({
    ...t,
    extra_specs: JSON.stringify(t.extra_specs),
    created_at: now(),
  });
}

export async function updateType(
  q: Knex,
  id: string,
  changes: Partial<Pick<VolumeTypeRow, 'name' | 'description' | 'is_public' | 'extra_specs'>>,
): Promise<void> {
  await q('volume_types').where({ id }).update(changedColumns(changes));
}

export async function deleteTypeRow(q: Knex, id: string): Promise<void> {
  await q('volume_types').where({ id }).delete();
}
