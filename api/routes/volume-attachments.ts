/**
 * /servers/{id}/os-volume_attachments: the server's volumes (list, show),
 * attach (`openstack server add volume`), detach (`server remove volume`)
 * and update/swap, with Nova's schemas and bodies per microversion
 * (nova/api/openstack/compute/volumes.py).
 */
import { Router, type Response } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { route } from '../http';
import type { Microversion } from '../microversion';
import { requireAdmin } from '../policy';
import {
  attachVolume,
  detachVolume,
  findAttachment,
  notAttached,
  updateAttachment,
  type AttachRequest,
} from '../servers/volume-attachments';
import { integerLike, novaBoolean, novaTag, UUID_LIKE, validate, validateQuery } from '../validate';
import { attachmentsOfInstance, type AttachmentRow } from '../volume/store';
import { findServer } from './server-lookup';

const volumeId = Joi.string().pattern(UUID_LIKE, "'uuid'");

/** nova/block_device.py match_device, as Nova's schema writes it. */
const DEVICE = /(^\/dev\/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$/;

const createSchema = (v: Microversion) =>
  Joi.object({
    volumeAttachment: Joi.object({
      volumeId: volumeId.required(),
      device: Joi.string().pattern(DEVICE, 'device').allow(null),
      ...(v.ge('2.49') ? { tag: novaTag } : {}),
      ...(v.ge('2.79') ? { delete_on_termination: novaBoolean } : {}),
    }).required(),
  });

/** From 2.85 the body may repeat the attachment's other fields and change delete_on_termination. */
const updateSchema = (v: Microversion) =>
  Joi.object({
    volumeAttachment: Joi.object({
      volumeId: volumeId.required(),
      ...(v.ge('2.85')
        ? {
            id: volumeId,
            serverId: volumeId,
            device: Joi.string().allow(null),
            tag: novaTag.allow(null),
            delete_on_termination: novaBoolean,
          }
        : {}),
    }).required(),
  });

const listQuery = Joi.object({
  limit: integerLike(0),
  offset: integerLike(0),
});

/** Nova's _translate_attachment_detail_view (list, show); POST always answers with the id. */
function attachmentView(a: AttachmentRow, v: Microversion, forCreate = false) {
  const newIds = v.ge('2.89') && !forCreate;
  return {
    ...(newIds ? {} : { id: a.volume_id }),
    volumeId: a.volume_id,
    serverId: a.instance_uuid,
    device: a.device,
    ...(v.ge('2.70') ? { tag: a.tag } : {}),
    ...(v.ge('2.79') ? { delete_on_termination: a.delete_on_termination } : {}),
    ...(newIds ? { attachment_id: a.id, bdm_uuid: a.id } : {}),
  };
}

const SWAP_RULE = 'os_compute_api:os-volumes-attachments:swap';

export function volumeAttachmentsRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const r = Router({ mergeParams: true });
  const params = (p: unknown) => p as { id: string; volumeId: string };
  const server = (res: Response, id: string) => findServer(db, ctxOf(res), id);

  const attached = async (ctx: ApiContext, serverId: string, volume: string) => {
    const inst = await findServer(db, ctx, serverId);
    const a = await findAttachment(deps, inst, volume);
    if (!a) throw notAttached(volume, inst.uuid);
    return { inst, a };
  };

  r.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const q = validateQuery<{ limit?: number; offset?: number }>(listQuery, req.query);
      const inst = await server(res, params(req.params).id);
      const all = await attachmentsOfInstance(db, inst.uuid);
      const start = q.offset ?? 0;
      const page = all.slice(start, q.limit === undefined ? undefined : start + q.limit);
      res.json({ volumeAttachments: page.map((a) => attachmentView(a, ctx.version)) });
    }),
  );

  r.get(
    '/:volumeId',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { a } = await attached(ctx, params(req.params).id, params(req.params).volumeId);
      res.json({ volumeAttachment: attachmentView(a, ctx.version) });
    }),
  );

  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = validate<{ volumeAttachment: AttachRequest }>(
        createSchema(ctx.version),
        req.body ?? {},
      );
      const inst = await server(res, params(req.params).id);
      const a = await attachVolume(deps, ctx, inst, body.volumeAttachment);
      res.json({ volumeAttachment: attachmentView(a, ctx.version, true) });
    }),
  );

  r.put(
    '/:volumeId',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = validate<{
        volumeAttachment: { volumeId: string; delete_on_termination?: boolean };
      }>(updateSchema(ctx.version), req.body ?? {});
      const { inst, a } = await attached(ctx, params(req.params).id, params(req.params).volumeId);
      const change = body.volumeAttachment;
      if (change.volumeId !== a.volume_id || !ctx.version.ge('2.85')) requireAdmin(ctx, SWAP_RULE);
      await updateAttachment(deps, ctx, inst, a, change);
      res.status(202).end();
    }),
  );

  r.delete(
    '/:volumeId',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const inst = await server(res, params(req.params).id);
      await detachVolume(deps, ctx, inst, params(req.params).volumeId);
      res.status(202).end();
    }),
  );
  return r;
}
