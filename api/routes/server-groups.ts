import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function serverGroupsRouter(_deps: ApiDeps): Router {
  return Router();
}
