/**
 * The embedded network API: Neutron v2.0 under /network, the subset
 * python-openstackclient, openstacksdk and Horizon use
 * (reference/neutron-calls.md). Version discovery answers without a
 * token; everything else goes through the compute API's authenticator
 * (noauth2 or keystone, with project isolation). Errors are Neutron's
 * `{"NeutronError": {"type", "message", "detail"}}`.
 */
import {
  Router,
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Logger } from 'winston';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { ApiFault } from '../faults';
import { route } from '../http';
import { jsonBody } from '../json-body';
import { refuseNulInUrl } from '../nul-chars';
import {
  httpBadRequest,
  httpNotFound,
  NeutronError,
  NOT_FOUND,
  policyNotAuthorized,
} from './errors';
import { EXTENSIONS } from './extensions';
import {
  FLOATING_IPS,
  createPortForwarding,
  deletePortForwarding,
  PF_KEYS,
  portForwardingOf,
  portForwardingView,
  updatePortForwarding,
} from './floating-ips';
import type { NetworkCaller } from './instance-network';
import { ipAvailability } from './ip-availability';
import { listPage, parseListQuery, pick } from './listing';
import { NETWORKS } from './networks';
import type { NetworkService } from './network-service';
import { PORTS } from './ports';
import {
  defaultQuotas,
  listQuotas,
  quotaDetails,
  quotaOf,
  requireQuotaReader,
  resetQuota,
  updateQuota,
} from './quotas';
import type { ResourceType } from './resource';
import { addInterface, removeInterface, ROUTERS } from './routers';
import { SECURITY_GROUP_RULES, SECURITY_GROUPS } from './security-groups';
import { getRow, listRows, saveRow, type Body, type Row } from './store';
import { SUBNETS } from './subnets';
import type { NetTx } from './context';
import { requireOwner } from './context';

export const RESOURCE_TYPES: readonly ResourceType[] = [
  NETWORKS,
  SUBNETS,
  PORTS,
  SECURITY_GROUPS,
  SECURITY_GROUP_RULES,
  ROUTERS,
  FLOATING_IPS,
];

const callerOf = (res: Response): NetworkCaller => {
  const ctx = ctxOf(res);
  return {
    projectId: ctx.projectId,
    userId: ctx.userId,
    isAdmin: ctx.isAdmin,
    requestId: ctx.requestId,
  };
};

const queryOf = (req: Request) => req.originalUrl.split('?')[1] ?? '';

/** The API's own base: http://<Host>/network/v2.0 */
const apiBase = (req: Request) => `${baseUrl(req)}${req.baseUrl}/v2.0`;

/** A row of `t` the caller may see, or its NotFound (other projects' rows are 404, never 403). */
async function visibleRow(tx: NetTx, t: ResourceType, id: string): Promise<Row> {
  const row = await getRow(tx.q, t.kind, id);
  if (!(await t.visible(tx, row))) throw NOT_FOUND[t.kind](id);
  return row;
}

/** `If-Match: revision_number=N` on a stale row is 412, as the revision-if-match extension has it. */
function checkRevision(req: Request, row: Row): void {
  const m = /^revision_number=(\d+)$/.exec(req.get('if-match')?.trim() ?? '');
  if (!m) return;
  if (Number(m[1]) !== row.revision_number)
    throw new NeutronError(
      412,
      'RevisionNumberConstraintFailed',
      `Constrained to ${m[1]}, but current revision is ${row.revision_number}`,
    );
}

function checkTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag === '')
    throw httpBadRequest(
      `Invalid input for tags. Reason: '${JSON.stringify(tag)}' is not a valid string.`,
    );
  if (tag.length > 60)
    throw httpBadRequest(`Invalid input for tags. Reason: '${tag}' exceeds maximum length of 60.`);
  return tag;
}

