/** JSON request bodies for the API and the image API: one parser, one size limit rule. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiFault } from './faults';

/**
 * Parses JSON bodies of any declared type; an empty body is undefined, an
 * oversize one is 413 (express's error status), bad JSON is `malformed()`.
 */
export function jsonBody(limit: number, malformed: () => ApiFault) {
  const raw = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction) => {
    raw(req, res, (err?: unknown) => {
      if (err) return next(err);
      const buf = req.body as Buffer | undefined;
      if (!Buffer.isBuffer(buf) || buf.length === 0) {
        req.body = undefined;
        return next();
      }
      try {
        req.body = JSON.parse(buf.toString('utf8'));
        next();
      } catch {
        next(malformed());
      }
    });
  };
}
