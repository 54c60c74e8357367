/**
 * Who is asking, and at which microversion: set on every request by the
 * auth and version middleware, read by routes and policy.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from 'winston';
import { requestedVersion, type Microversion } from './microversion';

export interface Credentials {
  userId: string;
  projectId: string;
  roles: string[];
  isAdmin: boolean;
}

export interface ApiContext extends Credentials {
  requestId: string;
  version: Microversion;
  /** the request's logger: every line carries request_id */
  log: Logger;
  /** the token the caller sent: passed on to a Keystone-backed Glance, as Nova does */
  authToken?: string;
}

export function ctxOf(res: Response): ApiContext {
  const ctx = (res.locals as { ctx?: ApiContext }).ctx;
  if (!ctx) throw new Error('request context missing: auth middleware not mounted');
  return ctx;
}

/**
 * The control plane acting on its own (the conductor cleaning up after a
 * compute's report): an admin of no project, at the base microversion.
 */
export function systemContext(log: Logger): ApiContext {
  const requestId = `req-${randomUUID()}`;
  return {
    userId: '',
    projectId: '',
    roles: ['admin'],
    isAdmin: true,
    requestId,
    version: requestedVersion({}),
    log: log.child({ request_id: requestId }),
  };
}

/** The externally visible base URL (for links), from the Host the client used. */
export function baseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/** The oslo.context a request carries into RPC, as nova-api sends it. */
export function rpcContext(ctx: ApiContext) {
  return {
    request_id: ctx.requestId,
    global_request_id: null,
    user: ctx.userId,
    user_id: ctx.userId,
    tenant: ctx.projectId,
    project_id: ctx.projectId,
    is_admin: ctx.isAdmin,
    roles: ctx.roles,
    read_deleted: 'no',
  };
}
