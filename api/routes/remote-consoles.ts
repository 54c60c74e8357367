/**
 * POST /servers/{id}/remote-consoles (2.6 on), the legacy
 * os-get*Console actions (2.1 to 2.5), and GET /os-console-auth-tokens/{token}.
 */
import { type Request, type Response, Router } from 'express';
import Joi from 'joi';
import { serialConsoleUrl } from '../console/serial-console';
import { ConsoleTokens, TokenRefused } from '../console/tokens';
import { baseUrl, ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, itemNotFound } from '../faults';
import { route } from '../http';
import { requireAdmin } from '../policy';
import { validate } from '../validate';

const PROTOCOLS = ['vnc', 'spice', 'rdp', 'serial'];
const TYPES = ['novnc', 'xvpvnc', 'rdp-html5', 'spice-html5', 'serial'];

/** Nova's create_v26 and, from 2.8, create_v28 (mks/webmks). */
function remoteConsoleSchema(mks: boolean) {
  return Joi.object({
    remote_console: Joi.object({
      protocol: Joi.string()
        .valid(...PROTOCOLS, ...(mks ? ['mks'] : []))
        .required(),
      type: Joi.string()
        .valid(...TYPES, ...(mks ? ['webmks'] : []))
        .required(),
    }).required(),
  }).required();
}

/** The legacy actions and the protocol each stands for; only serial's type is Nova's one enum. */
export const CONSOLE_ACTIONS: Record<string, { protocol: string; types: string[] }> = {
  'os-getVNCConsole': { protocol: 'vnc', types: ['novnc', 'xvpvnc'] },
  'os-getSPICEConsole': { protocol: 'spice', types: ['spice-html5'] },
  'os-getRDPConsole': { protocol: 'rdp', types: ['rdp-html5'] },
  'os-getSerialConsole': { protocol: 'serial', types: ['serial'] },
};

/** POST /servers/{id}/action with an os-get*Console key: `{console: {type, url}}`. */
export async function consoleAction(
  deps: ApiDeps,
  req: Request,
  res: Response,
  uuid: string,
  action: string,
  body: unknown,
) {
  const ctx = ctxOf(res);
  if (ctx.version.ge('2.6')) throw itemNotFound('The resource could not be found.');
  const { protocol, types } = CONSOLE_ACTIONS[action];
  const { type } = validate<{ type: string }>(
    Joi.object({
      type: Joi.string()
        .valid(...types)
        .required(),
    }).required(),
    body,
    action,
  );
  const url = await serialConsoleUrl(deps, ctx, uuid, protocol, type, baseUrl(req));
  res.json({ console: { type, url } });
}

export function remoteConsolesRouter(deps: ApiDeps): Router {
  const r = Router({ mergeParams: true });
  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      if (ctx.version.lt('2.6')) throw itemNotFound('The resource could not be found.');
      const { remote_console: c } = validate<{
        remote_console: { protocol: string; type: string };
      }>(remoteConsoleSchema(ctx.version.ge('2.8')), req.body, 'remote_console');
      const uuid = (req.params as { id: string }).id;
      const url = await serialConsoleUrl(deps, ctx, uuid, c.protocol, c.type, baseUrl(req));
      res.json({ remote_console: { protocol: c.protocol, type: c.type, url } });
    }),
  );
  return r;
}

/** Nova's os-console-auth-tokens show: admin only; serial tokens from 2.31 (before, rdp only). */
export function consoleAuthTokensRouter(deps: ApiDeps): Router {
  const r = Router();
  r.get(
    '/:token',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      requireAdmin(ctx, 'os_compute_api:os-console-auth-tokens');
      const tokens = new ConsoleTokens(deps.db, deps.config.console.token_ttl);
      const t = await tokens.show(req.params.token).catch((err: unknown) => {
        if (err instanceof TokenRefused)
          throw itemNotFound('The requested console token was not found');
        throw err;
      });
      if (ctx.version.lt('2.31') && t.console_type !== 'rdp-html5')
        throw badRequest('The requested console type details are not accessible');
      res.json({
        console: {
          instance_uuid: t.instance_uuid,
          host: t.host,
          port: t.port,
          internal_access_path: t.internal_access_path,
        },
      });
    }),
  );
  return r;
}
