/**
 * /v2.1/servers: list, detail, show, create, update, delete; the actions,
 * metadata and instance-action sub-resources mount here too.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import Joi from 'joi';
import { DIAGNOSTICS } from '../../nova/actions';
import { TaskState, VmState } from '../../nova/states';
import { baseUrl, ctxOf, rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { findFlavor, flavorSnapshot } from '../db/flavors';
import { decodeInstance, getInstance, type InstanceRow, type RequestSpec } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import { getKeypair } from '../db/keypairs';
import { checkQuota, checkServerGroupMembers } from '../db/quotas';
import { getGroup } from '../db/server-groups';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest } from '../faults';
import { nextLinks, now, route } from '../http';
import { canSee } from '../image/image-policy';
import { requireAdmin } from '../policy';
import { novaName, validate, validateQuery } from '../validate';
import { serverBrief, serverDetail, serverDetails, statusOf } from '../views/servers';
import { callCompute } from './compute-errors';
import { serverActionsRouter } from './server-actions';
import { instanceActionsRouter } from './instance-actions';
import { serverMetadataRouter, metadataSchema } from './server-metadata';
import { findServer, hostStatusReader } from './server-lookup';
import { isUp, type ServiceRow } from '../db/services';

const networkSchema = Joi.alternatives(
  Joi.string().valid('none', 'auto'),
  Joi.array().items(
    Joi.object({
      uuid: Joi.string().max(255),
      port: Joi.string().max(255).allow(null),
      fixed_ip: Joi.string().max(64),
      tag: Joi.string().max(60),
    }),
  ),
);

const createSchema = Joi.object({
  server: Joi.object({
    name: novaName.required(),
    imageRef: Joi.string().min(1).max(255).required(),
    flavorRef: Joi.alternatives(Joi.string().min(1).max(255), Joi.number().integer()).required(),
    min_count: Joi.number().integer().min(1).max(1000),
    max_count: Joi.number().integer().min(1).max(1000),
    networks: networkSchema,
    metadata: metadataSchema,
    user_data: Joi.string().max(65535).base64({ paddingRequired: false }).allow(null),
    availability_zone: Joi.string().min(1).max(255),
    key_name: Joi.string().min(1).max(255),
    adminPass: Joi.string().max(255),
    security_groups: Joi.array().items(Joi.object({ name: Joi.string().min(1).max(255) })),
    'OS-DCF:diskConfig': Joi.string().valid('AUTO', 'MANUAL'),
    accessIPv4: Joi.string().ip({ version: ['ipv4'], cidr: 'forbidden' }),
    accessIPv6: Joi.string().ip({ version: ['ipv6'], cidr: 'forbidden' }),
    description: Joi.string().max(255).allow('', null),
    tags: Joi.array()
      .items(
        Joi.string()
          .min(1)
          .max(60)
          .pattern(/^[^,/]*$/),
      )
      .max(50),
    config_drive: Joi.alternatives(
      Joi.boolean(),
      Joi.string().valid('', 'true', 'false', 'True', 'False'),
    ),
    return_reservation_id: Joi.boolean(),
    hostname: Joi.string().min(1).max(255).hostname(),
    block_device_mapping_v2: Joi.array().max(0),
    personality: Joi.array().max(0),
  }).required(),
  'os:scheduler_hints': Joi.object({ group: Joi.string().guid() }).unknown(true),
  'OS-SCH-HNT:scheduler_hints': Joi.object({ group: Joi.string().guid() }).unknown(true),
});

const updateSchema = Joi.object({
  server: Joi.object({
    name: novaName,
    description: Joi.string().max(255).allow('', null),
    accessIPv4: Joi.string().ip({ version: ['ipv4'], cidr: 'forbidden' }),
    accessIPv6: Joi.string().ip({ version: ['ipv6'], cidr: 'forbidden' }),
    hostname: Joi.string().min(1).max(255).hostname(),
    'OS-DCF:diskConfig': Joi.string().valid('AUTO', 'MANUAL'),
  })
    .min(1)
    .required(),
});

const SORT_KEYS = [
  'created_at',
  'updated_at',
  'display_name',
  'uuid',
  'vm_state',
  'task_state',
  'power_state',
  'launched_at',
  'host',
  'node',
  'availability_zone',
  'project_id',
  'user_id',
] as const;

const stringOrList = Joi.alternatives(Joi.string(), Joi.array().items(Joi.string()));

const listQuery = Joi.object({
  limit: Joi.number().integer().min(0),
  marker: Joi.string().max(255),
  name: Joi.string().max(255).allow(''),
  status: stringOrList,
  host: Joi.string().max(255),
  'changes-since': Joi.date().iso(),
  all_tenants: Joi.any(),
  project_id: Joi.string().max(255),
  tenant_id: Joi.string().max(255),
  image: Joi.string().max(255),
  flavor: Joi.string().max(255),
  sort_key: Joi.alternatives(
    Joi.string().valid(...SORT_KEYS),
    Joi.array().items(Joi.string().valid(...SORT_KEYS)),
  ),
  sort_dir: Joi.alternatives(
    Joi.string().valid('asc', 'desc'),
    Joi.array().items(Joi.string().valid('asc', 'desc')),
  ),
});

interface ListQuery {
  limit?: number;
  marker?: string;
  name?: string;
  status?: string | string[];
  host?: string;
  'changes-since'?: Date;
  all_tenants?: unknown;
  project_id?: string;
  tenant_id?: string;
  image?: string;
  flavor?: string;
  sort_key?: string | string[];
  sort_dir?: string | string[];
}

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : ([] as T[]).concat(v));

/** Nova reads all_tenants as "present and not false". */
const truthyFlag = (v: unknown) =>
  v !== undefined && !['0', 'false', 'f', 'no', 'off'].includes(String(v).toLowerCase());

