/** /servers/{id}/metadata: the user's key/value pairs on a server, within the metadata_items quota. */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import type { Database } from '../db/connection';
import type { Instance } from '../db/instances';
import { checkMetadataQuota } from '../db/quotas';
import type { ApiDeps } from '../deps';
import { badRequest, itemNotFound } from '../faults';
import { now, route } from '../http';
import { METADATA_KEY, validate } from '../validate';
import { findServer } from './server-lookup';

/** Nova's parameter_types.metadata: no other keys, and only string values. */
export const metadataSchema = Joi.object().pattern(METADATA_KEY, Joi.string().max(255).allow(''));

export function serverMetadataRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const r = Router({ mergeParams: true });
  const id = (p: unknown) => (p as { id: string }).id;

  async function write(inst: Instance, metadata: Record<string, string>) {
    await checkMetadataQuota(db, config, inst.project_id, Object.keys(metadata).length);
    await setMetadata(db, inst.uuid, metadata);
    return metadata;
  }

  r.get(
    '/',
    route(async (req, res) => {
      const inst = await findServer(db, ctxOf(res), id(req.params));
      res.json({ metadata: inst.metadata });
    }),
  );
  // POST merges, PUT replaces.
  for (const [method, merge] of [
    ['post', true],
    ['put', false],
  ] as const) {
    r[method](
      '/',
      route(async (req, res) => {
        const { metadata } = validate<{ metadata: Record<string, string> }>(
          Joi.object({ metadata: metadataSchema.required() }).required(),
          req.body,
        );
        const inst = await findServer(db, ctxOf(res), id(req.params));
        res.json({
          metadata: await write(inst, merge ? { ...inst.metadata, ...metadata } : metadata),
        });
      }),
    );
  }
  r.get(
    '/:key',
    route(async (req, res) => {
      const inst = await findServer(db, ctxOf(res), id(req.params));
      if (!Object.hasOwn(inst.metadata, req.params.key))
        throw itemNotFound('Metadata item was not found');
      res.json({ meta: { [req.params.key]: inst.metadata[req.params.key] } });
    }),
  );
  r.put(
    '/:key',
    route(async (req, res) => {
      const { meta } = validate<{ meta: Record<string, string> }>(
        Joi.object({ meta: metadataSchema.min(1).max(1).required() }).required(),
        req.body,
      );
      if (!Object.hasOwn(meta, req.params.key)) throw badRequest('Request body and URI mismatch');
      const inst = await findServer(db, ctxOf(res), id(req.params));
      await write(inst, { ...inst.metadata, ...meta });
      res.json({ meta });
    }),
  );
  r.delete(
    '/:key',
    route(async (req, res) => {
      const inst = await findServer(db, ctxOf(res), id(req.params));
      if (!Object.hasOwn(inst.metadata, req.params.key))
        throw itemNotFound('Metadata item was not found');
      const { [req.params.key]: _gone, ...rest } = inst.metadata;
      void _gone;
      await setMetadata(db, inst.uuid, rest);
      res.status(204).end();
    }),
  );
  return r;
}

async function setMetadata(db: Database, uuid: string, metadata: Record<string, string>) {
  await db('instances')
    .where({ uuid, deleted: false })
    .update({ metadata: JSON.stringify(metadata), updated_at: now() });
}
