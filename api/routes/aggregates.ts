/**
 * /v2.1/os-aggregates (admin only), as Nova's aggregates.py: host
 * aggregates with their hosts and metadata, an `availability_zone` among
 * it putting the hosts in that zone (os-availability-zone, scheduling and
 * the server's zone follow; see db/aggregates.ts). Clients ask for the
 * list unconditionally: `openstack hypervisor show` prints the host's.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import Joi from 'joi';
import type { Knex } from 'knex';
import { type ApiContext, ctxOf } from '../context';
import {
  type Aggregate,
  getAggregate,
  listAggregates,
  setAggregateMetadata,
  ZONE_KEY,
} from '../db/aggregates';
import type { Database } from '../db/connection';
import { computeServices } from '../db/services';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { now, route } from '../http';
import { isUniqueViolation } from '../network/store';
import { requireAdmin } from '../policy';
import { validate } from '../validate';
import { INTERNAL_ZONE, novaDateTime } from '../views/services';

const rule = (action: string) => `os_compute_api:os-aggregates:${action}`;

/** Nova's parameter_types.name and az: 1 to 255 characters, not only blanks at either end. */
const NAME = Joi.string()
  .min(1)
  .max(255)
  .pattern(/^\S(.*\S)?$/s);
const ZONE = NAME.allow(null);

const createSchema = Joi.object({
  aggregate: Joi.object({ name: NAME.required(), availability_zone: ZONE }).required(),
});
const updateSchema = Joi.object({
  aggregate: Joi.object({ name: NAME, availability_zone: ZONE }).min(1).required(),
});
const hostSchema = Joi.object({ host: Joi.string().min(1).max(255).required() });
const metadataSchema = Joi.object({
  metadata: Joi.object()
    .pattern(Joi.string().min(1).max(255), Joi.string().max(255).allow(null))
    .min(1)
    .required(),
});

function view(a: Aggregate, ctx: ApiContext, full = true) {
  return {
    availability_zone: a.metadata[ZONE_KEY] ?? null,
    created_at: novaDateTime(a.created_at),
    deleted: false,
    deleted_at: null,
    id: a.id,
    name: a.name,
    updated_at: novaDateTime(a.updated_at),
    ...(full ? { hosts: a.hosts, metadata: a.metadata } : {}),
    ...(ctx.version.ge('2.41') ? { uuid: a.uuid } : {}),
  };
}

/** Nova's id: an integer (an aggregate's uuid is shown, not looked up by); a huge one is none. */
async function findAggregate(q: Knex, raw: string): Promise<Aggregate> {
  if (!/^-?[0-9]+$/.test(raw)) throw badRequest(`Invalid input received: id must be an integer`);
  const a = /^[0-9]{1,9}$/.test(raw) ? await getAggregate(q, Number(raw)) : undefined;
  if (!a) throw itemNotFound(`Aggregate ${raw} could not be found.`);
  return a;
}

/** Nova's checks of a zone name: not the services' internal zone. */
function checkZone(zone: string | null | undefined): void {
  if (zone === INTERNAL_ZONE)
    throw badRequest(
      `Cannot update aggregate. Reason: The availability zone ${INTERNAL_ZONE} is reserved for internal services.`,
    );
}

/** A host may be in one zone: joining an aggregate of another zone is refused. */
async function checkHostZones(q: Knex, agg: Aggregate, hosts: string[], zone: string | undefined) {
  if (zone === undefined) return;
  const others = (await listAggregates(q)).filter((o) => o.id !== agg.id);
  const clash = new Set<string>();
  for (const o of others) {
    const theirs = o.metadata[ZONE_KEY];
    if (theirs !== undefined && theirs !== zone && o.hosts.some((h) => hosts.includes(h)))
      clash.add(theirs);
  }
  if (clash.size)
    throw conflictingRequest(
      `Cannot add host to aggregate ${agg.id}. Reason: One or more hosts already in availability zone(s) [${[...clash].map((z) => `'${z}'`).join(', ')}].`,
    );
}

async function inTransaction<T>(
  db: Database,
  name: string | undefined,
  fn: (q: Knex) => Promise<T>,
) {
  try {
    return await db.transaction(fn);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflictingRequest(`Aggregate ${name} already exists.`);
    throw err;
  }
}

async function nameTaken(q: Knex, name: string, except?: number): Promise<void> {
  const row = await q('aggregates')
    .where({ name })
    .modify((b) => (except === undefined ? b : b.whereNot({ id: except })))
    .first();
  if (row) throw conflictingRequest(`Aggregate ${name} already exists.`);
}

type Action = (q: Knex, agg: Aggregate, body: unknown) => Promise<void>;

