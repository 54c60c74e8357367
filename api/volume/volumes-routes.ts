/**
 * /volumes: list, detail, create, show, update, delete, metadata and the
 * actions clients send (os-extend, os-reset_status, os-set_bootable,
 * os-update_readonly_flag), answered as Cinder's volumes controller does.
 */
import type { Request, Response, Router } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import { route } from '../http';
import { validate } from '../validate';
import { invalidInput, policyNotAuthorized } from './errors';
import { listPage } from './list-params';
import { metadataSchema, name } from './parameter-types';
import {
  detailsOf,
  listVolumes,
  transition,
  updateVolume,
  type Metadata,
  type VolumeRow,
} from './store';
import { volumeSummary, volumeView, type LinkBase } from './views';
import type { VolumeService } from './volume-service';

/** Cinder's size: an integer or a string of digits, at least 1. */
const size = Joi.alternatives(
  Joi.number().integer().min(1).max(0x7fffffff),
  Joi.string().pattern(/^[0-9]{1,10}$/),
);
const toSize = (s: number | string) => Number(s);

const createSchema = Joi.object({
  volume: Joi.object({
    size: size.allow(null),
    name,
    display_name: name,
    description: name,
    display_description: name,
    volume_type: Joi.string().max(255).allow(null),
    availability_zone: Joi.string().max(255).allow(null),
    metadata: metadataSchema.allow(null),
    snapshot_id: Joi.string().max(36).allow(null),
    source_volid: Joi.any(),
    imageRef: Joi.string().max(255).allow(null),
    backup_id: Joi.any(),
    consistencygroup_id: Joi.any().valid(null),
    multiattach: Joi.boolean(),
    scheduler_hints: Joi.any(),
  }).required(),
  'OS-SCH-HNT:scheduler_hints': Joi.any(),
});

const updateSchema = Joi.object({
  volume: Joi.object({
    name,
    display_name: name,
    description: name,
    display_description: name,
    metadata: metadataSchema.allow(null),
  })
    .min(1)
    .required(),
});

export const linkBase = (req: Request, ctx: ApiContext): LinkBase => ({
  base: `${baseUrl(req)}/volume`,
  projectId: (req.params as { project_id?: string }).project_id ?? ctx.projectId,
});

/** The caller's rows, or with `all_tenants` an admin's view of every project's. */
export function scopeOf(req: Request, ctx: ApiContext): string | undefined {
  const all = req.query.all_tenants;
  const wantsAll = all !== undefined && !/^(0|false|no|off)$/i.test(String(all));
  const project = typeof req.query.project_id === 'string' ? req.query.project_id : undefined;
  if (ctx.isAdmin && wantsAll) return project;
  return ctx.projectId;
}

/** The `name` and `status` filters clients send, exact as Cinder's are. */
function filtered<T extends { name: string | null; status: string }>(req: Request, rows: T[]) {
  const want = (k: 'name' | 'status') =>
    typeof req.query[k] === 'string' ? req.query[k] : undefined;
  const n = want('name');
  const s = want('status');
  return rows.filter(
    (r) => (n === undefined || r.name === n) && (s === undefined || r.status === s),
  );
}

export function volumeViews(svc: VolumeService) {
  return async (req: Request, ctx: ApiContext, rows: VolumeRow[]) =>
    (await detailsOf(svc.db, rows)).map((d) =>
      volumeView(ctx, linkBase(req, ctx), d.volume, d.attachments, d.typeName),
    );
}

const RESET_STATES = [
  'available',
  'error',
  'creating',
  'deleting',
  'in-use',
  'attaching',
  'detaching',
  'error_deleting',
  'maintenance',
  'reserved',
  'error_extending',
];

type Action = (svc: VolumeService, ctx: ApiContext, v: VolumeRow, arg: unknown) => Promise<number>;

const boolish = Joi.alternatives(
  Joi.boolean(),
  Joi.string().valid('true', 'false', 'True', 'False', '1', '0', 'yes', 'no'),
);
const asBool = (b: boolean | string) => b === true || /^(true|1|yes)$/i.test(String(b));

const ACTIONS: Record<string, Action> = {
  'os-extend': async (svc, ctx, v, arg) => {
    const { new_size } = validate<{ new_size: number | string }>(
      Joi.object({ new_size: size.required() }).required(),
      arg,
      'os-extend',
    );
    await svc.extend(ctx, v, toSize(new_size));
    return 202;
  },
  'os-reset_status': async (svc, ctx, v, arg) => {
    if (!ctx.isAdmin)
      throw policyNotAuthorized('volume_extension:volume_admin_actions:reset_status');
    const r = validate<{ status: string }>(
      Joi.object({
        status: Joi.string()
          .valid(...RESET_STATES)
          .insensitive()
          .required(),
        attach_status: Joi.string().valid('attached', 'detached'),
        migration_status: Joi.string().allow(null),
      }).required(),
      arg,
      'os-reset_status',
    );
    await transition(svc.db, v.id, [v.status], {
      status: r.status.toLowerCase(),
      status_reason: null,
    });
    return 202;
  },
  'os-set_bootable': async (svc, _ctx, v, arg) => {
    const r = validate<{ bootable: boolean | string }>(
      Joi.object({ bootable: boolish.required() }).required(),
      arg,
      'os-set_bootable',
    );
    await updateVolume(svc.db, v.id, { bootable: asBool(r.bootable) });
    return 200;
  },
  'os-update_readonly_flag': async (svc, _ctx, v, arg) => {
    const r = validate<{ readonly: boolean | string }>(
      Joi.object({ readonly: boolish.required() }).required(),
      arg,
      'os-update_readonly_flag',
    );
    if (v.status !== 'available' && v.status !== 'in-use')
      throw invalidInput(`Volume ${v.id} status must be available or in-use.`);
    await updateVolume(svc.db, v.id, { readonly: asBool(r.readonly) });
    return 202;
  },
};

