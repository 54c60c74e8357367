/**
 * POST /servers/{id}/action: the power and lifecycle actions, checked
 * against the instance's state as nova-api checks them, the task recorded
 * (so a second request conflicts), then cast to the instance's host; and
 * os-getConsoleOutput, a call.
 */
import { groupsOfInstance } from '../db/server-groups';
import { attachmentsByInstance } from '../volume/store';
import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import Joi from 'joi';
import { CONSOLE_OUTPUT, type NovaTransition, TRANSITIONS } from '../../nova/actions';
import { baseUrl, ctxOf, rpcContext } from '../context';
import { getInstance } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest } from '../faults';
import { now, route } from '../http';
import { metadataSchema } from './server-metadata';
import { rebuildServer } from '../servers/rebuild-server';
import { snapshotServer } from '../servers/snapshot-server';
import { serverDetail, serverUpdateView } from '../views/servers';
import { integerLike, novaBoolean, novaName, validate } from '../validate';
import { callCompute } from './compute-errors';
import { CONSOLE_ACTIONS, consoleAction } from './remote-consoles';
import { findServer } from './server-lookup';
import { lifecycleAction } from './lifecycle-actions';

interface CastAction {
  transition: NovaTransition;
  args?: Record<string, unknown>;
}

const CASTS: Record<string, (body: unknown) => CastAction> = {
  'os-stop': () => ({ transition: TRANSITIONS.stop, args: { clean_shutdown: true } }),
  'os-start': () => ({ transition: TRANSITIONS.start }),
  pause: () => ({ transition: TRANSITIONS.pause }),
  unpause: () => ({ transition: TRANSITIONS.unpause }),
  suspend: () => ({ transition: TRANSITIONS.suspend }),
  resume: () => ({ transition: TRANSITIONS.resume }),
  reboot: (body) => {
    const { type } = validate<{ type: string }>(
      Joi.object({
        type: Joi.string().valid('SOFT', 'HARD', 'soft', 'hard').required(),
      }).required(),
      body,
      'reboot',
    );
    const hard = type.toUpperCase() === 'HARD';
    return {
      transition: hard ? TRANSITIONS.rebootHard : TRANSITIONS.rebootSoft,
      args: { reboot_type: hard ? 'HARD' : 'SOFT', block_device_info: null },
    };
  },
};

const CREATE_IMAGE = Joi.object({
  name: novaName.required(),
  metadata: metadataSchema,
}).required();

const CREATE_BACKUP = Joi.object({
  name: novaName.required(),
  backup_type: Joi.string().max(255).required(),
  rotation: integerLike(0).required(),
  metadata: metadataSchema,
}).required();

/** Nova's rebuild schema (2.1 to 2.90): what it names is accepted, the rest refused. */
const REBUILD_BODY = Joi.object({
  imageRef: Joi.string().min(1).required(),
  name: novaName,
  adminPass: Joi.string().max(255),
  metadata: metadataSchema,
  preserve_ephemeral: novaBoolean,
  'OS-DCF:diskConfig': Joi.string().valid('AUTO', 'MANUAL'),
  accessIPv4: Joi.string()
    .ip({ version: ['ipv4'], cidr: 'forbidden' })
    .allow(''),
  accessIPv6: Joi.string()
    .ip({ version: ['ipv6'], cidr: 'forbidden' })
    .allow(''),
  personality: Joi.array(),
  description: Joi.string().max(255).allow('', null),
  key_name: Joi.string().allow(null),
  user_data: Joi.string().max(65535).allow(null),
  trusted_image_certificates: Joi.array().allow(null),
  hostname: Joi.string().max(255),
}).required();

const NO_ARGS = Joi.alternatives(Joi.object({}).unknown(false), Joi.valid(null));

/** createImage: 202 with the new image's id (2.45 on) or its URL in Location (before). */
async function createImage(
  deps: ApiDeps,
  req: Request,
  res: Response,
  uuid: string,
  body: unknown,
) {
  const ctx = ctxOf(res);
  const r = validate<{ name: string; metadata?: Record<string, string> }>(
    CREATE_IMAGE,
    body,
    'createImage',
  );
  const image = await snapshotServer(deps, ctx, uuid, {
    name: r.name,
    metadata: r.metadata ?? {},
  });
  imageAccepted(req, res, image.id);
}

function imageAccepted(req: Request, res: Response, imageId: string) {
  if (ctxOf(res).version.ge('2.45')) return res.status(202).json({ image_id: imageId });
  res.setHeader('Location', `${baseUrl(req)}/image/v2/images/${imageId}`);
  res.status(202).end();
}

/**
 * createBackup: a snapshot marked image_type backup of `backup_type`; of
 * the server's backups of that type only the `rotation` newest stay (the
 * new one always), rotated by the compute once the new one is uploaded.
 */
async function createBackup(
  deps: ApiDeps,
  req: Request,
  res: Response,
  uuid: string,
  body: unknown,
) {
  const ctx = ctxOf(res);
  const r = validate<{
    name: string;
    backup_type: string;
    rotation: number | string;
    metadata?: Record<string, string>;
  }>(CREATE_BACKUP, body, 'createBackup');
  const image = await snapshotServer(
    deps,
    ctx,
    uuid,
    {
      name: r.name,
      metadata: { ...r.metadata, image_type: 'backup', backup_type: r.backup_type },
    },
    { type: r.backup_type, rotation: Math.max(1, Number(r.rotation)) },
  );
  imageAccepted(req, res, image.id);
}

