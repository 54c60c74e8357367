/**
 * The embedded block-storage API: Cinder v3 under /volume, the subset
 * openstackclient, Horizon, Heat and Tempest use. Version discovery
 * answers without a token; the rest goes through the compute API's
 * authenticator, under /v3/{project_id}/... and, as newer clients send,
 * /v3/... . Faults are Cinder's `{"<name>": {"code", "message"}}`.
 */
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest } from '../faults';
import { route } from '../http';
import { jsonBody } from '../json-body';
import { refuseNulInUrl } from '../nul-chars';
import { validate } from '../validate';
import { v3Doc, volumeVersion } from './cinder-version';
import { invalidInput, policyNotAuthorized, typeNotFound, volumeNotFound } from './errors';
import { mountMetadata } from './metadata-routes';
import {
  QUOTA_DEFAULTS,
  QUOTA_RESOURCES,
  quotaLimits,
  quotaUsage,
  resetQuotas,
  setQuota,
  type QuotaResource,
} from './quotas';
import {
  deleteTypeRow,
  findType,
  insertType,
  listSnapshots,
  listTypes,
  updateSnapshot,
  updateType,
  updateVolume,
  type Metadata,
  type VolumeTypeRow,
} from './store';
import { mountEmptyCollections } from './empty-collections';
import { mountExtensions } from './extensions';
import { snapshotView, volumeTypeView } from './views';
import { listPage } from './list-params';
import { metadataSchema, name } from './parameter-types';
import { mountVolumes, scopeOf } from './volumes-routes';
import type { VolumeService } from './volume-service';

const SNAPSHOT_SORT_KEYS = [
  'id',
  'name',
  'status',
  'size',
  'volume_id',
  'created_at',
  'updated_at',
];

function mountSnapshots(r: Router, svc: VolumeService): void {
  const list = (detail: boolean) =>
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const project = scopeOf(req, ctx);
      let rows = await listSnapshots(svc.db, project === undefined ? {} : { project_id: project });
      for (const k of ['name', 'status', 'volume_id'] as const)
        if (typeof req.query[k] === 'string') rows = rows.filter((s) => s[k] === req.query[k]);
      const page = listPage(req, rows, SNAPSHOT_SORT_KEYS);
      res.json({
        snapshots: page.rows.map((s) => snapshotView(ctx, s, detail)),
        ...(page.links && { snapshots_links: page.links }),
      });
    });
  r.get('/snapshots', list(false));
  r.get('/snapshots/detail', list(true));
  r.post(
    '/snapshots',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const b = validate<{ snapshot: Record<string, unknown> }>(
        Joi.object({
          snapshot: Joi.object({
            // Cinder takes a null and looks it up: a 404, as Tempest expects.
            volume_id: Joi.string().max(36).allow(null).required(),
            name,
            display_name: name,
            description: name,
            display_description: name,
            force: Joi.alternatives(
              Joi.boolean(),
              Joi.string().valid('true', 'false', 'True', 'False'),
            ),
            metadata: metadataSchema.allow(null),
          }).required(),
        }),
        req.body,
      ).snapshot;
      if (b.volume_id === null) throw volumeNotFound('None');
      const v = await svc.visibleVolume(ctx, b.volume_id as string);
      const s = await svc.createSnapshot(ctx, v, {
        name: (b.name ?? b.display_name ?? null) as string | null,
        description: (b.description ?? b.display_description ?? null) as string | null,
        metadata: (b.metadata ?? {}) as Metadata,
        force: /^true$/i.test(String(b.force ?? false)),
      });
      // Created and updated snapshots come back without the extended attributes.
      res.status(202).json({ snapshot: snapshotView(ctx, s, false) });
    }),
  );
  r.get(
    '/snapshots/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      res.json({
        snapshot: snapshotView(ctx, await svc.visibleSnapshot(ctx, req.params.id), true),
      });
    }),
  );
  r.put(
    '/snapshots/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const s = await svc.visibleSnapshot(ctx, req.params.id);
      const b = validate<{ snapshot: Record<string, string | null> }>(
        Joi.object({
          snapshot: Joi.object({
            name,
            display_name: name,
            description: name,
            display_description: name,
          })
            .min(1)
            .required(),
        }),
        req.body,
      ).snapshot;
      const changes: { name?: string | null; description?: string | null } = {};
      if ('name' in b || 'display_name' in b) changes.name = b.name ?? b.display_name ?? null;
      if ('description' in b || 'display_description' in b)
        changes.description = b.description ?? b.display_description ?? null;
      await updateSnapshot(svc.db, s.id, changes);
      res.json({ snapshot: snapshotView(ctx, await svc.visibleSnapshot(ctx, s.id), false) });
    }),
  );
  r.delete(
    '/snapshots/:id',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      await svc.removeSnapshot(ctx, await svc.visibleSnapshot(ctx, req.params.id));
      res.status(202).end();
    }),
  );
}