function mountResource(router: Router, svc: NetworkService, t: ResourceType): void {
  const one = `/v2.0/${t.path}/:id`;
  router.get(
    `/v2.0/${t.path}`,
    route(async (req, res) => {
      const q = parseListQuery(queryOf(req), t.keys, t.taggable);
      const page = await svc.read(callerOf(res), async (tx) => {
        const all: Body[] = [];
        for (const row of await listRows(tx.q, t.kind))
          if (await t.visible(tx, row)) all.push(await t.view(tx, row));
        return listPage(all, q, `${apiBase(req)}/${t.path}`, NOT_FOUND[t.kind]);
      });
      res.json({
        [t.collection]: page.items,
        ...(page.links ? { [`${t.collection}_links`]: page.links } : {}),
      });
    }),
  );
  router.post(
    `/v2.0/${t.path}`,
    route(async (req, res) => {
      const bulk =
        req.body && typeof req.body === 'object' && Array.isArray(req.body[t.collection]);
      const bodies: unknown[] = bulk
        ? req.body[t.collection].map((b: unknown) => ({ [t.resource]: b }))
        : [req.body];
      const views = await svc.write(callerOf(res), async (tx) => {
        const out = [];
        for (const b of bodies) out.push(await t.view(tx, await t.create(tx, b)));
        return out;
      });
      res.status(201).json(bulk ? { [t.collection]: views } : { [t.resource]: views[0] });
    }),
  );
  router.get(
    one,
    route(async (req, res) => {
      const fields = new URLSearchParams(queryOf(req)).getAll('fields');
      const view = await svc.read(callerOf(res), async (tx) =>
        t.view(tx, await visibleRow(tx, t, req.params.id)),
      );
      res.json({ [t.resource]: fields.length ? pick(view, fields) : view });
    }),
  );
  router.put(
    one,
    route(async (req, res) => {
      const view = await svc.write(callerOf(res), async (tx) => {
        const row = await visibleRow(tx, t, req.params.id);
        checkRevision(req, row);
        return t.view(tx, await t.update(tx, row, req.body));
      });
      res.json({ [t.resource]: view });
    }),
  );
  router.delete(
    one,
    route(async (req, res) => {
      await svc.write(callerOf(res), async (tx) =>
        t.remove(tx, await visibleRow(tx, t, req.params.id)),
      );
      res.status(204).end();
    }),
  );
  if (t.taggable) mountTags(router, svc, t);
}

function mountTags(router: Router, svc: NetworkService, t: ResourceType): void {
  const tags = `/v2.0/${t.path}/:id/tags`;
  const change = (fn: (row: Row, req: Request) => string[]) =>
    route(async (req, res) => {
      const out = await svc.write(callerOf(res), async (tx) => {
        const row = await visibleRow(tx, t, req.params.id);
        requireOwner(tx, row, `update_${t.resource}`);
        const next = fn(row, req);
        await saveRow(tx.q, row, { tags: next });
        return next;
      });
      if (req.method === 'PUT' && req.params.tag !== undefined) res.status(201).end();
      else if (req.method === 'PUT') res.json({ tags: out });
      else res.status(204).end();
    });
  router.get(
    tags,
    route(async (req, res) => {
      const row = await svc.read(callerOf(res), (tx) => visibleRow(tx, t, req.params.id));
      res.json({ tags: row.tags });
    }),
  );
  router.get(
    `${tags}/:tag`,
    route(async (req, res) => {
      const row = await svc.read(callerOf(res), (tx) => visibleRow(tx, t, req.params.id));
      if (!row.tags.includes(req.params.tag)) throw tagNotFound(t, row, req.params.tag);
      res.status(204).end();
    }),
  );
  router.put(
    tags,
    change((_row, req) => {
      const given = req.body?.tags;
      if (!Array.isArray(given))
        throw httpBadRequest("Invalid input for tags. Reason: 'tags' is not a list.");
      return [...new Set(given.map(checkTag))];
    }),
  );
  router.put(
    `${tags}/:tag`,
    change((row, req) => {
      const tag = checkTag(req.params.tag);
      return row.tags.includes(tag) ? row.tags : [...row.tags, tag];
    }),
  );
  router.delete(
    tags,
    change(() => []),
  );
  router.delete(
    `${tags}/:tag`,
    change((row, req) => {
      if (!row.tags.includes(req.params.tag)) throw tagNotFound(t, row, req.params.tag);
      return row.tags.filter((x) => x !== req.params.tag);
    }),
  );
}

const tagNotFound = (t: ResourceType, row: Row, tag: string) =>
  new NeutronError(
    404,
    'TagNotFound',
    `Tag ${tag} could not be found for ${t.resource} ${row.id}.`,
  );

function mountRouterActions(router: Router, svc: NetworkService): void {
  for (const [action, fn] of [
    ['add_router_interface', addInterface],
    ['remove_router_interface', removeInterface],
  ] as const)
    router.put(
      `/v2.0/routers/:id/${action}`,
      route(async (req, res) => {
        res.json(
          await svc.write(callerOf(res), async (tx) =>
            fn(tx, await visibleRow(tx, ROUTERS, req.params.id), req.body),
          ),
        );
      }),
    );
}

