import { Router } from 'express';
import type { ApiDeps } from '../deps';

export function availabilityZonesRouter(_deps: ApiDeps): Router {
  return Router();
}
