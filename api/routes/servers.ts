/**
 * /v2.1/servers: list, detail, show, create, update, delete; the actions,
 * metadata and instance-action sub-resources mount here too.
 */
import { groupsOfInstance } from '../db/server-groups';
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import Joi from 'joi';
import { DIAGNOSTICS } from '../../nova/actions';
import type { Vif } from '../../nova/network-model';
import { baseUrl, ctxOf, rpcContext, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import { decodeInstance, type InstanceRow } from '../db/instances';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest } from '../faults';
import { nextLinks, now, route } from '../http';
import { requireAdmin } from '../policy';
import { diagnosticsView } from '../../nova/diagnostics-object';
import { canonicalIPv6 } from '../servers/access-ips';
import { createServers } from '../servers/create-server';
import {
  blockDeviceSchema,
  parseBlockDevices,
  type BlockDeviceRequest,
} from '../servers/block-devices';
import { deleteServer } from '../servers/delete-server';
import { parseRequestedNetworks } from '../servers/requested-networks';
import { novaName, novaTag, QUERY_FALSE, QUERY_TRUE, validate, validateQuery } from '../validate';
import {
  serverBrief,
  serverDetail,
  serverDetails,
  serverUpdateView,
  statusOf,
} from '../views/servers';
import { callCompute } from './compute-errors';
import { interfacesRouter } from './interfaces';
import { volumeAttachmentsRouter } from './volume-attachments';
import { attachmentsByInstance } from '../volume/store';
import { remoteConsolesRouter } from './remote-consoles';
import { serverActionsRouter } from './server-actions';
import { serverIpsRouter } from './server-ips';
import { serverSecurityGroups } from '../servers/server-security-groups';
import { instanceActionsRouter } from './instance-actions';
import { serverMetadataRouter, metadataSchema } from './server-metadata';
import { serverTagsRouter } from './server-tags';
import { matchesTags, TAG_FILTERS, type TagFilters } from '../db/instance-tags';
import { findServer, hostStatusReader } from './server-lookup';

const createSchema = Joi.object({
  server: Joi.object({
    name: novaName.required(),
    // Absent or empty when block_device_mapping_v2 names the image.
    imageRef: Joi.string().max(255).allow(''),
    flavorRef: Joi.alternatives(Joi.string().min(1).max(255), Joi.number().integer()).required(),
    min_count: Joi.number().integer().min(1).max(1000),
    max_count: Joi.number().integer().min(1).max(1000),
    networks: Joi.any(),
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
    tags: Joi.array().items(novaTag).max(50),
    config_drive: Joi.alternatives(
      Joi.boolean(),
      Joi.string().valid('', 'true', 'false', 'True', 'False'),
    ),
    return_reservation_id: Joi.boolean(),
    hostname: Joi.string().min(1).max(255).hostname(),
    // Its items are checked by microversion in the route (blockDeviceSchema).
    block_device_mapping_v2: Joi.array(),
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
  }).required(),
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
  'changes-before': Joi.date().iso(),
  all_tenants: Joi.any(),
  project_id: Joi.string().max(255),
  tenant_id: Joi.string().max(255),
  image: Joi.string().max(255),
  flavor: Joi.string().max(255),
  locked: Joi.string().max(255),
  ip: Joi.string().max(255),
  ip6: Joi.string().max(255),
  tags: stringOrList,
  'tags-any': stringOrList,
  'not-tags': stringOrList,
  'not-tags-any': stringOrList,
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
  'changes-before'?: Date;
  all_tenants?: unknown;
  project_id?: string;
  tenant_id?: string;
  image?: string;
  flavor?: string;
  locked?: string;
  ip?: string;
  ip6?: string;
  tags?: string | string[];
  'tags-any'?: string | string[];
  'not-tags'?: string | string[];
  'not-tags-any'?: string | string[];
  sort_key?: string | string[];
  sort_dir?: string | string[];
}

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : ([] as T[]).concat(v));

/** Nova reads all_tenants as "present and not false". */
const truthyFlag = (v: unknown) =>
  v !== undefined && !['0', 'false', 'f', 'no', 'off'].includes(String(v).toLowerCase());

/**
 * The tag filters of a list from 2.26: each a comma-separated list (the
 * last value when repeated), as Nova splits them; undefined when none.
 */
function tagFiltersOf(q: ListQuery, ctx: ApiContext): TagFilters | undefined {
  if (ctx.version.lt('2.26')) return undefined;
  const f: TagFilters = {};
  for (const key of TAG_FILTERS) {
    const v = asList(q[key]).at(-1);
    if (v !== undefined) f[key] = v.split(',');
  }
  return Object.keys(f).length ? f : undefined;
}

/** An instance's fixed addresses, for the ip and ip6 filters. */
const fixedIpsOf = (vifs: Vif[]) =>
  vifs.flatMap((vif) =>
    vif.network.subnets.flatMap((s) =>
      s.ips.filter((ip) => ip.type === 'fixed').map((ip) => ip.address),
    ),
  );

