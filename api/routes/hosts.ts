/**
 * /v2.1/os-hosts (admin only, gone from 2.43): the hosts of the services
 * (the API's conductor and scheduler, the computes), a compute host's
 * resources in total, in use and per project, and the operator's switches.
 * Enabling or disabling a host is its compute service's disabled flag, as
 * os-services sets it; maintenance mode is the same flag with the reason
 * "maintenance", since a container host has no mode of its own to enter.
 * Powering a host on or off is not berth's to do: refused with a 400.
 */
import { Router, type Request, type Response } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import { withAggregateZones } from '../db/aggregates';
import type { Database } from '../db/connection';
import type { FlavorSnapshot, InstanceRow } from '../db/instances';
import type { ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { badRequest, itemNotFound, policyForbidden } from '../faults';
import { now, route } from '../http';
import type { ComputeNodeRow } from '../views/hypervisors';
import { API_SERVICE_BINARIES, serviceZone } from '../views/services';
import { validate, validateQuery } from '../validate';
import { removedAt } from './removed-proxy';

const RULE = (what: string) => `os_compute_api:os-hosts:${what}`;

const switchValue = Joi.string().valid('enable', 'disable').insensitive();
const updateSchema = Joi.object({ status: switchValue, maintenance_mode: switchValue })
  .or('status', 'maintenance_mode')
  .messages({ 'object.missing': "'status' or 'maintenance_mode' is required" })
  .required();

const MAINTENANCE = 'maintenance';

interface Resource {
  host: string;
  project: string;
  cpu: number;
  memory_mb: number;
  disk_gb: number;
}

function requireAdminFor(res: Response, what: string): void {
  if (!ctxOf(res).isAdmin) throw policyForbidden(RULE(what));
}

async function computeNode(db: Database, host: string): Promise<ComputeNodeRow> {
  const node = await db<ComputeNodeRow>('compute_nodes').where({ host }).orderBy('id').first();
  if (!node) throw itemNotFound(`Compute host ${host} could not be found.`);
  return node;
}

/** Nova's HostController.show: the total, the used now, the instances' sum, then per project. */
async function hostResources(db: Database, host: string): Promise<Resource[]> {
  const node = await computeNode(db, host);
  const instances = await db<InstanceRow>('instances').where({ host, deleted: false });
  const sum = (project: string, rows: InstanceRow[]): Resource => {
    const r: Resource = { host, project, cpu: 0, memory_mb: 0, disk_gb: 0 };
    for (const row of rows) {
      const f = JSON.parse(row.flavor) as Partial<FlavorSnapshot>;
      r.cpu += Number(f.vcpus ?? 0);
      r.memory_mb += Number(f.memory_mb ?? 0);
      r.disk_gb += Number(f.root_gb ?? 0) + Number(f.ephemeral_gb ?? 0);
    }
    return r;
  };
  const byProject = new Map<string, InstanceRow[]>();
  for (const i of instances)
    byProject.set(i.project_id, [...(byProject.get(i.project_id) ?? []), i]);
  return [
    {
      host,
      project: '(total)',
      cpu: node.vcpus,
      memory_mb: node.memory_mb,
      disk_gb: node.local_gb,
    },
    {
      host,
      project: '(used_now)',
      cpu: node.vcpus_used,
      memory_mb: node.memory_mb_used,
      disk_gb: node.local_gb_used,
    },
    sum('(used_max)', instances),
    ...[...byProject].map(([project, rows]) => sum(project, rows)),
  ];
}

async function setDisabled(db: Database, host: string, disabled: boolean, reason: string | null) {
  await db('services')
    .where({ host, binary: 'nova-compute' })
    .update({ disabled, disabled_reason: reason, updated_at: now() });
}

export function hostsRouter(deps: ApiDeps): Router {
  const { db, config } = deps;
  const router = Router();
  router.use(removedAt('2.43'));

  router.get(
    '/',
    route(async (req: Request, res: Response) => {
      requireAdminFor(res, 'list');
      const q = validateQuery<{ zone?: string }>(Joi.object({ zone: Joi.string().allow('') }), {
        zone: req.query.zone,
      });
      const services = await withAggregateZones(
        db,
        await db<ServiceRow>('services')
          .whereNotIn('binary', API_SERVICE_BINARIES)
          .where({ disabled: false })
          .orderBy('id'),
      );
      const hosts = services
        .map((s) => ({
          host_name: s.host,
          service: s.topic,
          zone: serviceZone(s, config.DEFAULT.default_availability_zone),
        }))
        .filter((h) => !q.zone || h.zone === q.zone);
      res.json({ hosts });
    }),
  );

  router.get(
    '/:host',
    route(async (req, res) => {
      requireAdminFor(res, 'show');
      const resources = await hostResources(db, req.params.host);
      res.json({ host: resources.map((resource) => ({ resource })) });
    }),
  );

  router.put(
    '/:host',
    route(async (req, res) => {
      requireAdminFor(res, 'update');
      const body = validate<{ status?: string; maintenance_mode?: string }>(updateSchema, req.body);
      const host = req.params.host;
      await computeNode(db, host);
      const maintenance = body.maintenance_mode?.toLowerCase();
      const status = body.status?.toLowerCase();
      if (maintenance === 'enable' && status === 'enable')
        throw badRequest('Maintenance mode disables the host: it cannot be enabled with it.');
      const disabled = status !== undefined ? status === 'disable' : maintenance === 'enable';
      await setDisabled(db, host, disabled, maintenance === 'enable' ? MAINTENANCE : null);
      const result: Record<string, string> = { host };
      if (maintenance !== undefined)
        result.maintenance_mode = maintenance === 'enable' ? 'on_maintenance' : 'off_maintenance';
      if (status !== undefined) result.status = disabled ? 'disabled' : 'enabled';
      res.json(result);
    }),
  );

  for (const action of ['startup', 'shutdown', 'reboot'] as const)
    router.get(
      `/:host/${action}`,
      route(async (req, res) => {
        requireAdminFor(res, action === 'startup' ? 'start' : action);
        await computeNode(db, req.params.host);
        throw badRequest(
          `berth does not ${action === 'startup' ? 'start up' : action} hosts: a compute host's power is the operator's, outside the cloud.`,
        );
      }),
    );
  return router;
}
