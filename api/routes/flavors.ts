/**
 * /v2.1/flavors: list, detail, show; create, description update and
 * delete for admins; and the os-extra_specs sub-resource (reads for
 * everyone, writes for admins). Private flavors are for admins and the
 * projects on their access lists (routes/flavor-access.ts).
 */
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { accessibleFlavorIds, dropFlavorAccess } from '../db/flavor-access';
import {
  canSeeFlavor,
  ensureDefaultFlavors,
  extraSpecsOf,
  findFlavor,
  flavorNotFound,
  type FlavorRow,
} from '../db/flavors';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { nextLinks, now, route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin } from '../policy';
import {
  integerLike,
  METADATA_KEY,
  novaBoolean,
  novaName,
  QUERY_FALSE,
  QUERY_TRUE,
  refuseUnknownFrom275,
  validate,
  validateQuery,
} from '../validate';
import { flavorBrief, flavorDetail } from '../views/flavors';

const SQL_SP_FLOAT_MAX = 3.40282e38;

const rxtxFactor = Joi.any()
  .custom((value: unknown, helpers) => {
    const n =
      typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value)
        ? Number(value)
        : typeof value === 'number'
          ? value
          : NaN;
    if (!(n > 0 && n <= SQL_SP_FLOAT_MAX)) return helpers.error('any.invalid');
    return n;
  })
  .messages({ 'any.invalid': '{#label} must be a number greater than 0' });

const description = Joi.string()
  .max(65535)
  .allow('', null)
  .pattern(/^[^\p{C}\p{Zl}\p{Zp}]*$/u, 'printable characters');

const flavorId = Joi.alternatives(
  Joi.string()
    .min(1)
    .max(255)
    .pattern(/^(?! )[a-zA-Z0-9. _-]+(?<! )$/, 'letters, digits, ".", "_", "-" and inner spaces'),
  Joi.number(),
  Joi.valid(null),
);

function createSchema(v: Microversion) {
  const flavor: Record<string, Joi.Schema> = {
    name: novaName.required(),
    id: flavorId,
    ram: integerLike(1).required(),
    vcpus: integerLike(1).required(),
    disk: integerLike(0).required(),
    'OS-FLV-EXT-DATA:ephemeral': integerLike(0),
    swap: integerLike(0),
    rxtx_factor: rxtxFactor,
    'os-flavor-access:is_public': novaBoolean,
  };
  if (v.ge('2.55')) flavor.description = description;
  return Joi.object({ flavor: Joi.object(flavor).required() }).required();
}

interface CreateBody {
  flavor: {
    name: string;
    id?: string | number | null;
    ram: number;
    vcpus: number;
    disk: number;
    'OS-FLV-EXT-DATA:ephemeral'?: number;
    swap?: number;
    rxtx_factor?: number;
    'os-flavor-access:is_public'?: boolean;
    description?: string | null;
  };
}

const updateSchema = Joi.object({
  flavor: Joi.object({ description: description.required() }).required(),
}).required();

const specValue = Joi.alternatives(Joi.string().max(255), Joi.number());
const extraSpecsSchema = Joi.object().pattern(METADATA_KEY, specValue);
const createSpecsSchema = Joi.object({ extra_specs: extraSpecsSchema.required() }).required();
const updateSpecSchema = extraSpecsSchema.min(1).max(1).required();

const SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
];

const listQuery = Joi.object({
  limit: Joi.number().integer().min(0),
  marker: Joi.string(),
  is_public: Joi.string(),
  minRam: Joi.string(),
  minDisk: Joi.string(),
  sort_key: Joi.string().valid(...SORT_KEYS),
  sort_dir: Joi.string().valid('asc', 'desc'),
});

interface ListQuery {
  limit?: number;
  marker?: string;
  is_public?: string;
  minRam?: string;
  minDisk?: string;
  sort_key?: string;
  sort_dir?: 'asc' | 'desc';
}

/** oslo's bool_from_string(strict=True), with "none" meaning both (Nova's is_public filter). */
function parseIsPublic(text: string | undefined): boolean | null {
  if (text === undefined) return true;
  const t = text.trim().toLowerCase();
  if (t === 'none') return null;
  if (QUERY_TRUE.includes(t)) return true;
  if (QUERY_FALSE.includes(t)) return false;
  throw badRequest(`Invalid is_public filter [${text}]`);
}

function parseMin(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\s*[-+]?\d{1,15}\s*$/.test(text)) throw badRequest(`Invalid ${name} filter [${text}]`);
  return Number(text);
}

