/**
 * /servers/{id}/tags (2.26): list, replace and clear a server's tags, and
 * check, add and remove one. Changes need the server settled (active,
 * paused, suspended or stopped), as in Nova; a server has at most 50 tags.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf } from '../context';
import type { Database } from '../db/connection';
import { getInstance, type Instance } from '../db/instances';
import { changeTags, MAX_TAGS, TAG } from '../db/instance-tags';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { route } from '../http';
import { requireOwnerOrAdmin } from '../policy';
import { validate } from '../validate';

const tagSchema = Joi.string().pattern(TAG, 'at most 60 characters, no "/" or ","');
const replaceSchema = Joi.object({
  tags: Joi.array().items(tagSchema).max(MAX_TAGS).required(),
}).required();

const SETTLED = ['active', 'paused', 'suspended', 'stopped'];

const rule = (action: string) => `os_compute_api:os-server-tags:${action}`;

/**
 * The server, for `action`'s policy: Nova finds it in any project, so
 * another project's server is a 403 here rather than a 404.
 */
async function serverFor(db: Database, req: Request, res: Response, action: string) {
  const ctx = ctxOf(res);
  // The tags API is 2.26's: before, these paths are no resource.
  if (ctx.version.lt('2.26')) throw itemNotFound('The resource could not be found.');
  const id = (req.params as { id: string }).id;
  const inst = await getInstance(db, id);
  if (!inst) throw itemNotFound(`Instance ${id} could not be found.`);
  requireOwnerOrAdmin(ctx, inst.project_id, rule(action));
  return inst;
}

function requireSettled(inst: Instance, what: string) {
  if (!SETTLED.includes(inst.vm_state))
    throw conflictingRequest(
      `Cannot '${what}' instance ${inst.uuid} while it is in vm_state ${inst.vm_state}`,
    );
}

export function serverTagsRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const r = Router({ mergeParams: true });

  r.get(
    '/',
    route(async (req, res) => {
      const inst = await serverFor(db, req, res, 'index');
      res.json({ tags: inst.tags });
    }),
  );

  r.put(
    '/',
    route(async (req, res) => {
      const { tags } = validate<{ tags: string[] }>(replaceSchema, req.body);
      const inst = await serverFor(db, req, res, 'update_all');
      requireSettled(inst, 'update tags');
      // Nova keeps each tag once, in the order first given.
      const unique = [...new Set(tags)];
      res.json({ tags: await changeTags(db, inst.uuid, () => unique) });
    }),
  );

  r.delete(
    '/',
    route(async (req, res) => {
      const inst = await serverFor(db, req, res, 'delete_all');
      requireSettled(inst, 'delete tags');
      await changeTags(db, inst.uuid, () => []);
      res.status(204).end();
    }),
  );

  r.get(
    '/:tag',
    route(async (req, res) => {
      const inst = await serverFor(db, req, res, 'show');
      if (!inst.tags.includes(req.params.tag))
        throw itemNotFound(`Server ${inst.uuid} has no tag '${req.params.tag}'`);
      res.status(204).end();
    }),
  );

  r.put(
    '/:tag',
    route(async (req, res) => {
      // The body of this PUT is none (Nova's schema is {"type": "null"}).
      if (req.body !== undefined && req.body !== null)
        throw badRequest(
          `Invalid input for field/attribute body. Value: ${JSON.stringify(req.body)}. body must be null`,
        );
      const inst = await serverFor(db, req, res, 'update');
      requireSettled(inst, 'update tag');
      const tag = req.params.tag;
      if (!TAG.test(tag))
        throw badRequest(
          `Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','.`,
        );
      let added = false;
      await changeTags(db, inst.uuid, (tags) => {
        // Nova counts before it looks: a full server refuses even a tag it has.
        if (tags.length >= MAX_TAGS)
          throw badRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);
        added = !tags.includes(tag);
        return added ? [...tags, tag] : tags;
      });
      if (!added) return res.status(204).end();
      res.setHeader(
        'Location',
        `${baseUrl(req)}/v2.1/servers/${inst.uuid}/tags/${encodeURIComponent(tag)}`,
      );
      res.status(201).end();
    }),
  );

  r.delete(
    '/:tag',
    route(async (req, res) => {
      const inst = await serverFor(db, req, res, 'delete');
      requireSettled(inst, 'delete tag');
      const tag = req.params.tag;
      await changeTags(db, inst.uuid, (tags) => {
        if (!tags.includes(tag)) throw itemNotFound(`Instance ${inst.uuid} has no tag '${tag}'`);
        return tags.filter((t) => t !== tag);
      });
      res.status(204).end();
    }),
  );
  return r;
}
