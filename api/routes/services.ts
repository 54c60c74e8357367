import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function servicesRouter(_deps: ApiDeps): Router {
  return Router();
}
