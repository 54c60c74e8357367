import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function flavorsRouter(_deps: ApiDeps): Router {
  return Router();
}
