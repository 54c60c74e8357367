/**
 * `{resource}/{id}/metadata[/{key}]` for volumes and snapshots, as
 * Cinder's volume_metadata and snapshot_metadata controllers answer.
 */
import type { Router } from 'express';
import { ctxOf, type ApiContext } from '../context';
import { badRequest, itemNotFound } from '../faults';
import { route } from '../http';
import { validate } from '../validate';
import type { Metadata } from './store';
import { metadataSchemas } from './volumes-routes';

export interface MetadataOwner {
  /** the row's metadata, or its NotFound */
  get(ctx: ApiContext, id: string): Promise<Metadata>;
  save(id: string, metadata: Metadata): Promise<void>;
}

export function mountMetadata(r: Router, path: string, o: MetadataOwner): void {
  const base = `/${path}/:id/metadata`;
  r.get(
    base,
    route(async (req, res) => {
      res.json({ metadata: await o.get(ctxOf(res), req.params.id) });
    }),
  );
  // POST merges, PUT replaces: Cinder's create and update_all.
  for (const [method, merge] of [
    ['post', true],
    ['put', false],
  ] as const)
    r[method](
      base,
      route(async (req, res) => {
        const current = await o.get(ctxOf(res), req.params.id);
        const given = validate<{ metadata: Metadata }>(metadataSchemas.set, req.body).metadata;
        const next = merge ? { ...current, ...given } : given;
        await o.save(req.params.id, next);
        res.json({ metadata: next });
      }),
    );
  r.get(
    `${base}/:key`,
    route(async (req, res) => {
      const m = await o.get(ctxOf(res), req.params.id);
      if (!Object.hasOwn(m, req.params.key)) throw itemNotFound('Metadata item was not found');
      res.json({ meta: { [req.params.key]: m[req.params.key] } });
    }),
  );
  r.put(
    `${base}/:key`,
    route(async (req, res) => {
      const m = await o.get(ctxOf(res), req.params.id);
      const given = validate<{ meta: Metadata }>(metadataSchemas.one, req.body).meta;
      if (!Object.hasOwn(given, req.params.key)) throw badRequest('Request body and URI mismatch');
      await o.save(req.params.id, { ...m, ...given });
      res.json({ meta: given });
    }),
  );
  r.delete(
    `${base}/:key`,
    route(async (req, res) => {
      const m = await o.get(ctxOf(res), req.params.id);
      if (!Object.hasOwn(m, req.params.key)) throw itemNotFound('Metadata item was not found');
      const { [req.params.key]: _gone, ...rest } = m;
      void _gone;
      await o.save(req.params.id, rest);
      res.status(200).end();
    }),
  );
}
