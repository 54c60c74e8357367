/**
 * /v2.1/os-keypairs: a user's SSH (or X.509) public keys, imported or —
 * before 2.92 — generated here with the private half returned once.
 * Admins may act for another user with user_id (2.10).
 */
import { Router, type Request } from 'express';
import Joi from 'joi';
import { baseUrl, ctxOf, type ApiContext } from '../context';
import type { Database } from '../db/connection';
import {
  deleteKeypair,
  generateSshKeypair,
  generateX509Keypair,
  getKeypair,
  insertKeypair,
  keypairNotFound,
  listKeypairs,
  sshFingerprint,
  x509Fingerprint,
  type KeypairType,
} from '../db/keypairs';
import { overQuota } from '../db/quotas';
import type { ApiDeps } from '../deps';
import { forbidden } from '../faults';
import { nextLinks, route } from '../http';
import type { Microversion } from '../microversion';
import { ADMIN_RULES, requireUserOrAdmin } from '../policy';
import { refuseUnknownFrom275, validate, validateQuery } from '../validate';
import { keypairBrief, keypairCreated, keypairDetail } from '../views/keypairs';

// Printable, no leading or trailing whitespace, and only these characters (2.92 adds "@" and ".").
const keypairName = (v: Microversion) =>
  Joi.string()
    .min(1)
    .max(255)
    .pattern(/^\S(.*\S)?$/, 'no leading or trailing whitespace')
    .pattern(
      v.ge('2.92') ? /^[_\-@. a-zA-Z0-9]+$/ : /^[_\- a-zA-Z0-9]+$/,
      v.ge('2.92')
        ? 'letters, digits, "_", "-", "@", "." and spaces'
        : 'letters, digits, "_", "-" and spaces',
    );

function createSchema(v: Microversion) {
  const keys: Record<string, Joi.Schema> = {
    name: keypairName(v).required(),
    public_key: v.ge('2.92') ? Joi.string().required() : Joi.string(),
  };
  if (v.ge('2.2')) keys.type = Joi.string().valid('ssh', 'x509');
  if (v.ge('2.10')) keys.user_id = Joi.string();
  return Joi.object({ keypair: Joi.object(keys).required() }).required();
}

interface CreateBody {
  keypair: { name: string; public_key?: string; type?: KeypairType; user_id?: string };
}

function querySchema(v: Microversion, list: boolean) {
  const keys: Record<string, Joi.Schema> = {};
  if (v.ge('2.10')) keys.user_id = Joi.string();
  if (list && v.ge('2.35'))
    Object.assign(keys, { limit: Joi.number().integer().min(0), marker: Joi.string() });
  return refuseUnknownFrom275(Joi.object(keys), v);
}

interface Query {
  user_id?: string;
  limit?: number;
  marker?: string;
}

/** The user a request acts for: the caller, or user_id (2.10) when the caller is allowed. */
function actingUser(
  req: Request,
  ctx: ApiContext,
  list: boolean,
  rule: string,
): Query & { userId: string } {
  const q = validateQuery<Query>(querySchema(ctx.version, list), req.query);
  // Before 2.10 user_id is not a parameter: unvalidated, and ignored as Nova ignores it.
  const userId = (ctx.version.ge('2.10') ? q.user_id : undefined) ?? ctx.userId;
  requireUserOrAdmin(ctx, userId, rule);
  return { ...q, userId };
}

async function material(k: CreateBody['keypair'], type: KeypairType, userId: string) {
  if (k.public_key !== undefined) {
    const fingerprint =
      type === 'x509' ? x509Fingerprint(k.public_key) : sshFingerprint(k.public_key);
    return { publicKey: k.public_key, fingerprint, privateKey: undefined };
  }
  return type === 'x509' ? generateX509Keypair(userId) : generateSshKeypair();
}

async function checkKeypairQuota(db: Database, deps: ApiDeps, ctx: ApiContext, userId: string) {
  const count = await db('key_pairs').where({ user_id: userId }).count({ n: '*' }).first();
  if (await overQuota(db, deps.config, ctx.projectId, 'key_pairs', Number(count?.n ?? 0), 1))
    throw forbidden('Quota exceeded, too many key pairs.');
}

export function keypairsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const q = actingUser(req, ctx, true, ADMIN_RULES.keypairsIndex);
      const paged = v.ge('2.35');
      const limit = paged
        ? Math.min(q.limit || config.api.max_limit, config.api.max_limit)
        : undefined;
      const rows = await listKeypairs(db, q.userId, {
        limit,
        marker: paged ? q.marker : undefined,
      });
      const body: Record<string, unknown> = {
        keypairs: rows.map((k) => ({ keypair: keypairBrief(k, v) })),
      };
      if (paged) {
        const links = nextLinks(
          baseUrl(req),
          '/v2.1/os-keypairs',
          req.query as Record<string, unknown>,
          rows.map((k) => ({ id: k.name })),
          limit,
        );
        if (links) body.keypairs_links = links;
      }
      res.json(body);
    }),
  );

  router.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const v = ctx.version;
      const k = validate<CreateBody>(createSchema(v), req.body).keypair;
      const userId = k.user_id ?? ctx.userId;
      requireUserOrAdmin(ctx, userId, ADMIN_RULES.keypairsCreate);
      const type = k.type ?? 'ssh';
      await checkKeypairQuota(db, deps, ctx, userId);
      const { publicKey, fingerprint, privateKey } = await material(k, type, userId);
      const row = await insertKeypair(db, {
        name: k.name,
        user_id: userId,
        project_id: ctx.projectId,
        fingerprint,
        public_key: publicKey,
        type,
      });
      res.status(v.ge('2.2') ? 201 : 200).json({ keypair: keypairCreated(row, v, privateKey) });
    }),
  );

  router.get(
    '/:name',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { userId } = actingUser(req, ctx, false, ADMIN_RULES.keypairsShow);
      const row = await getKeypair(db, userId, req.params.name);
      if (!row) throw keypairNotFound(req.params.name, userId);
      res.json({ keypair: keypairDetail(row, ctx.version) });
    }),
  );

  router.delete(
    '/:name',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { userId } = actingUser(req, ctx, false, ADMIN_RULES.keypairsDelete);
      await deleteKeypair(db, userId, req.params.name);
      res.status(ctx.version.ge('2.2') ? 204 : 202).end();
    }),
  );
  return router;
}