/**
 * The flavors a list returns: visible to the caller, sorted, after the
 * marker, filtered. The marker is placed by the full sort before the
 * filters apply, as Nova's keyset pagination would place it.
 */
async function listFlavors(
  db: Database,
  ctx: ApiContext,
  q: ListQuery,
  maxLimit: number,
): Promise<{ page: FlavorRow[]; limit: number }> {
  const isPublic = ctx.isAdmin ? parseIsPublic(q.is_public) : true;
  const minRam = parseMin('minRam', q.minRam);
  const minDisk = parseMin('minDisk', q.minDisk);
  const key = !q.sort_key || q.sort_key === 'vcpu_weight' ? 'flavorid' : q.sort_key;
  const dir = q.sort_dir ?? 'asc';
  const access = await accessibleFlavorIds(db, ctx.projectId);
  let rows = (await db<FlavorRow>('flavors').orderBy(key, dir).orderBy('id', dir)).filter((f) =>
    canSeeFlavor(f, ctx, access),
  );
  if (q.marker !== undefined) {
    const at = rows.findIndex((f) => f.flavorid === q.marker);
    if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
    rows = rows.slice(at + 1);
  }
  rows = rows.filter(
    (f) =>
      // As Nova's is_public filter: "public" takes in the private flavors the project may use.
      (isPublic === null || (isPublic ? Boolean(f.is_public) || access.has(f.id) : !f.is_public)) &&
      (ctx.isAdmin || !f.disabled) &&
      (minRam === undefined || f.memory_mb >= minRam) &&
      (minDisk === undefined || f.root_gb >= minDisk),
  );
  const limit = Math.min(q.limit || maxLimit, maxLimit);
  return { page: rows.slice(0, limit), limit };
}

async function flavorExists(db: Database, column: 'name' | 'flavorid', value: string) {
  return Boolean(await db('flavors').where(column, value).first());
}

async function createFlavor(db: Database, f: CreateBody['flavor']): Promise<FlavorRow> {
  const flavorid = f.id === undefined || f.id === null ? randomUUID() : String(f.id);
  const name = f.name.trim();
  if (await flavorExists(db, 'name', name))
    throw conflictingRequest(`Flavor with name ${name} already exists.`);
  if (await flavorExists(db, 'flavorid', flavorid))
    throw conflictingRequest(`Flavor with ID ${flavorid} already exists.`);
  const t = now();
  try {
    await db('flavors').insert({
      flavorid,
      name,
      memory_mb: f.ram,
      vcpus: f.vcpus,
      root_gb: f.disk,
      ephemeral_gb: f['OS-FLV-EXT-DATA:ephemeral'] ?? 0,
      swap: f.swap ?? 0,
      rxtx_factor: f.rxtx_factor ?? 1.0,
      is_public: f['os-flavor-access:is_public'] ?? true,
      description: f.description ?? null,
      extra_specs: '{}',
      created_at: t,
      updated_at: null,
    });
  } catch (err) {
    // A concurrent create won the race between the checks above and the insert.
    if (/unique|duplicate/i.test(String((err as Error).message)))
      throw conflictingRequest(`Flavor with ID ${flavorid} already exists.`);
    throw err;
  }
  return (await db<FlavorRow>('flavors').where({ flavorid }).first())!;
}

async function saveExtraSpecs(db: Database, f: FlavorRow, specs: Record<string, string>) {
  await db('flavors')
    .where({ id: f.id })
    .update({ extra_specs: JSON.stringify(specs), updated_at: now() });
}

/** Nova stores every extra spec value as a string; numbers are accepted and converted. */
function specStrings(body: Record<string, string | number>): Record<string, string> {
  // fromEntries defines keys, so that a spec named `__proto__` is kept rather than ignored.
  return Object.fromEntries(
    Object.entries(body).map(([k, value]) => {
      const s = String(value);
      if (s.length > 255) throw badRequest('extra_specs value has more than 255 characters.');
      return [k, s];
    }),
  );
}

