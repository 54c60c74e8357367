/**
 * /v2.1/os-services (admin only): the services that heartbeat into the
 * services table, their liveness, and the operator's switches on compute
 * services — disabled (the scheduler skips the host) and forced_down.
 * Before 2.53 a service is named by host and binary in the body of
 * PUT /os-services/<action>; from 2.53 by its uuid in the path.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { ctxOf, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import type { ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import { now, route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireAdmin } from '../policy';
import {
  integerId,
  novaBoolean,
  refuseUnknownFrom275,
  UUID_LIKE,
  validate,
  validateQuery,
} from '../validate';
import { API_SERVICE_BINARIES, serviceView } from '../views/services';

const reason = Joi.string().min(1).max(255);
const hostBinary = {
  host: Joi.string()
    .min(1)
    .max(255)
    .pattern(/^[a-zA-Z0-9-._]*$/, 'a host name')
    .required(),
  binary: Joi.string().min(1).max(255).required(),
  disabled_reason: reason,
};
const actionSchema = (v: Microversion) => {
  const keys: Record<string, Joi.Schema> = { ...hostBinary };
  if (v.ge('2.11')) keys.forced_down = novaBoolean;
  return Joi.object(keys).required();
};
const updateSchema253 = Joi.object({
  status: Joi.string().valid('enabled', 'disabled'),
  disabled_reason: reason,
  forced_down: novaBoolean,
}).required();

const listQuery = Joi.object({ host: Joi.string(), binary: Joi.string() });

interface ActionBody {
  host: string;
  binary: string;
  disabled_reason?: string;
  forced_down?: boolean;
}

interface Update253 {
  status?: 'enabled' | 'disabled';
  disabled_reason?: string;
  forced_down?: boolean;
}

const onlyCompute = (binary: string) =>
  badRequest(
    `Updating a ${binary} service is not supported. Only nova-compute services can be updated.`,
  );

async function updateByHostBinary(
  db: Database,
  host: string,
  binary: string,
  values: Partial<ServiceRow>,
): Promise<void> {
  if (binary !== 'nova-compute') throw onlyCompute(binary);
  const n = await db('services')
    .where({ host, binary })
    .update({ ...values, updated_at: now() });
  if (!n) throw itemNotFound(`Could not find binary ${binary} on host ${host}.`);
}

/** PUT /os-services/{enable,disable,disable-log-reason,force-down} before 2.53. */
async function legacyAction(db: Database, ctx: ApiContext, action: string, raw: unknown) {
  const actions = ['enable', 'disable', 'disable-log-reason'];
  if (ctx.version.ge('2.11')) actions.push('force-down');
  if (!actions.includes(action)) throw itemNotFound('Unknown action');
  const body = validate<ActionBody>(actionSchema(ctx.version), raw);
  const { host, binary } = body;
  switch (action) {
    case 'enable':
      await updateByHostBinary(db, host, binary, { disabled: false, disabled_reason: null });
      return { service: { host, binary, status: 'enabled' } };
    case 'disable':
      await updateByHostBinary(db, host, binary, { disabled: true, disabled_reason: null });
      return { service: { host, binary, status: 'disabled' } };
    case 'disable-log-reason': {
      const why = body.disabled_reason;
      if (why === undefined) throw badRequest('Missing disabled reason field');
      await updateByHostBinary(db, host, binary, { disabled: true, disabled_reason: why });
      return { service: { host, binary, status: 'disabled', disabled_reason: why } };
    }
    default: {
      if (body.forced_down === undefined) throw badRequest('Missing forced_down field');
      await updateByHostBinary(db, host, binary, { forced_down: body.forced_down });
      return { service: { host, binary, forced_down: body.forced_down } };
    }
  }
}

