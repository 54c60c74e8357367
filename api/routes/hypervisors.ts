import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function hypervisorsRouter(_deps: ApiDeps): Router {
  return Router();
}