/** rebuild: 202 with the server as it is now (status REBUILD) and its admin password. */
async function rebuild(deps: ApiDeps, req: Request, res: Response, uuid: string, body: unknown) {
  const ctx = ctxOf(res);
  const r = validate<{
    imageRef: string;
    name?: string;
    adminPass?: string;
    metadata?: Record<string, string>;
    description?: string | null;
    preserve_ephemeral?: boolean;
    'OS-DCF:diskConfig'?: 'AUTO' | 'MANUAL';
  }>(REBUILD_BODY, body, 'rebuild');
  if (ctx.version.lt('2.19') && r.description !== undefined)
    throw badRequest(
      'Invalid input for field/attribute description. Additional properties are not allowed',
    );
  const adminPass = r.adminPass ?? randomUUID().replace(/-/g, '').slice(0, 12);
  const inst = await rebuildServer(deps, ctx, uuid, {
    imageRef: r.imageRef,
    name: r.name,
    metadata: r.metadata,
    description: r.description,
    adminPass,
    preserveEphemeral: r.preserve_ephemeral ?? false,
    diskConfig: r['OS-DCF:diskConfig'],
  });
  const networkInfo = new Map([[inst.uuid, await deps.instanceNetwork.networkInfo(inst.uuid)]]);
  const volumes = await attachmentsByInstance(deps.db, [inst.uuid]);
  const serverGroups = ctx.version.ge('2.71')
    ? await groupsOfInstance(deps.db, inst.uuid)
    : undefined;
  const shown = serverDetail(inst, { base: baseUrl(req), ctx, networkInfo, volumes, serverGroups });
  // Nova answers a rebuild as an update, with the key pair from 2.54, user data from 2.57
  // and server groups from 2.71.
  const server = serverUpdateView(shown, ctx.version);
  const also: [string, string][] = [
    ['2.54', 'key_name'],
    ['2.71', 'server_groups'],
  ];
  for (const [v, key] of also) if (ctx.version.ge(v) && key in shown) server[key] = shown[key];
  if (ctx.version.ge('2.57')) server.user_data = inst.user_data ?? null;
  // From 2.75 the answer is the show view, with user_data under its own name only.
  if (ctx.version.ge('2.75')) delete server['OS-EXT-SRV-ATTR:user_data'];
  res.status(202).json({ server: { ...server, adminPass } });
}

export function serverActionsRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const r = Router({ mergeParams: true });
  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = req.body as Record<string, unknown> | undefined;
      if (
        !body ||
        typeof body !== 'object' ||
        Array.isArray(body) ||
        Object.keys(body).length !== 1
      )
        throw badRequest('Invalid input: the action body must name exactly one action');
      const [key] = Object.keys(body);
      const uuid = (req.params as { id: string }).id;

      if (key === 'os-getConsoleOutput') {
        const { length } = validate<{ length?: number | string | null }>(
          Joi.object({
            length: Joi.alternatives(
              Joi.number().integer().min(-1),
              Joi.string().pattern(/^-?\d+$/),
              Joi.valid(null),
            ),
          }).required(),
          body[key],
          'os-getConsoleOutput',
        );
        const inst = await findServer(db, ctx, uuid);
        if (!inst.host || !CONSOLE_OUTPUT.allowed.includes(inst.vm_state as never))
          throw conflictingRequest(
            `Cannot '${CONSOLE_OUTPUT.method}' instance ${inst.uuid} while it is in vm_state ${inst.vm_state}`,
          );
        const n = length === undefined || length === null ? null : Number(length);
        const output = await callCompute(() =>
          deps.compute.getConsoleOutput(inst, n === null || n < 0 ? null : n, rpcContext(ctx)),
        );
        // Nova strips the control characters XML could not carry; clients came to expect it.
        // eslint-disable-next-line no-control-regex
        return res.json({ output: output.replace(/[\x00-\x08\x0B-\x1F]/g, '') });
      }

      if (key === 'createImage') return createImage(deps, req, res, uuid, body[key]);
      if (key === 'createBackup') return createBackup(deps, req, res, uuid, body[key]);
      if (key === 'rebuild') return rebuild(deps, req, res, uuid, body[key]);
      if (Object.hasOwn(CONSOLE_ACTIONS, key))
        return consoleAction(deps, req, res, uuid, key, body[key]);
      if (await lifecycleAction(deps, req, res, key, body[key])) return;

      const make = Object.hasOwn(CASTS, key) ? CASTS[key] : undefined;
      if (!make) throw badRequest(`There is no such action: ${key}`);
      if (key !== 'reboot') validate(NO_ARGS, body[key], key);
      const { transition: t, args } = make(body[key]);
      const inst = await findServer(db, ctx, uuid);
      if (Boolean(inst.locked) && !ctx.isAdmin)
        throw conflictingRequest(`Instance ${inst.uuid} is locked`);
      const refuse = () =>
        conflictingRequest(
          `Cannot '${t.name}' instance ${inst.uuid} while it is in ${inst.task_state ? `task_state ${inst.task_state}` : `vm_state ${inst.vm_state}`}`,
        );
      if (!inst.host) throw refuse();
      // The state check and the task are one conditional update: of two
      // concurrent requests, the second sees the first's task and conflicts.
      const updated = await db('instances')
        .where({ uuid: inst.uuid, deleted: false })
        .whereNull('task_state')
        .whereIn('vm_state', t.allowed as readonly string[])
        .update({ task_state: t.task, updated_at: now() });
      if (updated === 0) throw refuse();
      await recordAction(db, inst.uuid, t.name, ctx);
      const current = (await getInstance(db, inst.uuid))!;
      try {
        await deps.compute.lifecycle(t.method, current, rpcContext(ctx), args);
      } catch (err) {
        await db('instances')
          .where({ uuid: inst.uuid, task_state: t.task })
          .update({ task_state: null });
        throw err;
      }
      res.status(202).end();
    }),
  );
  return r;
}
