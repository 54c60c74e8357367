/**
 * NUL characters in requests. PostgreSQL text cannot hold U+0000 and
 * fails the whole query on one, and no OpenStack name, id, filter or
 * value has one: a path, query string or JSON body that carries one is
 * refused as malformed before it reaches a query.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ApiFault } from './faults';

/** Whether a parsed JSON value has a NUL in any string, key or value. */
export function hasNulChar(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (!value || typeof value !== 'object') return false;
  for (const [k, v] of Object.entries(value))
    if (k.includes('\u0000') || hasNulChar(v)) return true;
  return false;
}

/** Refuses a request whose URL decodes to a NUL: `%00` anywhere in its path or query. */
export function refuseNulInUrl(malformed: () => ApiFault) {
  return (req: Request, _res: Response, next: NextFunction) => {
    next(/%00/.test(req.originalUrl) ? malformed() : undefined);
  };
}