const VOLUME_SORT_KEYS = [
  'id',
  'name',
  'status',
  'size',
  'availability_zone',
  'bootable',
  'created_at',
  'updated_at',
];

export function mountVolumes(r: Router, svc: VolumeService): void {
  const views = volumeViews(svc);
  const list = (detail: boolean) =>
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const page = listPage(
        req,
        filtered(req, await listVolumes(svc.db, scopeOf(req, ctx))),
        VOLUME_SORT_KEYS,
      );
      const rows = page.rows;
      res.json({
        volumes: detail
          ? await views(req, ctx, rows)
          : rows.map((v) => volumeSummary(linkBase(req, ctx), v)),
        ...(page.links && { volumes_links: page.links }),
      });
    });
  r.get('/volumes', list(false));
  r.get('/volumes/detail', list(true));
  r.post(
    '/volumes',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const b = validate<{ volume: Record<string, unknown> }>(createSchema, req.body).volume;
      for (const unsupported of ['source_volid', 'backup_id'])
        if (b[unsupported] != null)
          throw invalidInput(
            `berth makes volumes blank, from an image or from a snapshot, not from ${unsupported}.`,
          );
      const v = await svc.create(ctx, {
        size: b.size == null ? undefined : toSize(b.size as number | string),
        name: (b.name ?? b.display_name ?? null) as string | null,
        description: (b.description ?? b.display_description ?? null) as string | null,
        volume_type: b.volume_type as string | null,
        availability_zone: b.availability_zone as string | null,
        metadata: (b.metadata ?? {}) as Metadata,
        snapshot_id: b.snapshot_id as string | null,
        multiattach: b.multiattach as boolean | undefined,
        imageRef: b.imageRef as string | null,
      });
      const view = (await views(req, ctx, [v]))[0];
      // Cinder's extensions add their attributes (os-vol-*, volume_image_metadata) to show and
      // list, not to a create's answer.
      for (const k of Object.keys(view))
        if (k.startsWith('os-vol-') || k === 'volume_image_metadata') delete view[k];
      res.status(202).json({ volume: view });
    }),
  );
  const one = (fn: (req: Request, res: Response, ctx: ApiContext, v: VolumeRow) => Promise<void>) =>
    route(async (req, res) => {
      const ctx = ctxOf(res);
      await fn(req, res, ctx, await svc.visibleVolume(ctx, req.params.id));
    });
  const show = async (req: Request, res: Response, ctx: ApiContext, id: string) => {
    res.json({ volume: (await views(req, ctx, [await svc.visibleVolume(ctx, id)]))[0] });
  };
  r.get(
    '/volumes/:id',
    one((req, res, ctx, v) => show(req, res, ctx, v.id)),
  );
  r.put(
    '/volumes/:id',
    one(async (req, res, ctx, v) => {
      const b = validate<{ volume: Record<string, string | null> }>(updateSchema, req.body).volume;
      const changes: Partial<VolumeRow> = {};
      if ('name' in b || 'display_name' in b) changes.name = b.name ?? b.display_name ?? null;
      if ('description' in b || 'display_description' in b)
        changes.description = b.description ?? b.display_description ?? null;
      if (b.metadata) changes.metadata = b.metadata as unknown as Metadata;
      await updateVolume(svc.db, v.id, changes);
      await show(req, res, ctx, v.id);
    }),
  );
  r.delete(
    '/volumes/:id',
    one(async (_req, res, ctx, v) => {
      await svc.remove(ctx, v);
      res.status(202).end();
    }),
  );
  r.post(
    '/volumes/:id/action',
    one(async (req, res, ctx, v) => {
      const body = req.body as Record<string, unknown> | undefined;
      const names =
        body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
      const action =
        names.length === 1 && Object.hasOwn(ACTIONS, names[0]) ? ACTIONS[names[0]] : undefined;
      if (!action)
        throw invalidInput(
          `There is no such action: ${names.join(', ') || 'none'}; berth knows ${Object.keys(ACTIONS).join(', ')}.`,
        );
      res.status(await action(svc, ctx, v, body![names[0]])).end();
    }),
  );
}

export const metadataSchemas = {
  set: Joi.object({ metadata: metadataSchema.required() }),
  one: Joi.object({ meta: metadataSchema.length(1).required() }),
};
