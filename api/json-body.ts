/** JSON request bodies for the API and the image API: one parser, one size limit rule. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiFault } from './faults';
import { hasNulChar } from './nul-chars';

/**
 * No request of either API nests deeper than a few levels; a body that
 * does would overflow the stack of whatever walks it (validation, error
 * messages that quote it, JSON columns), so it is refused as malformed.
 */
export const MAX_NESTING = 64;

/** How deeply arrays and objects nest in JSON text, strings skipped. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Parses JSON bodies of any declared type; an empty body is undefined, an
 * oversize one is 413 (express's error status), bad or too deeply nested
 * JSON, or JSON with a NUL character in a string, is `malformed()`.
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
      const text = buf.toString('utf8');
      if (nestingDepth(text) > MAX_NESTING) return next(malformed());
      try {
        req.body = JSON.parse(text);
      } catch {
        return next(malformed());
      }
      next(hasNulChar(req.body) ? malformed() : undefined);
    });
  };
}
