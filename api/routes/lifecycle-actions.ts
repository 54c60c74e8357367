/**
 * The server actions beyond power and images (POST /servers/{id}/action):
 * lock, resize, the admin actions, and the network proxies; each parses
 * its body as Nova's schema does, checks Nova's policy and answers Nova's
 * status. The actions berth's containers cannot do are refused as Nova
 * refuses them for a driver or deployment that cannot (no other host, no
 * rescue, no guest agent), never with a 500.
 */
import type { Request, Response } from 'express';
import Joi from 'joi';
import { VmState } from '../../nova/states';
import { type ApiContext, ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import type { Instance } from '../db/instances';
import {
  ApiFault,
  gone,
  badRequest,
  conflictingRequest,
  forbidden,
  itemNotFound,
  toApiFault,
} from '../faults';
import { requireAdmin } from '../policy';
import { NeutronError } from '../network/errors';
import { deleteServer } from '../servers/delete-server';
import { checkNotLocked, invalidState } from '../servers/instance-guards';
import { lockServer, unlockServer } from '../servers/lock-server';
import { resetState } from '../servers/reset-state';
import { shelveOffloadServer, shelveServer, unshelveServer } from '../servers/shelve-server';
import { finishResize, resizeServer } from '../servers/resize-server';
import { addFloatingIp, removeFloatingIp } from '../servers/server-floating-ips';
import { changeServerSecurityGroup } from '../servers/server-security-groups';
import { validate } from '../validate';
import { findServer } from './server-lookup';

interface ActionCall {
  deps: ApiDeps;
  ctx: ApiContext;
  uuid: string;
  body: unknown;
  /** the action's key, as Nova's messages name it */
  key: string;
}

type Handler = (a: ActionCall) => Promise<number>;

const NULL_BODY = Joi.valid(null);
const ANY_BODY = Joi.any();
const ip = Joi.string().ip({ cidr: 'forbidden' });

/** Nova's InstanceInvalidState check for an action berth does not record a task for. */
function requireState(inst: Instance, action: string, allowed: readonly string[]): void {
  if (inst.task_state !== null || !allowed.includes(inst.vm_state))
    throw invalidState(inst, action);
}

/** The server after Nova's lock check: what every state-changing action starts with. */
async function unlockedServer(a: ActionCall): Promise<Instance> {
  const inst = await findServer(a.deps.db, a.ctx, a.uuid);
  checkNotLocked(inst, a.ctx);
  return inst;
}

/** Neutron's errors as Nova's proxies answer them: by their status. */
function networkFault(err: unknown): unknown {
  if (!(err instanceof NeutronError)) return err;
  const by: Record<number, (m: string) => ApiFault> = {
    400: badRequest,
    403: forbidden,
    404: itemNotFound,
    409: conflictingRequest,
  };
  return by[err.status]?.(err.message) ?? toApiFault(err);
}

const proxy = async (fn: () => Promise<void>) => {
  try {
    await fn();
  } catch (err) {
    throw networkFault(err);
  }
};

/** Nova: the live or cold migration finds no host but the one the server is on. */
async function noOtherHost(a: ActionCall, host?: string) {
  const inst = await unlockedServer(a);
  if (host) {
    const known = await a.deps.db('services').where({ host, binary: 'nova-compute' }).first();
    if (!known) throw badRequest(`Compute host ${host} could not be found.`);
  }
  return inst;
}

const HANDLERS: Record<string, Handler> = {
  async lock(a) {
    const v273 = a.ctx.version.ge('2.73');
    const body = validate<{ locked_reason?: string } | null>(
      v273 ? Joi.object({ locked_reason: Joi.string().min(1).max(255) }).allow(null) : ANY_BODY,
      a.body,
      'lock',
    );
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    await lockServer(a.deps, a.ctx, inst, v273 ? (body?.locked_reason ?? null) : null);
    return 202;
  },
  async unlock(a) {
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    await unlockServer(a.deps, a.ctx, inst);
    return 202;
  },
  async resize(a) {
    const r = validate<{ flavorRef: string | number; 'OS-DCF:diskConfig'?: 'AUTO' | 'MANUAL' }>(
      Joi.object({
        flavorRef: Joi.alternatives(
          Joi.string().min(1).max(255),
          Joi.number().integer().min(1),
        ).required(),
        'OS-DCF:diskConfig': Joi.string().valid('AUTO', 'MANUAL'),
      }).required(),
      a.body,
      'resize',
    );
    await resizeServer(a.deps, a.ctx, a.uuid, String(r.flavorRef), r['OS-DCF:diskConfig']);
    return 202;
  },
  // Nova validates no body for confirmResize and revertResize (clients send null or {}).
  async confirmResize(a) {
    await finishResize(a.deps, a.ctx, a.uuid, 'confirm');
    return 204;
  },
  async revertResize(a) {
    await finishResize(a.deps, a.ctx, a.uuid, 'revert');
    return 202;
  },
  async migrate(a) {
    const body = validate<{ host?: string | null } | null>(
      a.ctx.version.ge('2.56')
        ? Joi.object({ host: Joi.string().max(255).allow(null) }).allow(null)
        : ANY_BODY,
      a.body,
      'migrate',
    );
    requireAdmin(
      a.ctx,
      body?.host
        ? 'os_compute_api:os-migrate-server:migrate:host'
        : 'os_compute_api:os-migrate-server:migrate',
    );
    const inst = await noOtherHost(a, body?.host ?? undefined);
    requireState(inst, 'migrate', [VmState.ACTIVE, VmState.STOPPED]);
    throw badRequest('No valid host was found. No valid host found for cold migrate');
  },
  async 'os-migrateLive'(a) {
    const bool = Joi.alternatives(
      Joi.boolean(),
      Joi.string().valid('True', 'False', 'true', 'false'),
    );
    const v225 = a.ctx.version.ge('2.25');
    const body = validate<{ host: string | null }>(
      Joi.object({
        block_migration: v225
          ? Joi.alternatives(bool, Joi.valid('auto')).required()
          : bool.required(),
        host: Joi.string().max(255).allow(null).required(),
        ...(v225 ? {} : { disk_over_commit: bool.required() }),
        ...(a.ctx.version.ge('2.30') && a.ctx.version.lt('2.68') ? { force: bool } : {}),
      }).required(),
      a.body,
      'os-migrateLive',
    );
    requireAdmin(
      a.ctx,
      body.host
        ? 'os_compute_api:os-migrate-server:migrate_live:host'
        : 'os_compute_api:os-migrate-server:migrate_live',
    );
    const inst = await noOtherHost(a, body.host ?? undefined);
    requireState(inst, 'os-migrateLive', [VmState.ACTIVE, VmState.PAUSED]);
    throw badRequest('No valid host was found. No valid host found for live migration');
  },
  async 'os-resetState'(a) {
    const { state } = validate<{ state: 'active' | 'error' }>(
      Joi.object({ state: Joi.string().valid('active', 'error').required() }).required(),
      a.body,
      'os-resetState',
    );
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    requireAdmin(a.ctx, 'os_compute_api:os-admin-actions:reset_state');
    await resetState(a.deps, a.ctx, inst, state);
    return 202;
  },
  async injectNetworkInfo(a) {
    validate(NULL_BODY, a.body, 'injectNetworkInfo');
    requireAdmin(a.ctx, 'os_compute_api:os-admin-actions:inject_network_info');
    // The data plane keeps each instance's network files in step; nothing to inject.
    await unlockedServer(a);
    return 202;
  },
  async resetNetwork() {
    throw gone();
  },
  async trigger_crash_dump(a) {
    if (a.ctx.version.lt('2.17')) throw badRequest(`There is no such action: ${a.key}`);
    validate(NULL_BODY, a.body, a.key);
    const inst = await unlockedServer(a);
    requireState(inst, a.key, [VmState.ACTIVE, VmState.PAUSED, VmState.STOPPED, VmState.RESIZED]);
    throw badRequest('Triggering crash dump is not supported');
  },
  async changePassword(a) {
    validate(
      Joi.object({ adminPass: Joi.string().max(255).required() }).required(),
      a.body,
      'changePassword',
    );
    const inst = await unlockedServer(a);
    requireState(inst, 'changePassword', [VmState.ACTIVE]);
    // Nova's answer when the driver has no set_admin_password (no guest agent).
    throw new ApiFault(501, 'notImplemented', 'Unable to set password on instance');
  },
  // Nova checks no body for shelve and shelveOffload: Tempest sends `{}`, the CLI null.
  async shelve(a) {
    await shelveServer(a.deps, a.ctx, a.uuid);
    return 202;
  },
  async shelveOffload(a) {
    await shelveOffloadServer(a.deps, a.ctx, a.uuid);
    return 202;
  },
  async unshelve(a) {
    // 2.77 lets the body name the zone to unshelve into (2.91 a host, which berth does not pick).
    // Before it, like shelve, the body is not read.
    const body = a.ctx.version.ge('2.77')
      ? validate<{ availability_zone?: string } | null>(
          Joi.object({ availability_zone: Joi.string().min(1).max(255) }).allow(null),
          a.body,
          'unshelve',
        )
      : null;
    await unshelveServer(a.deps, a.ctx, a.uuid, body?.availability_zone);
    return 202;
  },
  async rescue(a) {
    validate(
      Joi.object({ adminPass: Joi.string().max(255), rescue_image_ref: Joi.string() }).allow(null),
      a.body,
      'rescue',
    );
    const inst = await unlockedServer(a);
    requireState(inst, 'rescue', [VmState.ACTIVE, VmState.STOPPED, VmState.ERROR]);
    throw badRequest(
      `Instance ${inst.uuid} cannot be rescued: the container driver does not support rescue`,
    );
  },
  async unrescue(a) {
    validate(NULL_BODY, a.body, 'unrescue');
    const inst = await unlockedServer(a);
    // Nothing can be rescued (see rescue), so nothing is in vm_state rescued.
    throw invalidState(inst, 'unrescue');
  },
  // Nova reads no body for restore and forceDelete: `{}` (Tempest's) is as good as null.
  async restore(a) {
    validate(ANY_BODY, a.body, 'restore');
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    // Deletes are immediate ([DEFAULT] reclaim_instance_interval 0): nothing is soft-deleted.
    throw invalidState(inst, 'restore');
  },
  async forceDelete(a) {
    validate(ANY_BODY, a.body, 'forceDelete');
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    await deleteServer(a.deps, a.ctx, inst);
    return 202;
  },
  async addSecurityGroup(a) {
    return securityGroupAction(a, 'add');
  },
  async removeSecurityGroup(a) {
    return securityGroupAction(a, 'remove');
  },
  async addFloatingIp(a) {
    if (a.ctx.version.ge('2.44')) throw itemNotFound('The resource could not be found.');
    const body = validate<{ address: string; fixed_address?: string }>(
      Joi.object({ address: ip.required(), fixed_address: ip }).required(),
      a.body,
      'addFloatingIp',
    );
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    await proxy(() => addFloatingIp(a.deps, a.ctx, inst, body.address, body.fixed_address));
    return 202;
  },
  async removeFloatingIp(a) {
    if (a.ctx.version.ge('2.44')) throw itemNotFound('The resource could not be found.');
    const body = validate<{ address: string }>(
      Joi.object({ address: ip.required() }).required(),
      a.body,
      'removeFloatingIp',
    );
    const inst = await findServer(a.deps.db, a.ctx, a.uuid);
    await proxy(() => removeFloatingIp(a.deps, a.ctx, inst, body.address));
    return 202;
  },
};

async function securityGroupAction(a: ActionCall, how: 'add' | 'remove'): Promise<number> {
  const { name } = validate<{ name: string }>(
    Joi.object({ name: Joi.string().min(1).max(255).required() }).required(),
    a.body,
    a.key,
  );
  const inst = await findServer(a.deps.db, a.ctx, a.uuid);
  await proxy(() => changeServerSecurityGroup(a.deps, a.ctx, inst, name, how));
  return 202;
}

/** Answers `key` when it is one of these actions; false when it is not. */
export async function lifecycleAction(
  deps: ApiDeps,
  req: Request,
  res: Response,
  key: string,
  body: unknown,
): Promise<boolean> {
  const handler = Object.hasOwn(HANDLERS, key) ? HANDLERS[key] : undefined;
  if (!handler) return false;
  const uuid = (req.params as { id: string }).id;
  const status = await handler({ deps, ctx: ctxOf(res), uuid, body, key });
  res.status(status).end();
  return true;
}
