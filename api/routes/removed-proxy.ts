/**
 * APIs Nova removed at a microversion: from it on every path under them is
 * unknown, as Nova answers. The proxy APIs (images, security groups,
 * floating IPs, networks) stop at 2.35 (MAX_PROXY_API_SUPPORT_VERSION),
 * os-hosts at 2.42.
 */
import type { NextFunction, Request, Response } from 'express';
import { ctxOf } from '../context';
import { itemNotFound } from '../faults';

export function removedAt(version: string) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (ctxOf(res).version.ge(version))
      return next(itemNotFound('The resource could not be found.'));
    next();
  };
}

export const removedAt236 = removedAt('2.36');
