/**
 * /v2.1/os-volumes and /v2.1/os-snapshots: Nova's proxies to the
 * block-storage service (nova/api/openstack/compute/volumes.py), until
 * microversion 2.35. They ask berth's embedded Cinder (VolumeService) what
 * cinderclient would ask a real one, and answer in Nova's camelCase views.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { ApiFault, forbidden, itemNotFound } from '../faults';
import { isEmptyIdPath, route } from '../http';
import { integerLike, novaBoolean, validate, validateQuery } from '../validate';
import {
  detailsOf,
  listSnapshots,
  listVolumes,
  type AttachmentRow,
  type Metadata,
  type SnapshotRow,
  type VolumeRow,
} from '../volume/store';
import { metadataSchema, name } from '../volume/parameter-types';
import { removedAt236 } from './removed-proxy';

/**
 * Nova's schemas/volumes.py create and snapshot_create, with Cinder's
 * limits on names and metadata: Nova passes those on, and Cinder refuses
 * what breaks them (400 either way).
 */
const createSchema = Joi.object({
  volume: Joi.object({
    volume_type: Joi.string().max(255),
    metadata: metadataSchema,
    snapshot_id: Joi.string().max(36),
    size: Joi.alternatives(
      Joi.number().integer().min(1),
      Joi.string().pattern(/^[0-9]+$/, 'digits'),
    ).required(),
    availability_zone: Joi.string().max(255),
    display_name: name,
    display_description: name,
  }).required(),
});

const snapshotSchema = Joi.object({
  snapshot: Joi.object({
    volume_id: Joi.string().max(36).required(),
    force: novaBoolean,
    display_name: name,
    display_description: name,
  }).required(),
});

/** nova.api.openstack.common.limited: `offset` and `limit` over the whole list. */
const listQuery = Joi.object({ limit: integerLike(0), offset: integerLike(0) });

function limited<T>(req: Request, rows: T[]): T[] {
  if (isEmptyIdPath(req)) throw itemNotFound('The resource could not be found.');
  const q = validateQuery<{ limit?: number; offset?: number }>(listQuery, req.query);
  const start = q.offset ?? 0;
  return rows.slice(start, start + Math.min(q.limit || 1000, 1000));
}

/** Nova's _translate_volume_summary_view: `[{}]` when nothing is attached. */
function volumeView(v: VolumeRow, attachments: AttachmentRow[], typeName: string | null) {
  return {
    id: v.id,
    status: v.status,
    size: v.size,
    availabilityZone: v.availability_zone,
    createdAt: v.created_at,
    attachments: attachments.length
      ? attachments.map((a) => ({
          id: v.id,
          volumeId: v.id,
          serverId: a.instance_uuid,
          device: a.device,
        }))
      : [{}],
    displayName: v.name,
    displayDescription: v.description,
    volumeType: typeName,
    snapshotId: v.snapshot_id,
    metadata: v.metadata,
  };
}

/** Nova's _translate_snapshot_summary_view. */
const snapshotView = (s: SnapshotRow) => ({
  id: s.id,
  volumeId: s.volume_id,
  status: s.status,
  size: s.size,
  createdAt: s.created_at,
  displayName: s.name,
  displayDescription: s.description,
});

/** Cinder's over-quota (413) reaches Nova as OverQuota, which its proxy answers 403. */
async function overQuotaForbidden<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiFault && err.status === 413) throw forbidden(err.message);
    throw err;
  }
}

export function osVolumesRouter(deps: ApiDeps): Router {
  const svc = deps.volumes;
  const r = Router();
  r.use(removedAt236);

  const views = async (rows: VolumeRow[]) =>
    (await detailsOf(svc.db, rows)).map((d) => volumeView(d.volume, d.attachments, d.typeName));
  const show = async (ctx: ApiContext, id: string) =>
    (await views([await svc.visibleVolume(ctx, id)]))[0];

  const list = route(async (req, res) => {
    const rows = limited(req, await listVolumes(svc.db, ctxOf(res).projectId));
    res.json({ volumes: await views(rows) });
  });
  r.get('/', list);
  r.get('/detail', list);
  r.get(
    '/:id',
    route(async (req, res) => {
      res.json({ volume: await show(ctxOf(res), req.params.id) });
    }),
  );
  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const b = validate<{ volume: Record<string, unknown> }>(createSchema, req.body).volume;
      const v = await overQuotaForbidden(() =>
        svc.create(ctx, {
          size: Number(b.size),
          name: (b.display_name as string | undefined) ?? null,
          description: (b.display_description as string | undefined) ?? null,
          volume_type: (b.volume_type as string | undefined) ?? null,
          availability_zone: (b.availability_zone as string | undefined) ?? null,
          metadata: (b.metadata ?? {}) as Metadata,
          snapshot_id: (b.snapshot_id as string | undefined) ?? null,
        }),
      );
      res.json({ volume: (await views([v]))[0] });
    }),
  );
  r.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      await svc.remove(ctx, await svc.visibleVolume(ctx, req.params.id));
      res.status(202).end();
    }),
  );
  return r;
}

export function osSnapshotsRouter(deps: ApiDeps): Router {
  const svc = deps.volumes;
  const r = Router();
  r.use(removedAt236);

  const list = route(async (req, res) => {
    const rows = await listSnapshots(svc.db, { project_id: ctxOf(res).projectId });
    res.json({ snapshots: limited(req, rows).map(snapshotView) });
  });
  r.get('/', list);
  r.get('/detail', list);
  r.get(
    '/:id',
    route(async (req, res: Response) => {
      res.json({ snapshot: snapshotView(await svc.visibleSnapshot(ctxOf(res), req.params.id)) });
    }),
  );
  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const b = validate<{ snapshot: Record<string, unknown> }>(snapshotSchema, req.body).snapshot;
      const v = await svc.visibleVolume(ctx, b.volume_id as string);
      const s = await overQuotaForbidden(() =>
        svc.createSnapshot(ctx, v, {
          name: (b.display_name as string | undefined) ?? null,
          description: (b.display_description as string | undefined) ?? null,
          force: b.force === true,
        }),
      );
      res.json({ snapshot: snapshotView(s) });
    }),
  );
  r.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      await svc.removeSnapshot(ctx, await svc.visibleSnapshot(ctx, req.params.id));
      res.status(202).end();
    }),
  );
  return r;
}
