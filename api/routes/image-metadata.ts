/**
 * /v2.1/images/{id}/metadata: Nova's proxy to an image's custom
 * properties (2.1 to 2.38, a little longer than the image proxy itself).
 * Reads need the image visible, changes need it the caller's project's
 * (or an admin's); the properties are limited by the metadata_items quota.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import type { ImageRecord } from '../../driver/image/image-service';
import { ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, forbidden, itemNotFound } from '../faults';
import { route } from '../http';
import { imagesFor } from '../image/external-glance';
import { canModify } from '../image/image-policy';
import { validate } from '../validate';
import { findProxiedImage } from './images';
import { metadataSchema } from './server-metadata';

const allSchema = Joi.object({ metadata: metadataSchema.required() }).required();
const oneSchema = Joi.object({ meta: metadataSchema.min(1).max(1).required() }).required();

export function imageMetadataRouter(deps: ApiDeps): Router {
  const router = Router();

  router.use('/:id/metadata', (_req, res, next) => {
    if (ctxOf(res).version.ge('2.39'))
      return next(itemNotFound('The resource could not be found.'));
    next();
  });

  const image = (req: Request, res: Response) => findProxiedImage(deps, ctxOf(res), req.params.id);

  /** Replaces the image's properties, as Nova's update with purge_props. */
  async function save(res: Response, record: ImageRecord, properties: Record<string, string>) {
    const ctx = ctxOf(res);
    const limit = deps.config.quota.metadata_items;
    if (limit >= 0 && Object.keys(properties).length > limit)
      throw forbidden('Image metadata limit exceeded');
    if (!canModify(record, ctx)) throw forbidden(`Not authorized for image ${record.id}.`);
    return (await imagesFor(deps, ctx).update(record.id, { properties })).properties;
  }

  router.get(
    '/:id/metadata',
    route(async (req, res) => {
      res.json({ metadata: (await image(req, res)).properties });
    }),
  );

  router.post(
    '/:id/metadata',
    route(async (req, res) => {
      const { metadata } = validate<{ metadata: Record<string, string> }>(allSchema, req.body);
      const record = await image(req, res);
      res.json({ metadata: await save(res, record, { ...record.properties, ...metadata }) });
    }),
  );

  router.put(
    '/:id/metadata',
    route(async (req, res) => {
      const { metadata } = validate<{ metadata: Record<string, string> }>(allSchema, req.body);
      await save(res, await image(req, res), metadata);
      res.json({ metadata });
    }),
  );

  router.get(
    '/:id/metadata/:key',
    route(async (req, res) => {
      const properties = (await image(req, res)).properties;
      const key = req.params.key;
      if (!Object.hasOwn(properties, key)) throw itemNotFound('The resource could not be found.');
      res.json({ meta: { [key]: properties[key] } });
    }),
  );

  router.put(
    '/:id/metadata/:key',
    route(async (req, res) => {
      const { meta } = validate<{ meta: Record<string, string> }>(oneSchema, req.body);
      if (!Object.hasOwn(meta, req.params.key)) throw badRequest('Request body and URI mismatch');
      const record = await image(req, res);
      await save(res, record, { ...record.properties, ...meta });
      res.json({ meta });
    }),
  );

  router.delete(
    '/:id/metadata/:key',
    route(async (req, res) => {
      const record = await image(req, res);
      const key = req.params.key;
      if (!Object.hasOwn(record.properties, key)) throw itemNotFound('Invalid metadata key');
      const rest = Object.fromEntries(Object.entries(record.properties).filter(([k]) => k !== key));
      await save(res, record, rest);
      res.status(204).end();
    }),
  );
  return router;
}
