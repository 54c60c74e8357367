import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function serversRouter(_deps: ApiDeps): Router {
  return Router();
}
