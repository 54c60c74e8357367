/**
 * Glance's error responses: the status Glance would answer (a protected
 * image is 403, an oversize upload 413, which Nova's mapping would not
 * give) and webob's JSON body, `{"message", "code", "title"}`, whose
 * `message` openstacksdk shows.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'winston';
import { BerthError } from '../../common/errors';
import { ImageForbiddenError } from '../../driver/image/image-service';
import type { ApiContext } from '../context';
import { ApiFault } from '../faults';

const KIND_STATUS: Record<string, number> = {
  NotFound: 404,
  Conflict: 409,
  InvalidArgument: 400,
  ResourceExhausted: 413,
  Unavailable: 503,
  Internal: 500,
};

function statusOf(err: unknown): {
  status: number;
  message: string;
  headers: Record<string, string>;
} {
  if (err instanceof ApiFault)
    return { status: err.status, message: err.message, headers: { ...err.headers } };
  if (err instanceof ImageForbiddenError) return { status: 403, message: err.message, headers: {} };
  if (err instanceof BerthError)
    return { status: KIND_STATUS[err.kind] ?? 500, message: err.message, headers: {} };
  // body-parser's own errors carry a status (413 too large, 400 unreadable).
  const status = (err as { status?: number }).status;
  if (status && status >= 400 && status < 500)
    return {
      status,
      message: (err as Error).message || STATUS_CODES[status] || 'Bad request',
      headers: {},
    };
  return {
    status: 500,
    message: 'The server has either erred or is incapable of performing the requested operation.',
    headers: {},
  };
}

export function glanceErrorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    void _next;
    const { status, message, headers } = statusOf(err);
    const ctxLog = (res.locals.ctx as ApiContext | undefined)?.log ?? log;
    if (res.headersSent) {
      // Mid-download: usually the client went away; the socket is all there is to end.
      ctxLog.warn('image data transfer ended early', {
        request_id: res.locals.requestId,
        path: req.originalUrl,
        error: err instanceof Error ? err.message : String(err),
      });
      res.destroy();
      return;
    }
    if (status >= 500)
      ctxLog.error('image request failed', {
        request_id: res.locals.requestId,
        method: req.method,
        path: req.originalUrl,
        error: err instanceof Error ? err.stack : String(err),
      });
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const title = STATUS_CODES[status] ?? 'Error';
    res.status(status).json({ message, code: `${status} ${title}`, title });
  };
}