async function listInstances(db: Database, ctx: ApiContext, q: ListQuery, maxLimit: number) {
  const allTenants = truthyFlag(q.all_tenants);
  if (allTenants) requireAdmin(ctx, 'os_compute_api:servers:index:get_all_tenants');
  if (q.host !== undefined) requireAdmin(ctx, 'os_compute_api:servers:allow_all_filters');
  let query = db<InstanceRow>('instances');
  if (!allTenants) query = query.where({ project_id: ctx.projectId });
  else if (q.project_id ?? q.tenant_id)
    query = query.where({ project_id: q.project_id ?? q.tenant_id });
  if (q['changes-since']) query = query.where('updated_at', '>=', q['changes-since'].toISOString());
  else query = query.where({ deleted: false });
  if (q.host !== undefined) query = query.where({ host: q.host });
  if (q.image !== undefined) query = query.where({ image_ref: q.image });
  if (q.flavor !== undefined) query = query.where({ flavorid: q.flavor });
  const keys = asList(q.sort_key);
  const dirs = asList(q.sort_dir);
  const order = keys.length ? keys : ['created_at'];
  order.forEach((k, n) => (query = query.orderBy(k, dirs[n] ?? dirs[0] ?? 'desc')));
  query = query.orderBy('id', dirs[0] ?? 'desc');
  const statuses = asList(q.status).map((s) => s.toUpperCase());
  const limit = Math.min(q.limit ?? maxLimit, maxLimit);
  // A name (a regular expression), a status (derived from two columns) or a
  // marker is applied below, over every row; without them the page is all
  // there is to read.
  if (!q.name && !statuses.length && q.marker === undefined) query = query.limit(limit);
  let rows = await query;

  if (q.name) {
    const re = nameFilter(q.name);
    rows = rows.filter((i) => re.test(i.display_name));
  }
  if (statuses.length) rows = rows.filter((i) => statuses.includes(statusOf(i)));
  if (q.marker !== undefined) {
    const at = rows.findIndex((i) => i.uuid === q.marker);
    if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
    rows = rows.slice(at + 1);
  }
  // Decoded once filtered and paged: the JSON columns of rows not shown are not parsed.
  return {
    rows: rows.slice(0, limit).map(decodeInstance),
    limit: q.limit === undefined ? undefined : limit,
  };
}

/**
 * True when a repeated group contains repetition or alternation, e.g.
 * (a+)+, ((a|a))* or (.*a){20}: the shapes whose backtracking grows
 * exponentially and would hold the event loop (JavaScript regular
 * expressions have no time limit).
 */
