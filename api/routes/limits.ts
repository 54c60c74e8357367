import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function limitsRouter(_deps: ApiDeps): Router {
  return Router();
}