function mountPortForwardings(router: Router, svc: NetworkService): void {
  const base = '/v2.0/floatingips/:id/port_forwardings';
  const fipOf = (tx: NetTx, req: Request) => visibleRow(tx, FLOATING_IPS, req.params.id);
  router.get(
    base,
    route(async (req, res) => {
      const q = parseListQuery(queryOf(req), PF_KEYS, false);
      const page = await svc.read(callerOf(res), async (tx) => {
        const fip = await fipOf(tx, req);
        const all = (await listRows(tx.q, 'port_forwarding', { parent_id: fip.id })).map(
          portForwardingView,
        );
        return listPage(
          all,
          q,
          `${apiBase(req)}/floatingips/${fip.id}/port_forwardings`,
          NOT_FOUND.port_forwarding,
        );
      });
      res.json({
        port_forwardings: page.items,
        ...(page.links ? { port_forwardings_links: page.links } : {}),
      });
    }),
  );
  router.post(
    base,
    route(async (req, res) => {
      const pf = await svc.write(callerOf(res), async (tx) =>
        createPortForwarding(tx, await fipOf(tx, req), req.body),
      );
      res.status(201).json({ port_forwarding: portForwardingView(pf) });
    }),
  );
  router.get(
    `${base}/:pf`,
    route(async (req, res) => {
      const fields = new URLSearchParams(queryOf(req)).getAll('fields');
      const pf = await svc.read(callerOf(res), async (tx) =>
        portForwardingOf(tx, await fipOf(tx, req), req.params.pf),
      );
      const view = portForwardingView(pf);
      res.json({ port_forwarding: fields.length ? pick(view, fields) : view });
    }),
  );
  router.put(
    `${base}/:pf`,
    route(async (req, res) => {
      const pf = await svc.write(callerOf(res), async (tx) => {
        const fip = await fipOf(tx, req);
        return updatePortForwarding(
          tx,
          fip,
          await portForwardingOf(tx, fip, req.params.pf),
          req.body,
        );
      });
      res.json({ port_forwarding: portForwardingView(pf) });
    }),
  );
  router.delete(
    `${base}/:pf`,
    route(async (req, res) => {
      await svc.write(callerOf(res), async (tx) => {
        const fip = await fipOf(tx, req);
        requireOwner(tx, fip, 'delete_floatingip_port_forwarding');
        await deletePortForwarding(tx, await portForwardingOf(tx, fip, req.params.pf));
      });
      res.status(204).end();
    }),
  );
}

function mountQuotas(router: Router, svc: NetworkService): void {
  router.get(
    '/v2.0/quotas',
    route(async (_req, res) => {
      res.json({ quotas: await svc.read(callerOf(res), listQuotas) });
    }),
  );
  const reader = (fn: (tx: NetTx, project: string) => Promise<unknown> | unknown) =>
    route(async (req, res) => {
      const quota = await svc.read(callerOf(res), async (tx) => {
        requireQuotaReader(tx, req.params.project);
        return fn(tx, req.params.project);
      });
      res.json({ quota });
    });
  router.get('/v2.0/quotas/:project', reader(quotaOf));
  router.get('/v2.0/quotas/:project/details', reader(quotaDetails));
  router.get('/v2.0/quotas/:project/default', reader(defaultQuotas));
  router.put(
    '/v2.0/quotas/:project',
    route(async (req, res) => {
      res.json({
        quota: await svc.write(callerOf(res), (tx) =>
          updateQuota(tx, req.params.project, req.body),
        ),
      });
    }),
  );
  router.delete(
    '/v2.0/quotas/:project',
    route(async (req, res) => {
      await svc.write(callerOf(res), (tx) => resetQuota(tx, req.params.project));
      res.status(204).end();
    }),
  );
}