export function flavorsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  // A fresh install lists the default flavors without anyone having to run a seeding step.
  router.use((_req, _res, next) => {
    ensureDefaultFlavors(db).then(() => next(), next);
  });

  const list = (detail: boolean) =>
    route(async (req: Request, res: Response) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const q = validateQuery<ListQuery>(refuseUnknownFrom275(listQuery, v), req.query);
      const { page, limit } = await listFlavors(db, ctx, q, config.api.max_limit);
      const base = baseUrl(req);
      const view = detail ? flavorDetail : flavorBrief;
      const body: Record<string, unknown> = { flavors: page.map((f) => view(f, base, v)) };
      const links = nextLinks(
        base,
        `/v2.1/flavors${detail ? '/detail' : ''}`,
        req.query as Record<string, unknown>,
        page.map((f) => ({ id: f.flavorid })),
        limit,
      );
      if (links) body.flavors_links = links;
      res.json(body);
    });

  router.get('/', list(false));
  router.get('/detail', list(true));

  router.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const f = await findFlavor(db, req.params.id, { ctx });
      res.json({ flavor: flavorDetail(f, baseUrl(req), ctx.version) });
    }),
  );

  router.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.flavorCreate);
      const body = validate<CreateBody>(createSchema(ctx.version), req.body);
      const f = await createFlavor(db, body.flavor);
      res.json({ flavor: flavorDetail(f, baseUrl(req), ctx.version) });
    }),
  );

  router.put(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      if (ctx.version.lt('2.55')) throw itemNotFound('The resource could not be found.');
      requireAdmin(ctx, ADMIN_RULES.flavorUpdate);
      const body = validate<{ flavor: { description: string | null } }>(updateSchema, req.body);
      const f = await findFlavor(db, req.params.id);
      await db('flavors')
        .where({ id: f.id })
        .update({ description: body.flavor.description, updated_at: now() });
      const updated = { ...f, description: body.flavor.description };
      res.json({ flavor: flavorDetail(updated, baseUrl(req), ctx.version) });
    }),
  );

  router.delete(
    '/:id',
    route(async (req, res) => {
      requireAdmin(ctxOf(res), ADMIN_RULES.flavorDelete);
      const f = await db<FlavorRow>('flavors').where({ flavorid: req.params.id }).first();
      if (!f) throw flavorNotFound(req.params.id);
      await db.transaction(async (tx) => {
        await dropFlavorAccess(tx, f.id);
        await tx('flavors').where({ id: f.id }).delete();
      });
      res.status(202).end();
    }),
  );

  router.get(
    '/:id/os-extra_specs',
    route(async (req, res) => {
      const f = await findFlavor(db, req.params.id, { ctx: ctxOf(res) });
      res.json({ extra_specs: extraSpecsOf(f) });
    }),
  );

  router.post(
    '/:id/os-extra_specs',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.extraSpecsCreate);
      const body = validate<{ extra_specs: Record<string, string | number> }>(
        createSpecsSchema,
        req.body,
      );
      const specs = specStrings(body.extra_specs);
      const f = await findFlavor(db, req.params.id);
      await saveExtraSpecs(db, f, { ...extraSpecsOf(f), ...specs });
      // Nova echoes the request, numbers and all.
      res.json(body);
    }),
  );

  router.get(
    '/:id/os-extra_specs/:key',
    route(async (req, res) => {
      const f = await findFlavor(db, req.params.id, { ctx: ctxOf(res) });
      const specs = extraSpecsOf(f);
      const key = req.params.key;
      if (!Object.prototype.hasOwnProperty.call(specs, key))
        throw itemNotFound(`Flavor ${req.params.id} has no extra specs with key ${key}.`);
      res.json({ [key]: specs[key] });
    }),
  );

  router.put(
    '/:id/os-extra_specs/:key',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.extraSpecsUpdate);
      const body = validate<Record<string, string | number>>(updateSpecSchema, req.body);
      const specs = specStrings(body);
      if (!Object.prototype.hasOwnProperty.call(body, req.params.key))
        throw badRequest('Request body and URI mismatch');
      const f = await findFlavor(db, req.params.id);
      await saveExtraSpecs(db, f, { ...extraSpecsOf(f), ...specs });
      res.json(body);
    }),
  );

  router.delete(
    '/:id/os-extra_specs/:key',
    route(async (req, res) => {
      requireAdmin(ctxOf(res), ADMIN_RULES.extraSpecsDelete);
      const f = await findFlavor(db, req.params.id);
      const specs = extraSpecsOf(f);
      const key = req.params.key;
      if (!Object.prototype.hasOwnProperty.call(specs, key))
        throw itemNotFound(`Flavor ${req.params.id} has no extra specs with key ${key}.`);
      delete specs[key];
      await saveExtraSpecs(db, f, specs);
      // Nova answers this delete with a bare 200.
      res.status(200).end();
    }),
  );
  return router;
}
