/**
 * The embedded image API: a Glance v2 subset under /image over the store
 * in `deps.images`, enough for `openstack image create/list/show/set/
 * delete`, for Nova-style image lookups, and for compute hosts that fetch
 * image data (reference/nova-wire.md §5). Version discovery answers
 * without a token; everything else is authenticated. Image data streams
 * between the socket and the store; only small JSON bodies are parsed.
 */
import { jsonBody } from '../json-body';
import { refuseNulInUrl } from '../nul-chars';
import { Router, type Request, type RequestHandler } from 'express';
import { pipeline } from 'node:stream/promises';
import { NotFoundError } from '../../common/errors';
import { toGlanceImage } from '../../driver/image/glance-wire';
import type { ImageRecord } from '../../driver/image/image-service';
import { UUID } from '../../driver/image/image-record';
import { baseUrl, ctxOf, type Credentials } from '../context';
import type { ApiDeps } from '../deps';
import { ApiFault, badRequest, forbidden, itemNotFound, unsupportedMediaType } from '../faults';
import { route } from '../http';
import { glanceErrorHandler } from './glance-errors';
import { imageListing } from './image-listing';
import { canModify, canSee } from './image-policy';
import { createRequest, PATCH_TYPES, patchChanges, patchOps } from './image-request';
import { imageSchema, imagesSchema } from './image-schemas';
import { metadefsRouter } from './metadefs';
import { RegistryImageResolver } from './registry-images';
import { isRegistryRecord } from '../../driver/image/registry/registry-record';

/** Glance's newest API version berth speaks, and the older ones it still answers as. */
const CURRENT_MINOR = 9;

function versionsDoc(req: Request) {
  const href = `${baseUrl(req)}${req.baseUrl}/v2/`;
  const versions = [];
  for (let minor = CURRENT_MINOR; minor >= 0; minor--)
    versions.push({
      id: `v2.${minor}`,
      status: minor === CURRENT_MINOR ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href }],
    });
  return { versions };
}