function hasNestedRepetition(pattern: string): boolean {
  const groups: boolean[] = []; // per open group: does it repeat or alternate inside?
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const mark = () => {
      if (groups.length) groups[groups.length - 1] = true;
    };
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') groups.push(false);
    else if (c === ')') {
      const inner = groups.pop() ?? false;
      const repeated = /^[+*{]|^\?(?![:=!<])/.test(pattern.slice(i + 1));
      if (inner && repeated) return true;
      if (inner || repeated) mark();
    } else if ('+*|{'.includes(c) || (c === '?' && pattern[i - 1] !== '(')) mark();
  }
  return false;
}

/** Nova reads the `name` filter as a regular expression; berth refuses the catastrophic ones. */
function nameFilter(pattern: string): RegExp {
  if (hasNestedRepetition(pattern))
    throw badRequest(
      'Invalid input for query parameters name. Repeated groups that contain repetition or alternation are not supported.',
    );
  try {
    return new RegExp(pattern);
  } catch {
    throw badRequest(`Invalid input for query parameters name. Not a valid regular expression.`);
  }
}

export function serversRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const r = Router();

  const list = (detail: boolean) =>
    route(async (req: Request, res) => {
      const ctx = ctxOf(res);
      const q = validateQuery<ListQuery>(listQuery, req.query);
      const { rows, limit } = await listInstances(db, ctx, q, config.api.max_limit);
      const base = baseUrl(req);
      const hostStatus = ctx.isAdmin
        ? await hostStatusReader(db, config.DEFAULT.service_down_time)
        : undefined;
      const servers = detail
        ? serverDetails(rows, { base, ctx, hostStatus })
        : rows.map((i) => serverBrief(i, base));
      const links = nextLinks(
        base,
        `/v2.1/servers${detail ? '/detail' : ''}`,
        req.query as Record<string, unknown>,
        servers as { id: string }[],
        limit,
      );
      res.json({ servers, ...(links ? { servers_links: links } : {}) });
    });

  r.get('/', list(false));
  r.get('/detail', list(true));

  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = validate<{
        server: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
        'os:scheduler_hints'?: Record<string, unknown>;
        'OS-SCH-HNT:scheduler_hints'?: Record<string, unknown>;
      }>(createSchema, req.body);
      const s = body.server;
      const v = ctx.version;
      if (v.ge('2.37') && s.networks === undefined)
        throw badRequest(
          "Invalid input for field/attribute server. 'networks' is a required property",
        );
      if (v.lt('2.19') && s.description !== undefined)
        throw badRequest(
          'Invalid input for field/attribute description. Additional properties are not allowed',
        );
      if (v.lt('2.52') && s.tags !== undefined)
        throw badRequest(
          'Invalid input for field/attribute tags. Additional properties are not allowed',
        );
      if (v.lt('2.90') && s.hostname !== undefined)
        throw badRequest(
          'Invalid input for field/attribute hostname. Additional properties are not allowed',
        );
      const minCount = s.min_count ?? 1;
      const maxCount = s.max_count ?? minCount;
      if (maxCount < minCount) throw badRequest('min_count must be <= max_count');
      if (s.hostname && maxCount > 1)
        throw badRequest('Unable to set hostname for more than one instance at a time.');

      const flavor = await findFlavor(db, String(s.flavorRef), { ctx, asBadRequest: true });
      if (flavor.disabled) throw badRequest(`Flavor ${flavor.flavorid} could not be found.`);
      const image = await deps.images.show(s.imageRef).catch(() => undefined);
      // Glance does not show another project's private image; Nova then says it was not found.
      if (!image || !canSee(image, ctx))
        throw badRequest(`Image ${s.imageRef} could not be found.`);
      if (image.status !== 'active') throw badRequest(`Image ${image.id} is not active.`);
      const hints = body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {};
      const group =
        typeof hints.group === 'string'
          ? await getGroup(db, hints.group, ctx, { asBadRequest: true })
          : undefined;
      // A key pair is its user's: another user's name is as unknown as a made-up one.
      const keypair =
        s.key_name === undefined ? undefined : await getKeypair(db, ctx.userId, s.key_name);
      if (s.key_name !== undefined && !keypair) throw badRequest('Invalid key_name provided.');
      const zone: string | undefined = s.availability_zone;
      if (zone !== undefined) {
        const known = await db('services')
          .where({ binary: 'nova-compute', availability_zone: zone })
          .first();
        if (!known && zone !== config.DEFAULT.default_availability_zone)
          throw badRequest(`The requested availability zone is not available`);
      }
      const spec: RequestSpec = {
        availability_zone: zone,
        group: group ? { uuid: group.uuid, policy: group.policy } : undefined,
        scheduler_hints: hints,
        networks: s.networks,
      };
      const reservationId = `r-${randomUUID().slice(0, 8)}`;
      const t = now();
      const uuids: string[] = [];
      await db.transaction(async (trx) => {
        const count = await checkQuota(
          trx,
          config,
          ctx.projectId,
          { instances: 1, cores: flavor.vcpus, ram: flavor.memory_mb },
          { min: minCount, max: maxCount },
        );
        if (group) await checkServerGroupMembers(trx, config, ctx.projectId, group.uuid, count);
        for (let n = 0; n < count; n++) {
          const uuid = randomUUID();
          const displayName = count > 1 ? `${s.name}-${n + 1}` : s.name;
          await trx('instances').insert({
            uuid,
            project_id: ctx.projectId,
            user_id: ctx.userId,
            display_name: displayName,
            display_description: s.description ?? null,
            hostname: s.hostname ?? hostnameFrom(displayName, uuid),
            availability_zone: zone ?? null,
            flavorid: flavor.flavorid,
            flavor: JSON.stringify(flavorSnapshot(flavor)),
            image_ref: image.id,
            key_name: s.key_name ?? null,
            key_data: keypair?.public_key ?? null,
            vm_state: VmState.BUILDING,
            task_state: TaskState.SCHEDULING,
            power_state: 0,
            metadata: JSON.stringify(s.metadata ?? {}),
            tags: JSON.stringify(s.tags ?? []),
            user_data: s.user_data ?? null,
            access_ip_v4: s.accessIPv4 ?? '',
            access_ip_v6: s.accessIPv6 ?? '',
            reservation_id: reservationId,
            launch_index: n,
            request_spec: JSON.stringify(spec),
            created_at: t,
            updated_at: t,
          });
          if (group)
            await trx('server_group_members').insert({
              group_uuid: group.uuid,
              instance_uuid: uuid,
            });
          await recordAction(trx, uuid, 'create', ctx);
          uuids.push(uuid);
        }
      });
      const context = rpcContext(ctx);
      deps.builds.scheduleLater(uuids, context);
      if (s.return_reservation_id) return res.status(202).json({ reservation_id: reservationId });
      const base = baseUrl(req);
      res.setHeader('Location', `${base}/v2.1/servers/${uuids[0]}`);
      res.status(202).json({
        server: {
          id: uuids[0],
          links: [
            { rel: 'self', href: `${base}/v2.1/servers/${uuids[0]}` },
            { rel: 'bookmark', href: `${base}/servers/${uuids[0]}` },
          ],
          'OS-DCF:diskConfig': s['OS-DCF:diskConfig'] ?? 'MANUAL',
          security_groups: s.security_groups ?? [{ name: 'default' }],
          adminPass: s.adminPass ?? randomUUID().replace(/-/g, '').slice(0, 12),
        },
      });
    }),
  );

  const show = async (req: Request, ctx: ApiContext, uuid: string) => {
    const inst = await findServer(db, ctx, uuid);
    const groups = ctx.version.ge('2.71')
      ? ((await db('server_group_members')
          .where({ instance_uuid: uuid })
          .pluck('group_uuid')) as string[])
      : undefined;
    const hostStatus = ctx.isAdmin
      ? await hostStatusReader(db, config.DEFAULT.service_down_time)
      : undefined;
    return serverDetail(inst, { base: baseUrl(req), ctx, hostStatus, serverGroups: groups });
  };

  r.get(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      res.json({ server: await show(req, ctx, req.params.id) });
    }),
  );

  r.put(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { server: s } = validate<{ server: Record<string, string | null> }>(
        updateSchema,
        req.body,
      );
      const inst = await findServer(db, ctx, req.params.id);
      if (ctx.version.lt('2.19') && s.description !== undefined)
        throw badRequest(
          'Invalid input for field/attribute description. Additional properties are not allowed',
        );
      if (ctx.version.lt('2.90') && s.hostname !== undefined)
        throw badRequest(
          'Invalid input for field/attribute hostname. Additional properties are not allowed',
        );
      const update: Record<string, unknown> = { updated_at: now() };
      if (s.name !== undefined) update.display_name = s.name;
      if (s.description !== undefined) update.display_description = s.description;
      if (s.accessIPv4 !== undefined) update.access_ip_v4 = s.accessIPv4;
      if (s.accessIPv6 !== undefined) update.access_ip_v6 = s.accessIPv6;
      if (s.hostname !== undefined) update.hostname = s.hostname;
      await db('instances').where({ uuid: inst.uuid, deleted: false }).update(update);
      res.json({ server: await show(req, ctx, inst.uuid) });
    }),
  );

  r.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const inst = await findServer(db, ctx, req.params.id);
      if (Boolean(inst.locked) && !ctx.isAdmin)
        throw conflictingRequest(`Instance ${inst.uuid} is locked`);
      await db('instances')
        .where({ uuid: inst.uuid, deleted: false })
        .update({ task_state: TaskState.DELETING, updated_at: now() });
      await recordAction(db, inst.uuid, 'delete', ctx);
      const current = await getInstance(db, inst.uuid);
      // As Nova: a server that never reached a host, or whose host is down,
      // is deleted here; a host that comes back removes what it still has.
      if (current && (!current.host || !(await hostIsUp(db, current.host, config)))) {
        await localDelete(db, inst.uuid);
      } else if (current) {
        await deps.compute.terminateInstance(current, rpcContext(ctx));
      }
      res.status(204).end();
    }),
  );

  r.use('/:id/action', serverActionsRouter(deps));
  r.use('/:id/metadata', serverMetadataRouter(deps));
  r.use('/:id/os-instance-actions', instanceActionsRouter(deps));
  r.get(
    '/:id/diagnostics',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, 'os_compute_api:os-server-diagnostics');
      const inst = await findServer(db, ctx, req.params.id);
      if (!inst.host || !DIAGNOSTICS.allowed.includes(inst.vm_state as never))
        throw conflictingRequest(
          `Cannot 'get_diagnostics' instance ${inst.uuid} while it is in vm_state ${inst.vm_state}`,
        );
      const d = await callCompute(() => deps.compute.getDiagnostics(inst, rpcContext(ctx)));
      const data = ((d as { 'nova_object.data'?: Record<string, unknown> })['nova_object.data'] ??
        d) as Record<string, unknown>;
      if (ctx.version.ge('2.48')) return res.json(data);
      const mem = data.memory_details as { used?: number } | undefined;
      const cpus = (data.cpu_details as { id: number; time: number | null }[] | undefined) ?? [];
      res.json({
        ...Object.fromEntries(cpus.map((c) => [`cpu${c.id}_time`, c.time])),
        memory: mem?.used ?? null,
      });
    }),
  );
  return r;
}

async function hostIsUp(db: Database, host: string, config: ApiDeps['config']): Promise<boolean> {
  const service = await db<ServiceRow>('services').where({ host, binary: 'nova-compute' }).first();
  return service !== undefined && isUp(service, config.DEFAULT.service_down_time);
}

/** Nova's local delete: the row, its claim and its group membership go at once. */
export async function localDelete(db: Database, uuid: string): Promise<void> {
  const t = now();
  await db.transaction(async (trx) => {
    await trx('instances').where({ uuid, deleted: false }).update({
      vm_state: 'deleted',
      task_state: null,
      deleted: true,
      deleted_at: t,
      terminated_at: t,
      updated_at: t,
    });
    await trx('allocations').where({ instance_uuid: uuid }).delete();
    await trx('server_group_members').where({ instance_uuid: uuid }).delete();
    await trx('instance_actions')
      .where({ instance_uuid: uuid })
      .whereNull('finish_time')
      .update({ finish_time: t, updated_at: t });
  });
}

/** Nova's default hostname: the display name sanitised to a DNS label. */
function hostnameFrom(displayName: string, uuid: string): string {
  const h = displayName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || `server-${uuid}`;
}
