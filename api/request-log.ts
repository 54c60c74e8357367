/**
 * One log line per answered request, as nova-api's WSGI log has
 * (`"GET /v2.1/servers/detail" status: 200 ... time: 0.12`): method, the
 * URL as sent (query included), status and duration, under the request id
 * the response carries. A client's failed calls can be read from it without
 * the client's own logs.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../common/log';

export function logRequests(log: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.once('finish', () =>
      log.info('request', {
        request_id: res.locals.requestId,
        method: req.method,
        url: req.originalUrl,
        status: res.statusCode,
        duration_ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
      }),
    );
    next();
  };
}
