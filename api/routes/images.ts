/**
 * /v2.1/images: Nova's deprecated image proxy, read-only, over the same
 * store and visibility rules as the image API. Like Nova, it is gone
 * (404) from microversion 2.36 on.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { ConflictError, NotFoundError } from '../../common/errors';
import { ImageForbiddenError, type ImageRecord } from '../../driver/image/image-service';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, forbidden, itemNotFound } from '../faults';
import { isoSeconds, nextLinks, route } from '../http';
import { imagesFor } from '../image/external-glance';
import { canSee, listed } from '../image/image-policy';
import { validateQuery } from '../validate';
import { removedAt236 } from './removed-proxy';

/** Nova's view of Glance statuses, and the progress it reports for each. */
const NOVA_STATUS: Record<string, string> = {
  active: 'ACTIVE',
  queued: 'SAVING',
  saving: 'SAVING',
  deleted: 'DELETED',
  pending_delete: 'DELETED',
  killed: 'ERROR',
};
const PROGRESS: Record<string, number> = { queued: 25, saving: 50, active: 100 };

const listQuery = Joi.object({
  name: Joi.string(),
  status: Joi.string(),
  server: Joi.string(),
  type: Joi.string(),
  minRam: Joi.number().integer().min(0),
  minDisk: Joi.number().integer().min(0),
  'changes-since': Joi.date().iso(),
  limit: Joi.number().integer().min(0),
  marker: Joi.string(),
});

interface ListQuery {
  name?: string;
  status?: string;
  server?: string;
  type?: string;
  minRam?: number;
  minDisk?: number;
  'changes-since'?: Date;
  limit?: number;
  marker?: string;
}

/** The image `id` names, as the proxy finds one: by id only, and visible to the caller. */
export async function findProxiedImage(
  deps: ApiDeps,
  ctx: ApiContext,
  id: string,
): Promise<ImageRecord> {
  const notFound = itemNotFound('Image not found.');
  // Only ids: a name that one image has is not an image reference here.
  const record = await imagesFor(deps, ctx)
    .show(id)
    .catch((err: unknown) => {
      throw err instanceof NotFoundError || err instanceof ConflictError ? notFound : err;
    });
  if (record.id !== id || !canSee(record, ctx)) throw notFound;
  return record;
}

export function imagesRouter(deps: ApiDeps): Router {
  const router = Router();

  const links = (req: Request, id: string) => [
    { rel: 'self', href: `${baseUrl(req)}/v2.1/images/${id}` },
    { rel: 'bookmark', href: `${baseUrl(req)}/images/${id}` },
    {
      rel: 'alternate',
      type: 'application/vnd.openstack.image',
      href: `${deps.config.glance.api_servers[0]}/images/${id}`,
    },
  ];

  const brief = (req: Request, r: ImageRecord) => ({
    id: r.id,
    name: r.name || null,
    links: links(req, r.id),
  });

  const detail = (req: Request, r: ImageRecord) => ({
    id: r.id,
    name: r.name || null,
    minRam: r.min_ram,
    minDisk: r.min_disk,
    metadata: { ...r.properties },
    created: isoSeconds(r.created_at),
    updated: isoSeconds(r.updated_at),
    status: NOVA_STATUS[r.status] ?? 'UNKNOWN',
    progress: PROGRESS[r.status] ?? 0,
    'OS-EXT-IMG-SIZE:size': r.size,
    ...(r.properties.instance_uuid
      ? {
          server: {
            id: r.properties.instance_uuid,
            links: [
              { rel: 'self', href: `${baseUrl(req)}/v2.1/servers/${r.properties.instance_uuid}` },
              { rel: 'bookmark', href: `${baseUrl(req)}/servers/${r.properties.instance_uuid}` },
            ],
          },
        }
      : {}),
    links: links(req, r.id),
  });

  router.use(removedAt236);

  async function page(req: Request, res: Response) {
    const ctx = ctxOf(res);
    const q = validateQuery<ListQuery>(listQuery, req.query);
    const since = q['changes-since']?.toISOString();
    let rows = (await imagesFor(deps, ctx).list())
      .filter((r) => listed(r, ctx, undefined) && !r.os_hidden)
      .filter(
        (r) =>
          (q.name === undefined || r.name === q.name) &&
          (q.status === undefined ||
            r.status === q.status.toLowerCase() ||
            NOVA_STATUS[r.status] === q.status.toUpperCase()) &&
          // Nova takes a server's link as well as its id: the id is the last segment.
          (q.server === undefined || r.properties.instance_uuid === q.server.split('/').pop()) &&
          (q.type === undefined || r.properties.image_type === q.type) &&
          (q.minRam === undefined || r.min_ram >= q.minRam) &&
          (q.minDisk === undefined || r.min_disk >= q.minDisk) &&
          (since === undefined || r.updated_at >= since),
      )
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.id === q.marker);
      if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
      rows = rows.slice(at + 1);
    }
    const limit = Math.min(q.limit ?? deps.config.api.max_limit, deps.config.api.max_limit);
    return { rows: rows.slice(0, limit), limit: q.limit === undefined ? undefined : limit };
  }

  const listHandler = (view: typeof brief, path: string) =>
    route(async (req, res) => {
      const { rows, limit } = await page(req, res);
      const images_links = nextLinks(baseUrl(req), path, req.query, rows, limit);
      res.json({
        images: rows.map((r) => view(req, r)),
        ...(images_links ? { images_links } : {}),
      });
    });

  router.get('/', listHandler(brief, '/v2.1/images'));
  router.get('/detail', listHandler(detail, '/v2.1/images/detail'));

  router.get(
    '/:id',
    route(async (req, res) => {
      const record = await findProxiedImage(deps, ctxOf(res), req.params.id);
      res.json({ image: detail(req, record) });
    }),
  );

  // Nova's proxy of Glance's delete: its owner's or an admin's, any status (a snapshot still saving too).
  router.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const record = await findProxiedImage(deps, ctx, req.params.id);
      if (!ctx.isAdmin && record.owner !== ctx.projectId) throw forbidden('Image not deletable.');
      await imagesFor(deps, ctx)
        .delete(record.id)
        .catch((err: unknown) => {
          if (err instanceof ImageForbiddenError) throw forbidden(err.message);
          if (err instanceof NotFoundError) throw itemNotFound('Image not found.');
          throw err;
        });
      res.status(204).end();
    }),
  );

  return router;
}