function mountTypes(r: Router, svc: VolumeService): void {
  const admin = (ctx: ApiContext, action: string) => {
    if (!ctx.isAdmin) throw policyNotAuthorized(`volume_extension:${action}`);
  };
  const typeOr404 = async (id: string) => {
    const t = await findType(svc.db, id);
    if (!t) throw typeNotFound(id);
    return t;
  };
  r.get(
    '/types',
    route(async (_req, res) => {
      res.json({ volume_types: (await listTypes(svc.db)).map((t) => volumeTypeView(t)) });
    }),
  );
  // `default` is the type clients get when they name none (Cinder's default_volume_type).
  r.get(
    '/types/default',
    route(async (_req, res) => {
      res.json({ volume_type: volumeTypeView(await typeOr404('default')) });
    }),
  );
  r.get(
    '/types/:id',
    route(async (req, res) => {
      res.json({ volume_type: volumeTypeView(await typeOr404(req.params.id)) });
    }),
  );
  r.post(
    '/types',
    route(async (req, res) => {
      admin(ctxOf(res), 'types_manage');
      const b = validate<{ volume_type: Record<string, unknown> }>(
        Joi.object({
          volume_type: Joi.object({
            name: Joi.string().trim().min(1).max(255).required(),
            description: name,
            'os-volume-type-access:is_public': Joi.boolean(),
            is_public: Joi.boolean(),
            extra_specs: metadataSchema,
          }).required(),
        }),
        req.body,
      ).volume_type;
      if (await findType(svc.db, b.name as string))
        throw conflictingRequest(`Volume Type ${b.name as string} already exists.`);
      const id = randomUUID();
      await insertType(svc.db, {
        id,
        name: b.name as string,
        description: (b.description ?? null) as string | null,
        is_public: (b['os-volume-type-access:is_public'] ?? b.is_public ?? true) as boolean,
        extra_specs: (b.extra_specs ?? {}) as Metadata,
      });
      res.json({ volume_type: volumeTypeView(await typeOr404(id), 'create') });
    }),
  );
  r.put(
    '/types/:id',
    route(async (req, res) => {
      admin(ctxOf(res), 'types_manage');
      const t = await typeOr404(req.params.id);
      const b = validate<{ volume_type: Partial<VolumeTypeRow> }>(
        Joi.object({
          volume_type: Joi.object({
            name: Joi.string().trim().min(1).max(255),
            description: name,
            is_public: Joi.boolean(),
          }).required(),
        }),
        req.body,
      ).volume_type;
      if (!Object.keys(b).length)
        throw badRequest(
          'Specify volume type name, description, is_public or a combination thereof.',
        );
      if (b.name !== undefined && b.name !== t.name) {
        if (t.name === 'default') throw badRequest('Default volume type can not be renamed');
        if (await findType(svc.db, b.name))
          throw conflictingRequest(`Volume Type ${b.name} already exists.`);
      }
      await updateType(svc.db, t.id, b);
      res.json({ volume_type: volumeTypeView(await typeOr404(t.id), 'update') });
    }),
  );
  r.delete(
    '/types/:id',
    route(async (req, res) => {
      admin(ctxOf(res), 'types_manage');
      const t = await typeOr404(req.params.id);
      if (await svc.db('volumes').where({ volume_type_id: t.id }).first())
        throw badRequest(
          `Target volume type is still in use. Volume Type ${t.id} deletion is not allowed with volumes present with the type.`,
        );
      if (t.name === 'default') throw badRequest('Default volume type can not be deleted');
      await deleteTypeRow(svc.db, t.id);
      res.status(202).end();
    }),
  );
  r.get(
    '/types/:id/extra_specs',
    route(async (req, res) => {
      res.json({ extra_specs: (await typeOr404(req.params.id)).extra_specs });
    }),
  );
  r.post(
    '/types/:id/extra_specs',
    route(async (req, res) => {
      admin(ctxOf(res), 'types_extra_specs:create');
      const t = await typeOr404(req.params.id);
      const given = validate<{ extra_specs: Metadata }>(
        Joi.object({ extra_specs: metadataSchema.required() }),
        req.body,
      ).extra_specs;
      await updateType(svc.db, t.id, { extra_specs: { ...t.extra_specs, ...given } });
      res.json({ extra_specs: given });
    }),
  );
}