const ACTIONS: Record<string, Action> = {
  async add_host(q, agg, body) {
    const { host } = validate<{ host: string }>(hostSchema, body, 'add_host');
    if (!(await computeServices(q)).some((s) => s.host === host))
      throw itemNotFound(`Compute host ${host} could not be found.`);
    if (agg.hosts.includes(host))
      throw conflictingRequest(`Aggregate ${agg.id} already has host ${host}.`);
    await checkHostZones(q, agg, [host], agg.metadata[ZONE_KEY]);
    await q('aggregate_hosts').insert({ aggregate_id: agg.id, host });
  },
  async remove_host(q, agg, body) {
    const { host } = validate<{ host: string }>(hostSchema, body, 'remove_host');
    if (!agg.hosts.includes(host)) throw itemNotFound(`Aggregate ${agg.id} has no host ${host}.`);
    await q('aggregate_hosts').where({ aggregate_id: agg.id, host }).delete();
  },
  async set_metadata(q, agg, body) {
    const { metadata } = validate<{ metadata: Record<string, string | null> }>(
      metadataSchema,
      body,
      'set_metadata',
    );
    if (Object.hasOwn(metadata, ZONE_KEY)) {
      checkZone(metadata[ZONE_KEY]);
      await checkHostZones(q, agg, agg.hosts, metadata[ZONE_KEY] ?? undefined);
    }
    await setAggregateMetadata(q, agg.id, metadata, now());
  },
};

export function aggregatesRouter(db: Database): Router {
  const router = Router();
  router.get(
    '/',
    route(async (_req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, rule('index'));
      res.json({ aggregates: (await listAggregates(db)).map((a) => view(a, ctx)) });
    }),
  );
  router.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, rule('create'));
      const { aggregate: b } = validate<{
        aggregate: { name: string; availability_zone?: string | null };
      }>(createSchema, req.body);
      checkZone(b.availability_zone);
      const created = await inTransaction(db, b.name, async (q) => {
        await nameTaken(q, b.name);
        const t = now();
        await q('aggregates').insert({ uuid: randomUUID(), name: b.name, created_at: t });
        const row = await q('aggregates').where({ name: b.name }).first();
        if (b.availability_zone)
          await setAggregateMetadata(q, row.id, { [ZONE_KEY]: b.availability_zone }, t);
        await q('aggregates').where({ id: row.id }).update({ updated_at: null });
        return (await getAggregate(q, row.id))!;
      });
      // Nova answers a create without hosts and metadata, as its API always has.
      res.json({ aggregate: view(created, ctx, false) });
    }),
  );
  router.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, rule('show'));
      res.json({ aggregate: view(await findAggregate(db, req.params.id), ctx) });
    }),
  );
  router.put(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, rule('update'));
      const { aggregate: b } = validate<{
        aggregate: { name?: string; availability_zone?: string | null };
      }>(updateSchema, req.body);
      checkZone(b.availability_zone);
      const updated = await inTransaction(db, b.name, async (q) => {
        const agg = await findAggregate(q, req.params.id);
        const t = now();
        if (b.name !== undefined) {
          await nameTaken(q, b.name, agg.id);
          await q('aggregates').where({ id: agg.id }).update({ name: b.name, updated_at: t });
        }
        if (b.availability_zone !== undefined) {
          await checkHostZones(q, agg, agg.hosts, b.availability_zone ?? undefined);
          await setAggregateMetadata(q, agg.id, { [ZONE_KEY]: b.availability_zone }, t);
        }
        return (await getAggregate(q, agg.id))!;
      });
      res.json({ aggregate: view(updated, ctx) });
    }),
  );
  router.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, rule('delete'));
      await db.transaction(async (q) => {
        const agg = await findAggregate(q, req.params.id);
        if (agg.hosts.length)
          throw badRequest(
            `Cannot perform action 'delete' on aggregate ${agg.id}. Reason: Host aggregate is not empty.`,
          );
        await q('aggregate_metadata').where({ aggregate_id: agg.id }).delete();
        await q('aggregates').where({ id: agg.id }).delete();
      });
      res.status(200).end();
    }),
  );
  router.post(
    '/:id/action',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = req.body as Record<string, unknown> | undefined;
      const keys =
        body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
      const key = keys.length === 1 && Object.hasOwn(ACTIONS, keys[0]) ? keys[0] : undefined;
      requireAdmin(ctx, rule(key ?? 'index'));
      if (!key)
        throw badRequest(`Invalid input for the aggregate action: ${keys.join(', ') || 'none'}`);
      const updated = await db.transaction(async (q) => {
        const agg = await findAggregate(q, req.params.id);
        await ACTIONS[key](q, agg, body![key]);
        return (await getAggregate(q, agg.id))!;
      });
      res.json({ aggregate: view(updated, ctx) });
    }),
  );
  return router;
}
