/**
 * /v2.1/os-availability-zone: the zones servers may be created in, from
 * the services table; /detail (admin) adds each zone's hosts and services.
 */
import { Router } from 'express';
import { ctxOf } from '../context';
import { withAggregateZones } from '../db/aggregates';
import type { ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { route } from '../http';
import { ADMIN_RULES, requireAdmin } from '../policy';
import { zoneDetail, zoneSummary } from '../views/availability-zones';
import { API_SERVICE_BINARIES } from '../views/services';

export function availabilityZonesRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  const options = () => ({
    defaultZone: config.DEFAULT.default_availability_zone,
    serviceDownTime: config.DEFAULT.service_down_time,
  });
  const services = async () =>
    withAggregateZones(
      db,
      await db<ServiceRow>('services').whereNotIn('binary', API_SERVICE_BINARIES).orderBy('id'),
    );

  router.get(
    '/',
    route(async (_req, res) => {
      ctxOf(res);
      res.json(zoneSummary(await services(), options()));
    }),
  );

  router.get(
    '/detail',
    route(async (_req, res) => {
      requireAdmin(ctxOf(res), ADMIN_RULES.availabilityZoneDetail);
      res.json(zoneDetail(await services(), options()));
    }),
  );
  return router;
}
