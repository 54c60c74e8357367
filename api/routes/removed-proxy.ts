/**
 * Nova's proxy APIs (images, security groups, floating IPs, networks)
 * stop at microversion 2.35 (MAX_PROXY_API_SUPPORT_VERSION): from 2.36 on
 * every path under them is unknown, as Nova answers.
 */
import type { NextFunction, Request, Response } from 'express';
import { ctxOf } from '../context';
import { itemNotFound } from '../faults';

export function removedAt236(_req: Request, res: Response, next: NextFunction): void {
  if (ctxOf(res).version.ge('2.36')) return next(itemNotFound('The resource could not be found.'));
  next();
}