/**
 * `networkInfoFor` serves the ip and ip6 filters (Nova's _ip_filter: a
 * regular expression matched at the address's start); what it read comes
 * back with the rows, so the detail view does not read it again.
 */
async function listInstances(
  db: Database,
  ctx: ApiContext,
  q: ListQuery,
  maxLimit: number,
  networkInfoFor: (uuids: string[]) => Promise<Map<string, Vif[]>>,
) {
  const allTenants = truthyFlag(q.all_tenants);
  if (allTenants) requireAdmin(ctx, 'os_compute_api:servers:index:get_all_tenants');
  if (q.host !== undefined) requireAdmin(ctx, 'os_compute_api:servers:allow_all_filters');
  let query = db<InstanceRow>('instances');
  if (!allTenants) query = query.where({ project_id: ctx.projectId });
  else if (q.project_id ?? q.tenant_id)
    query = query.where({ project_id: q.project_id ?? q.tenant_id });
  const since = q['changes-since'];
  // changes-before is 2.66's; earlier, like any parameter it does not know, Nova ignores it.
  const before = ctx.version.ge('2.66') ? q['changes-before'] : undefined;
  if (since && before && since > before)
    throw badRequest('The value of changes-since must be less than or equal to changes-before.');
  if (since) query = query.where('updated_at', '>=', since.toISOString());
  if (before) query = query.where('updated_at', '<=', before.toISOString());
  // Asking what changed in a period includes the servers deleted in it.
  if (!since && !before) query = query.where({ deleted: false });
  if (q.host !== undefined) query = query.where({ host: q.host });
  if (q.image !== undefined) query = query.where({ image_ref: q.image });
  if (q.flavor !== undefined) query = query.where({ flavorid: q.flavor });
  if (q.locked !== undefined && ctx.version.ge('2.73'))
    query = query.where({ locked: lockedFilter(q.locked) });
  const keys = asList(q.sort_key);
  const dirs = asList(q.sort_dir);
  const order = keys.length ? keys : ['created_at'];
  order.forEach((k, n) => (query = query.orderBy(k, dirs[n] ?? dirs[0] ?? 'desc')));
  query = query.orderBy('id', dirs[0] ?? 'desc');
  const statuses = asList(q.status).map((s) => s.toUpperCase());
  const tagFilters = tagFiltersOf(q, ctx);
  const limit = Math.min(q.limit ?? maxLimit, maxLimit);
  // A name (a regular expression), a status (derived from two columns),
  // tags (a JSON column) or a marker is applied below, over every row;
  // without them the page is all there is to read.
  const ipFilters = (['ip', 'ip6'] as const).flatMap((k) => {
    const v = q[k];
    return v === undefined
      ? []
      : [{ re: regexFilter(`^(?:${v})`, k), version: k === 'ip' ? 4 : 6 }];
  });
  if (!q.name && !statuses.length && !tagFilters && !ipFilters.length && q.marker === undefined)
    query = query.limit(limit);
  let rows = await query;

  if (q.name) {
    const re = regexFilter(q.name, 'name');
    rows = rows.filter((i) => re.test(i.display_name));
  }
  if (statuses.length) rows = rows.filter((i) => statuses.includes(statusOf(i)));
  let networkInfo: Map<string, Vif[]> | undefined;
  if (ipFilters.length) {
    networkInfo = await networkInfoFor(rows.map((i) => i.uuid));
    const known = networkInfo;
    rows = rows.filter((i) => {
      const ips = fixedIpsOf(known.get(i.uuid) ?? []);
      const has = (f: (typeof ipFilters)[number]) =>
        ips.some((a) => a.includes(':') === (f.version === 6) && f.re.test(a));
      return ipFilters.every(has);
    });
  }
  if (tagFilters)
    rows = rows.filter((i) => matchesTags(JSON.parse(i.tags) as string[], tagFilters));
  if (q.marker !== undefined) {
    const at = rows.findIndex((i) => i.uuid === q.marker);
    if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
    rows = rows.slice(at + 1);
  }
  // Decoded once filtered and paged: the JSON columns of rows not shown are not parsed.
  return {
    rows: rows.slice(0, limit).map(decodeInstance),
    limit: q.limit === undefined ? undefined : limit,
    networkInfo,
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

/** Nova's is_locked: oslo's strict bool_from_string. */
function lockedFilter(text: string): boolean {
  const v = text.toLowerCase();
  if (QUERY_TRUE.includes(v)) return true;
  if (QUERY_FALSE.includes(v)) return false;
  throw badRequest(
    `Unrecognized value '${text}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
  );
}

/** Nova reads the `name` filter as a regular expression; berth refuses the catastrophic ones. */
function regexFilter(pattern: string, param: string): RegExp {
  if (hasNestedRepetition(pattern))
    throw badRequest(
      `Invalid input for query parameters ${param}. Repeated groups that contain repetition or alternation are not supported.`,
    );
  try {
    return new RegExp(pattern);
  } catch {
    throw badRequest(
      `Invalid input for query parameters ${param}. Not a valid regular expression.`,
    );
  }
}

export function serversRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const r = Router();

  const list = (detail: boolean) =>
    route(async (req: Request, res) => {
      const ctx = ctxOf(res);
      const q = validateQuery<ListQuery>(listQuery, req.query);
      const networkInfoFor = (uuids: string[]) => deps.instanceNetwork.networkInfoFor(uuids);
      const listed = await listInstances(db, ctx, q, config.api.max_limit, networkInfoFor);
      const { rows, limit } = listed;
      const base = baseUrl(req);
      const hostStatus = ctx.isAdmin
        ? await hostStatusReader(db, config.DEFAULT.service_down_time)
        : undefined;
      const networkInfo = detail
        ? (listed.networkInfo ?? (await networkInfoFor(rows.map((i) => i.uuid))))
        : new Map();
      const volumes = detail
        ? await attachmentsByInstance(
            db,
            rows.map((i) => i.uuid),
          )
        : new Map();
      const servers = detail
        ? serverDetails(rows, { base, ctx, hostStatus, networkInfo, volumes })
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
      const securityGroups = [
        ...new Set(((s.security_groups ?? []) as { name?: string }[]).flatMap((g) => g.name ?? [])),
      ];
      const { uuids, reservationId } = await createServers(deps, ctx, {
        server: s,
        blockDevices: parseBlockDevices(
          s.block_device_mapping_v2 &&
            validate<BlockDeviceRequest[]>(
              blockDeviceSchema(v),
              s.block_device_mapping_v2,
              'block_device_mapping_v2',
            ),
        ),
        minCount,
        maxCount,
        networks: parseRequestedNetworks(s.networks, v, maxCount),
        securityGroups,
        hints: body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {},
      });
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
    const groups = ctx.version.ge('2.71') ? await groupsOfInstance(db, uuid) : undefined;
    const hostStatus = ctx.isAdmin
      ? await hostStatusReader(db, config.DEFAULT.service_down_time)
      : undefined;
    const networkInfo = new Map([[inst.uuid, await deps.instanceNetwork.networkInfo(inst.uuid)]]);
    return serverDetail(inst, {
      base: baseUrl(req),
      ctx,
      hostStatus,
      serverGroups: groups,
      networkInfo,
      volumes: await attachmentsByInstance(db, [inst.uuid]),
    });
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
      if (s.accessIPv6 !== undefined) update.access_ip_v6 = canonicalIPv6(s.accessIPv6 ?? '');
      if (s.hostname !== undefined) update.hostname = s.hostname;
      if (s['OS-DCF:diskConfig'] !== undefined)
        update.auto_disk_config = s['OS-DCF:diskConfig'] === 'AUTO';
      await db('instances').where({ uuid: inst.uuid, deleted: false }).update(update);
      res.json({ server: serverUpdateView(await show(req, ctx, inst.uuid), ctx.version) });
    }),
  );

  r.delete(
    '/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      await deleteServer(deps, ctx, await findServer(db, ctx, req.params.id));
      res.status(204).end();
    }),
  );

  r.use('/:id/action', serverActionsRouter(deps));
  r.use('/:id/remote-consoles', remoteConsolesRouter(deps));
  r.use('/:id/ips', serverIpsRouter(deps));
  r.use('/:id/os-interface', interfacesRouter(deps));
  r.use('/:id/os-volume_attachments', volumeAttachmentsRouter(deps));
  r.use('/:id/metadata', serverMetadataRouter(deps));
  r.use('/:id/tags', serverTagsRouter(deps));
  r.use('/:id/os-instance-actions', instanceActionsRouter(deps));
  // Nova keeps the password a guest posted to its metadata service; berth's guests have none to post to.
  r.get(
    '/:id/os-server-password',
    route(async (req, res) => {
      await findServer(db, ctxOf(res), req.params.id);
      res.json({ password: '' });
    }),
  );
  r.delete(
    '/:id/os-server-password',
    route(async (req, res) => {
      await findServer(db, ctxOf(res), req.params.id);
      res.status(204).end();
    }),
  );
  r.get(
    '/:id/os-security-groups',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const inst = await findServer(db, ctx, req.params.id);
      res.json({ security_groups: await serverSecurityGroups(deps, ctx, inst) });
    }),
  );
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
      const data = diagnosticsView(d);
      if (ctx.version.ge('2.48')) return res.json(data);
      const mem = data.memory_details as { used?: number | null };
      const cpus = data.cpu_details as { id: number; time: number | null }[];
      res.json({
        ...Object.fromEntries(cpus.map((c) => [`cpu${c.id}_time`, c.time])),
        memory: mem?.used ?? null,
      });
    }),
  );
  return r;
}
