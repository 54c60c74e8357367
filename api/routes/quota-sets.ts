import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function quotaSetsRouter(_deps: ApiDeps): Router {
  return Router();
}
