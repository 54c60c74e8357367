import { Router, type RequestHandler } from 'express';
import type { ApiDeps } from '../deps';

export function glanceRouter(_deps: ApiDeps, _authenticate: RequestHandler): Router {
  return Router();
}