export function glanceRouter(
  deps: ApiDeps,
  authenticate: RequestHandler,
  registry = new RegistryImageResolver(deps.config.registry, deps.images, deps.log),
): Router {
  const images = deps.images;
  const router = Router();

  // Clients discover versions before they authenticate; Glance answers the root with 300.
  router.get(['/', '/v2', '/v2/'], (req, res) => {
    res.status(300).json(versionsDoc(req));
  });
  router.get('/versions', (req, res) => {
    res.json(versionsDoc(req));
  });

  router.use(authenticate);
  router.use(refuseNulInUrl(() => badRequest('A NUL character is not allowed in a request.')));
  const json = jsonBody(deps.config.api.max_request_body_size, () =>
    badRequest('Malformed JSON in request body.'),
  );

  /** The image `id` names, if the caller may see it; 404 as Glance answers otherwise. */
  async function visible(id: string, who: Credentials): Promise<ImageRecord> {
    const notFound = itemNotFound(`No image found with ID ${id}`);
    if (!UUID.test(id)) throw notFound;
    const record = await images.show(id.toLowerCase()).catch((err: unknown) => {
      throw err instanceof NotFoundError ? notFound : err;
    });
    if (!canSee(record, who)) throw notFound;
    return record;
  }

  async function modifiable(id: string, who: Credentials): Promise<ImageRecord> {
    const record = await visible(id, who);
    if (!canModify(record, who)) throw forbidden(`You are not permitted to modify image ${id}.`);
    return record;
  }

  router.get('/v2/schemas/image', (_req, res) => {
    res.json(imageSchema());
  });
  router.get('/v2/schemas/images', (_req, res) => {
    res.json(imagesSchema());
  });
  router.use(metadefsRouter());

  router.get(
    '/v2/images',
    route(async (req, res) => {
      res.json(imageListing(await images.list(), req.query, ctxOf(res)));
    }),
  );

  router.post(
    '/v2/images',
    json,
    route(async (req, res) => {
      const record = await images.create(createRequest(req.body, ctxOf(res)));
      res
        .status(201)
        .location(`${baseUrl(req)}${req.baseUrl}/v2/images/${record.id}`)
        .json(toGlanceImage(record));
      // As Glance's create answers at once: the image is queued until its manifest is resolved.
      registry.maybeStart(record);
    }),
  );

  router.get(
    '/v2/images/:id',
    route(async (req, res) => {
      res.json(toGlanceImage(await visible(req.params.id, ctxOf(res))));
    }),
  );

  router.patch(
    '/v2/images/:id',
    (req, _res, next) => {
      if (req.is(Object.keys(PATCH_TYPES))) return next();
      const fault = new ApiFault(415, 'badMediaType', 'Unsupported Content-Type', {
        'Accept-Patch': Object.keys(PATCH_TYPES).sort().join(', '),
      });
      next(fault);
    },
    json,
    route(async (req, res) => {
      const who = ctxOf(res);
      const record = await modifiable(req.params.id, who);
      const draft = PATCH_TYPES[(req.get('content-type') ?? '').split(';')[0].trim().toLowerCase()];
      const changes = patchChanges(record, patchOps(req.body, draft), draft, who);
      res.json(toGlanceImage(await images.update(record.id, changes)));
    }),
  );

  router.delete(
    '/v2/images/:id',
    route(async (req, res) => {
      const record = await modifiable(req.params.id, ctxOf(res));
      await images.delete(record.id);
      res.status(204).end();
    }),
  );

  router.put(
    '/v2/images/:id/tags/:tag',
    route(async (req, res) => {
      const record = await modifiable(req.params.id, ctxOf(res));
      if (req.params.tag.length > 255)
        throw badRequest('Tag is too long (255 characters at most).');
      await images.update(record.id, { tags: [...record.tags, req.params.tag] });
      res.status(204).end();
    }),
  );

  router.delete(
    '/v2/images/:id/tags/:tag',
    route(async (req, res) => {
      const record = await modifiable(req.params.id, ctxOf(res));
      if (!record.tags.includes(req.params.tag))
        throw itemNotFound(`Tag ${req.params.tag} not found`);
      await images.update(record.id, { tags: record.tags.filter((t) => t !== req.params.tag) });
      res.status(204).end();
    }),
  );

  router.put(
    '/v2/images/:id/file',
    route(async (req, res) => {
      // The data streams on to the store: an early refusal must not wait for the rest of it.
      res.setHeader('Connection', 'close');
      if (!req.is('application/octet-stream'))
        throw unsupportedMediaType(
          `Invalid content type ${req.get('content-type') ?? '(none)'}; expected application/octet-stream`,
        );
      const record = await modifiable(req.params.id, ctxOf(res));
      // A registry image's layers come from its registry. `openstack image
      // create` without --file still uploads its stdin when that is not a
      // terminal: empty, that is no data, and the resolver makes it active.
      if (isRegistryRecord(record)) {
        for await (const chunk of req)
          if ((chunk as Buffer).length)
            throw badRequest(
              `Image ${record.id} is a registry image (docker_image_ref): it takes no data`,
            );
        res.removeHeader('Connection');
        return res.status(204).end();
      }
      await images.upload(record.id, req);
      res.removeHeader('Connection');
      res.status(204).end();
    }),
  );

  router.get(
    '/v2/images/:id/file',
    route(async (req, res) => {
      const who = ctxOf(res);
      const record = await visible(req.params.id, who);
      if (record.status === 'deactivated' && !who.isAdmin)
        throw forbidden(
          'The requested image has been deactivated. Image data download is forbidden.',
        );
      const range = requestedRange(req, record.size);
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${record.size ?? 0}`);
        throw new ApiFault(416, 'rangeNotSatisfiable', 'Requested range not satisfiable');
      }
      const data = await images.download(record.id, range);
      if (!data) return res.status(204).end();
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(data.end - data.start + 1));
      if (range) {
        res.status(206).setHeader('Content-Range', `bytes ${data.start}-${data.end}/${data.size}`);
      } else if (record.checksum) res.setHeader('Content-MD5', record.checksum);
      await pipeline(data.stream, res);
    }),
  );

  router.use((_req, _res, next) => next(itemNotFound('The resource could not be found.')));
  router.use(glanceErrorHandler(deps.log));
  return router;
}

/** One `Range: bytes=a-b` (or `a-`, or `-n`) resolved against `size`; anything else is ignored. */
function requestedRange(
  req: Request,
  size: number | null,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = req.get('range');
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (!m[1] && !m[2]) || size === null) return undefined;
  let start: number;
  let end: number;
  if (!m[1]) {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  }
  if (start > end || start >= size) return 'unsatisfiable';
  return { start, end };
}
