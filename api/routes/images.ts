import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function imagesRouter(_deps: ApiDeps): Router {
  return Router();
}