function mountQuotas(r: Router, svc: VolumeService): void {
  const reader = (ctx: ApiContext, project: string) => {
    if (!ctx.isAdmin && ctx.projectId !== project)
      throw policyNotAuthorized('volume_extension:quotas:show');
  };
  r.get(
    '/os-quota-sets/:project/defaults',
    route(async (req, res) => {
      res.json({ quota_set: { id: req.params.project, ...QUOTA_DEFAULTS } });
    }),
  );
  r.get(
    '/os-quota-sets/:project',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      reader(ctx, req.params.project);
      const limits = await quotaLimits(svc.db, req.params.project);
      const usage = /^(true|1|yes)$/i.test(String(req.query.usage ?? ''));
      const used = usage ? await quotaUsage(svc.db, req.params.project) : undefined;
      const set: Record<string, unknown> = { id: req.params.project };
      for (const q of QUOTA_RESOURCES)
        set[q] = used
          ? { limit: limits[q], in_use: used[q], reserved: 0, allocated: 0 }
          : limits[q];
      res.json({ quota_set: set });
    }),
  );
  r.put(
    '/os-quota-sets/:project',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      if (!ctx.isAdmin) throw policyNotAuthorized('volume_extension:quotas:update');
      // The quota table holds project ids of 255 characters: a longer one names no project.
      if (req.params.project.length > 255)
        throw invalidInput(
          `Project ID ${req.params.project.slice(0, 64)}… is not a valid project.`,
        );
      const given = validate<{ quota_set: Record<string, number | string> }>(
        Joi.object({
          quota_set: Joi.object(
            Object.fromEntries(
              QUOTA_RESOURCES.map((q) => [
                q,
                Joi.alternatives(
                  Joi.number().integer().min(-1).max(0x7fffffff),
                  Joi.string().pattern(/^-?[0-9]{1,10}$/),
                ),
              ]),
            ),
          )
            .keys({ tenant_id: Joi.any(), id: Joi.any() })
            .required(),
        }),
        req.body,
      ).quota_set;
      for (const q of QUOTA_RESOURCES)
        if (given[q] !== undefined) {
          const n = Number(given[q]);
          if (n < -1 || n > 0x7fffffff)
            throw invalidInput(`Quota limit ${n} for ${q} is out of range.`);
          await setQuota(svc.db, req.params.project, q as QuotaResource, n);
        }
      const limits = await quotaLimits(svc.db, req.params.project);
      res.json({ quota_set: limits });
    }),
  );
  r.delete(
    '/os-quota-sets/:project',
    route(async (req, res) => {
      if (!ctxOf(res).isAdmin) throw policyNotAuthorized('volume_extension:quotas:delete');
      await resetQuotas(svc.db, req.params.project);
      res.status(200).end();
    }),
  );
  r.get(
    '/limits',
    route(async (_req, res) => {
      const ctx = ctxOf(res);
      const l = await quotaLimits(svc.db, ctx.projectId);
      const u = await quotaUsage(svc.db, ctx.projectId);
      res.json({
        limits: {
          rate: [],
          absolute: {
            maxTotalVolumes: l.volumes,
            maxTotalSnapshots: l.snapshots,
            maxTotalVolumeGigabytes: l.gigabytes,
            maxTotalBackups: l.backups,
            maxTotalBackupGigabytes: l.backup_gigabytes,
            totalVolumesUsed: u.volumes,
            totalSnapshotsUsed: u.snapshots,
            totalGigabytesUsed: u.gigabytes,
            totalBackupsUsed: 0,
            totalBackupGigabytesUsed: 0,
          },
        },
      });
    }),
  );
}

function v3Router(deps: ApiDeps, svc: VolumeService): Router {
  const r = Router({ mergeParams: true });
  mountVolumes(r, svc);
  mountMetadata(r, 'volumes', {
    get: async (ctx, id) => (await svc.visibleVolume(ctx, id)).metadata,
    save: (id, metadata) => updateVolume(svc.db, id, { metadata }),
  });
  mountSnapshots(r, svc);
  mountMetadata(r, 'snapshots', {
    get: async (ctx, id) => (await svc.visibleSnapshot(ctx, id)).metadata,
    save: (id, metadata) => updateSnapshot(svc.db, id, { metadata }),
  });
  mountTypes(r, svc);
  mountQuotas(r, svc);
  mountEmptyCollections(r);
  mountExtensions(r);
  r.get('/os-availability-zone', (_req, res) => {
    res.json({
      availabilityZoneInfo: [
        { zoneName: deps.config.DEFAULT.default_availability_zone, zoneState: { available: true } },
      ],
    });
  });
  return r;
}

export function cinderRouter(deps: ApiDeps, authenticate: RequestHandler): Router {
  const svc = deps.volumes;
  const router = Router();
  const apiBase = (req: Parameters<RequestHandler>[0]) => `${baseUrl(req)}${req.baseUrl}`;
  router.get('/', (req, res) => {
    res.status(300).json({ versions: [v3Doc(apiBase(req))] });
  });
  router.get('/v3', (req, res) => {
    res.json({ versions: [v3Doc(apiBase(req))] });
  });
  router.use(authenticate);
  router.use((req, res, next) => {
    res.setHeader('Vary', 'OpenStack-API-Version');
    const v = volumeVersion(req);
    (ctxOf(res) as ApiContext).version = v;
    res.setHeader('OpenStack-API-Version', `volume ${v}`);
    next();
  });
  router.use(refuseNulInUrl(() => badRequest('A NUL character is not allowed in a request.')));
  router.use(
    jsonBody(deps.config.api.max_request_body_size, () => badRequest('Malformed request body')),
  );
  const v3 = v3Router(deps, svc);
  router.use('/v3', v3);
  router.use('/v3/:project_id', v3);
  return router;
}
