/**
 * Cinder's response shapes (cinder/api/v2/views, v3/views), fields
 * added by microversion as Cinder adds them, so Tempest's strict schemas
 * hold at each version.
 */
import type { ApiContext } from '../context';
import type { Microversion } from '../microversion';
import type { AttachmentRow, SnapshotRow, VolumeRow, VolumeTypeRow } from './store';

/** Where links point: the API base (http://host/volume) and the project in the path. */
export interface LinkBase {
  base: string;
  projectId: string;
}

const links = (b: LinkBase, collection: string, id: string) => [
  { rel: 'self', href: `${b.base}/v3/${b.projectId}/${collection}/${id}` },
  { rel: 'bookmark', href: `${b.base}/${b.projectId}/${collection}/${id}` },
];

export function attachmentView(a: AttachmentRow) {
  return {
    server_id: a.instance_uuid,
    attachment_id: a.id,
    attached_at: a.attached_at,
    host_name: a.attached_host,
    volume_id: a.volume_id,
    device: a.device,
    id: a.volume_id,
  };
}

export function volumeSummary(b: LinkBase, v: VolumeRow) {
  return { id: v.id, name: v.name, links: links(b, 'volumes', v.id) };
}

export function volumeView(
  ctx: ApiContext,
  b: LinkBase,
  v: VolumeRow,
  attachments: AttachmentRow[],
  typeName: string | null,
) {
  const version: Microversion = ctx.version;
  const out: Record<string, unknown> = {
    id: v.id,
    name: v.name,
    description: v.description,
    size: v.size,
    status: v.status,
    attachments: attachments.map(attachmentView),
    availability_zone: v.availability_zone,
    bootable: String(v.bootable),
    encrypted: false,
    multiattach: v.multiattach,
    replication_status: null,
    consistencygroup_id: null,
    snapshot_id: v.snapshot_id,
    source_volid: null,
    user_id: v.user_id,
    volume_type: typeName,
    metadata: { ...v.metadata, ...(v.readonly ? { readonly: 'True' } : {}) },
    links: links(b, 'volumes', v.id),
    created_at: v.created_at,
    updated_at: v.updated_at,
    'os-vol-tenant-attr:tenant_id': v.project_id,
  };
  if (v.image_metadata) out.volume_image_metadata = v.image_metadata;
  if (ctx.isAdmin) {
    // Cinder's host@backend#pool.
    out['os-vol-host-attr:host'] = v.host ? `${v.host}@berth#berth` : null;
    out['os-vol-mig-status-attr:migstat'] = null;
    out['os-vol-mig-status-attr:name_id'] = null;
  }
  out.migration_status = null;
  if (version.ge('3.13')) out.group_id = null;
  if (version.ge('3.21') && ctx.isAdmin) out.provider_id = null;
  if (version.ge('3.48')) {
    out.shared_targets = false;
    out.service_uuid = null;
  }
  return out;
}

export function snapshotView(ctx: ApiContext, s: SnapshotRow, detail: boolean) {
  const out: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    description: s.description,
    volume_id: s.volume_id,
    size: s.size,
    status: s.status,
    metadata: s.metadata,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
  if (detail) {
    out['os-extended-snapshot-attributes:progress'] = s.status === 'available' ? '100%' : '0%';
    out['os-extended-snapshot-attributes:project_id'] = s.project_id;
  }
  if (ctx.version.ge('3.41')) out.user_id = s.user_id;
  return out;
}

/**
 * A type as Cinder answers each call: the access extension's
 * `os-volume-type-access:is_public` on all but an update, `qos_specs_id` only
 * where the type is read back (show, list), as Tempest's schemas hold them.
 */
export function volumeTypeView(t: VolumeTypeRow, call: 'show' | 'create' | 'update' = 'show') {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    is_public: t.is_public,
    ...(call !== 'update' && { 'os-volume-type-access:is_public': t.is_public }),
    extra_specs: t.extra_specs,
    ...(call === 'show' && { qos_specs_id: null }),
  };
}