function mountReads(router: Router, svc: NetworkService): void {
  router.get('/v2.0/', (req, res) => {
    const resources = [
      ...RESOURCE_TYPES.map((t) => [t.resource, t.collection, t.path]),
      ['quota', 'quotas', 'quotas'],
    ];
    res.json({
      resources: resources.map(([name, collection, path]) => ({
        name,
        collection,
        links: [{ rel: 'self', href: `${apiBase(req)}/${path}` }],
      })),
    });
  });
  router.get('/v2.0/extensions', (_req, res) => {
    res.json({ extensions: EXTENSIONS });
  });
  router.get('/v2.0/extensions/:alias', (req, res) => {
    const e = EXTENSIONS.find((x) => x.alias === req.params.alias);
    if (!e)
      throw new NeutronError(
        404,
        'ExtensionNotFound',
        `Extension with alias ${req.params.alias} does not exist`,
      );
    res.json({ extension: e });
  });
  // Neutron's zones come from DHCP and L3 agents; berth has none, as a Neutron without agents.
  router.get('/v2.0/availability_zones', (_req, res) => {
    res.json({ availability_zones: [] });
  });
  // No Neutron agents: each compute's own data plane does their work. The list
  // is empty, as a real Neutron's is to a member (Tempest reads it so).
  router.get('/v2.0/agents', (_req, res) => {
    res.json({ agents: [] });
  });
  router.get(
    '/v2.0/network-ip-availabilities',
    route(async (_req, res) => {
      const caller = callerOf(res);
      if (!caller.isAdmin) throw policyNotAuthorized('rule:get_network_ip_availability');
      const out = await svc.read(caller, async (tx) =>
        Promise.all((await listRows(tx.q, 'network')).map((n) => ipAvailability(tx, n))),
      );
      res.json({ network_ip_availabilities: out });
    }),
  );
  router.get(
    '/v2.0/network-ip-availabilities/:id',
    route(async (req, res) => {
      const caller = callerOf(res);
      if (!caller.isAdmin) throw policyNotAuthorized('rule:get_network_ip_availability');
      const out = await svc.read(caller, async (tx) =>
        ipAvailability(tx, await getRow(tx.q, 'network', req.params.id)),
      );
      res.json({ network_ip_availability: out });
    }),
  );
}

export function neutronRouter(deps: ApiDeps, authenticate: RequestHandler): Router {
  const svc = deps.network;
  // Strict: Neutron answers /v2.0/ but not /v2.0.
  const router = Router({ strict: true });
  router.get('/', (req, res) => {
    res.json({
      versions: [
        { id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${apiBase(req)}/` }] },
      ],
    });
  });
  router.use(authenticate);
  // Neutron takes a `.json` format suffix on any path (Tempest's quota client sends one).
  router.use((req, _res, next) => {
    const q = req.url.indexOf('?');
    const p = q < 0 ? req.url : req.url.slice(0, q);
    if (p.endsWith('.json')) req.url = p.slice(0, -5) + (q < 0 ? '' : req.url.slice(q));
    next();
  });
  router.use(
    refuseNulInUrl(
      () => new ApiFault(400, 'HTTPBadRequest', 'A NUL character is not allowed in a request.'),
    ),
  );
  router.use(
    jsonBody(
      deps.config.api.max_request_body_size,
      () => new ApiFault(400, 'MalformedRequestBody', 'Malformed request body'),
    ),
  );
  router.use((_req, res, next) => {
    svc.ensureDefaultGroup(callerOf(res)).then(() => next(), next);
  });
  mountReads(router, svc);
  for (const t of RESOURCE_TYPES) mountResource(router, svc, t);
  mountRouterActions(router, svc);
  mountPortForwardings(router, svc);
  mountQuotas(router, svc);
  router.use((_req, _res, next) => next(httpNotFound()));
  router.use(neutronErrorHandler(deps.log));
  return router;
}

/** Neutron's error bodies; a 401 is keystonemiddleware's, as a Neutron behind it answers. */
function neutronErrorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    void _next;
    let e: NeutronError;
    const status = (err as { status?: number }).status;
    if (err instanceof NeutronError) e = err;
    else if (err instanceof ApiFault && err.status === 401) {
      for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
      res.status(401).json({ error: { code: 401, title: 'Unauthorized', message: err.message } });
      return;
    } else if (err instanceof ApiFault)
      e = new NeutronError(err.status, err.faultName, err.message);
    else if (status === 413)
      e = new NeutronError(413, 'HTTPRequestEntityTooLarge', 'Request is too large.');
    else if (status && status >= 400 && status < 500)
      e = httpBadRequest((err as Error).message || 'Bad request');
    else
      e = new NeutronError(
        500,
        'HTTPInternalServerError',
        'Request Failed: internal server error while processing your request.',
      );
    if (e.status >= 500)
      ((res.locals.ctx as ApiContext | undefined)?.log ?? log).error('network request failed', {
        request_id: res.locals.requestId,
        method: req.method,
        path: req.originalUrl,
        error: err instanceof Error ? err.stack : String(err),
      });
    if (res.headersSent) return res.end();
    res.status(e.status).json(e.body());
  };
}
