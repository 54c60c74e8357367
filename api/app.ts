/**
 * The express application of `berth api`: version discovery, request ids,
 * body limits, authentication, microversions, the compute routes under
 * /v2.1, the embedded image API under /image, the embedded network API
 * under /network, the embedded block-storage API under /volume, and one
 * fault handler.
 */
import { extensionsRouter } from './routes/extensions';
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Authenticator } from './auth/authenticator';
import type { ApiContext } from './context';
import type { ApiDeps } from './deps';
import { ApiFault, badRequest, itemNotFound, overLimit, toApiFault } from './faults';
import { jsonBody } from './json-body';
import { refuseNulInUrl } from './nul-chars';
import { logRequests } from './request-log';
import { requestedVersion } from './microversion';
import { aggregatesRouter } from './routes/aggregates';
import { availabilityZonesRouter } from './routes/availability-zones';
import { flavorAccessRouter } from './routes/flavor-access';
import { flavorsRouter } from './routes/flavors';
import { floatingIpPoolsRouter, floatingIpsRouter } from './routes/floating-ips';
import { osSnapshotsRouter, osVolumesRouter } from './routes/os-volumes';
import { hypervisorsRouter } from './routes/hypervisors';
import { imageMetadataRouter } from './routes/image-metadata';
import { imagesRouter } from './routes/images';
import { keypairsRouter } from './routes/keypairs';
import { limitsRouter } from './routes/limits';
import { migrationsRouter } from './routes/migrations';
import { consoleAuthTokensRouter } from './routes/remote-consoles';
import { networksRouter, tenantNetworksRouter } from './routes/networks';
import { quotaClassSetsRouter } from './routes/quota-class-sets';
import { quotaSetsRouter } from './routes/quota-sets';
import { securityGroupRulesRouter, securityGroupsRouter } from './routes/security-groups';
import { serverExternalEventsRouter } from './routes/server-external-events';
import { serverGroupsRouter } from './routes/server-groups';
import { serversRouter } from './routes/servers';
import { servicesRouter } from './routes/services';
import { hostsRouter } from './routes/hosts';
import { instanceUsageAuditLogRouter } from './routes/instance-usage-audit-log';
import { simpleTenantUsageRouter } from './routes/simple-tenant-usage';
import { versionsRouter } from './routes/versions';
import { glanceRouter } from './image/glance-router';
import { neutronRouter } from './network/neutron-router';
import { cinderRouter } from './volume/cinder-router';

export function createApiApp(deps: ApiDeps, auth: Authenticator) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');

  app.use((_req, res, next) => {
    const requestId = `req-${randomUUID()}`;
    res.locals.requestId = requestId;
    res.setHeader('x-openstack-request-id', requestId);
    res.setHeader('x-compute-request-id', requestId);
    next();
  });
  app.use(logRequests(deps.log));

  // Version discovery answers without a token: clients ask before they authenticate.
  app.use(versionsRouter());

  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    auth
      .authenticate(req.get('x-auth-token'))
      .then((credentials) => {
        const requestId = res.locals.requestId as string;
        const ctx: ApiContext = {
          ...credentials,
          requestId,
          version: requestedVersion({}),
          log: deps.log.child({ request_id: requestId }),
          authToken: req.get('x-auth-token'),
        };
        res.locals.ctx = ctx;
        next();
      })
      .catch(next);
  };

  const microversion = (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    const v = requestedVersion(req.headers);
    (res.locals.ctx as ApiContext).version = v;
    res.setHeader('OpenStack-API-Version', `compute ${v}`);
    res.setHeader('X-OpenStack-Nova-API-Version', v.toString());
    next();
  };

  const body = jsonBody(deps.config.api.max_request_body_size, () =>
    badRequest('Malformed request body'),
  );

  const compute = express.Router();
  const nul = refuseNulInUrl(() => badRequest('A NUL character is not allowed in a request.'));
  compute.use(authenticate, microversion, nul, body);
  compute.use('/servers', serversRouter(deps));
  compute.use('/flavors', flavorsRouter(deps), flavorAccessRouter(deps));
  // Ahead of the image proxy, which is gone from 2.36: the metadata lasts until 2.39.
  compute.use('/images', imageMetadataRouter(deps), imagesRouter(deps));
  compute.use('/os-hypervisors', hypervisorsRouter(deps));
  compute.use('/os-services', servicesRouter(deps));
  compute.use('/os-hosts', hostsRouter(deps));
  compute.use('/os-instance_usage_audit_log', instanceUsageAuditLogRouter(deps));
  compute.use('/os-availability-zone', availabilityZonesRouter(deps));
  compute.use('/os-aggregates', aggregatesRouter(deps.db));
  compute.use('/limits', limitsRouter(deps));
  compute.use('/os-quota-sets', quotaSetsRouter(deps));
  compute.use('/os-quota-class-sets', quotaClassSetsRouter(deps));
  compute.use('/os-server-groups', serverGroupsRouter(deps));
  compute.use('/os-keypairs', keypairsRouter(deps));
  compute.use('/os-security-groups', securityGroupsRouter(deps));
  compute.use('/os-security-group-rules', securityGroupRulesRouter(deps));
  compute.use('/os-floating-ips', floatingIpsRouter(deps));
  compute.use('/os-floating-ip-pools', floatingIpPoolsRouter(deps));
  compute.use('/os-volumes', osVolumesRouter(deps));
  compute.use('/os-snapshots', osSnapshotsRouter(deps));
  compute.use('/os-networks', networksRouter(deps));
  compute.use('/os-tenant-networks', tenantNetworksRouter(deps));
  compute.use('/os-console-auth-tokens', consoleAuthTokensRouter(deps));
  compute.use('/os-migrations', migrationsRouter(deps));
  compute.use('/os-server-external-events', serverExternalEventsRouter(deps));
  compute.use('/os-simple-tenant-usage', simpleTenantUsageRouter(deps));
  compute.use('/extensions', extensionsRouter());
  app.use('/v2.1', compute);

  // Glance lets image uploads be large: they stream to the store, not through the JSON parser.
  // With a real Glance configured, clients go there: two image APIs would disagree.
  if (!deps.glance) app.use('/image', glanceRouter(deps, authenticate));
  app.use('/network', neutronRouter(deps, authenticate));
  app.use('/volume', cinderRouter(deps, authenticate));

  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(itemNotFound('The resource could not be found.'));
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    let fault: ApiFault;
    const status = (err as { status?: number; type?: string }).status;
    if (err instanceof ApiFault) fault = err;
    else if (status === 413) fault = overLimit('Request is too large.');
    else if (status && status >= 400 && status < 500)
      fault = badRequest((err as Error).message || 'Bad request');
    else fault = toApiFault(err);
    const log = (res.locals.ctx as ApiContext | undefined)?.log ?? deps.log;
    if (fault.status >= 500)
      log.error('request failed', {
        request_id: res.locals.requestId,
        method: req.method,
        path: req.path,
        error: err instanceof Error ? err.stack : String(err),
      });
    if (res.headersSent) return res.end();
    for (const [name, value] of Object.entries(fault.headers)) res.setHeader(name, value);
    res.status(fault.status).json(fault.body());
  });
  return app;
}
