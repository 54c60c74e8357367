import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function keypairsRouter(_deps: ApiDeps): Router {
  return Router();
}