/** PUT /os-services/{uuid} from 2.53: status and forced_down in one body. */
async function updateByUuid(db: Database, uuid: string, raw: unknown): Promise<ServiceRow> {
  if (!UUID_LIKE.test(uuid)) throw badRequest(`Invalid uuid ${uuid}`);
  const body = validate<Update253>(updateSchema253, raw);
  const service = await db<ServiceRow>('services').where({ uuid }).first();
  if (!service) throw itemNotFound(`Service ${uuid} could not be found.`);
  if (service.binary !== 'nova-compute') throw onlyCompute(service.binary);
  const values: Partial<ServiceRow> = {};
  if (body.status === 'enabled') {
    if (body.disabled_reason)
      throw badRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
    Object.assign(values, { disabled: false, disabled_reason: null });
  } else if (body.status === 'disabled') {
    Object.assign(values, { disabled: true, disabled_reason: body.disabled_reason ?? null });
  }
  if (body.forced_down !== undefined) values.forced_down = body.forced_down;
  if (Object.keys(values).length === 0)
    throw badRequest(
      "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
    );
  const t = now();
  await db('services')
    .where({ id: service.id })
    .update({ ...values, updated_at: t });
  return { ...service, ...values, updated_at: t };
}

/**
 * Removes a service. A compute service still hosting instances is
 * refused, as its resources would go unaccounted; its compute node goes
 * with it.
 */
async function deleteService(db: Database, v: Microversion, id: string): Promise<void> {
  if (v.ge('2.53') && !UUID_LIKE.test(id)) throw badRequest(`Invalid uuid ${id}`);
  if (v.lt('2.53') && !/^[0-9]+$/.test(id))
    throw badRequest('Invalid input received: id must be an integer.');
  // Past the id column's range there is no service, and PostgreSQL would refuse the query.
  const intId = integerId(id);
  if (v.lt('2.53') && intId === undefined) throw itemNotFound(`Service ${id} not found.`);
  const where = v.ge('2.53') ? { uuid: id } : { id: intId };
  await db.transaction(async (trx) => {
    const service = await trx<ServiceRow>('services').where(where).first();
    if (!service) throw itemNotFound(`Service ${id} not found.`);
    if (service.binary === 'nova-compute') {
      const hosted = await trx('instances')
        .where({ host: service.host, deleted: false })
        .count({ n: '*' })
        .first();
      if (Number(hosted?.n ?? 0) > 0)
        throw conflictingRequest(
          'Unable to delete compute service that is hosting instances. Migrate or delete the instances first.',
        );
      await trx('compute_nodes').where({ host: service.host }).delete();
    }
    await trx('services').where({ id: service.id }).delete();
  });
}

export function servicesRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  const viewOptions = (v: Microversion) => ({
    v,
    serviceDownTime: config.DEFAULT.service_down_time,
    defaultZone: config.DEFAULT.default_availability_zone,
  });

  router.get(
    '/',
    route(async (req: Request, res: Response) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      requireAdmin(ctx, ADMIN_RULES.servicesList);
      const schema = refuseUnknownFrom275(listQuery, v);
      const q = validateQuery<{ host?: string; binary?: string }>(schema, req.query);
      const rows: ServiceRow[] = await db<ServiceRow>('services')
        .whereNotIn('binary', API_SERVICE_BINARIES)
        .modify((b) => {
          if (q.host) b.where({ host: q.host });
          if (q.binary) b.where({ binary: q.binary });
        })
        .orderBy('id');
      res.json({ services: rows.map((s) => serviceView(s, viewOptions(v))) });
    }),
  );

  router.put(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.servicesUpdate);
      if (ctx.version.lt('2.53')) {
        res.json(await legacyAction(db, ctx, req.params.id, req.body));
        return;
      }
      const service = await updateByUuid(db, req.params.id, req.body);
      res.json({ service: serviceView(service, { ...viewOptions(ctx.version) }) });
    }),
  );

  router.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, ADMIN_RULES.servicesDelete);
      await deleteService(db, ctx.version, req.params.id);
      res.status(204).end();
    }),
  );
  return router;
}
