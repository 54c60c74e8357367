/**
 * The scheduler seam: pick a host for one instance and claim its
 * resources there in the database, so that concurrent requests (from this
 * or another API process) never overcommit a host.
 */
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Database } from '../db/connection';
import { claimFirstFitting, SUPERSEDED_PLACEMENT } from './claims';
import { filtersFor, runFilters, type HostFilter } from './filters';
import { loadHostStates } from './host-state';
import { loadGroupState, policyEnforced } from './server-group';
import { rankHosts, weighersFor, type HostWeigher } from './weighers';

export interface ScheduleRequest {
  instanceUuid: string;
  projectId: string;
  vcpus: number;
  memoryMb: number;
  /** root_gb + ephemeral_gb + swap/1024, as Nova's disk filter counts */
  diskGb: number;
  /** the zone the user asked for; undefined = any */
  availabilityZone?: string;
  /** the server group the instance joins, if any */
  group?: { uuid: string; policy: string };
  /** hosts already tried for this instance (reschedules) */
  ignoreHosts: string[];
  /** the only host that may take it: where its volumes are */
  requiredHost?: string;
  /**
   * Records the instance on the claimed host inside the claim's
   * transaction, so that claim and placement commit together or not at
   * all; false when the instance is no longer this request's to place
   * (another API process placed it, or it was deleted): then nothing is
   * claimed and the request ends in Superseded.
   */
  place?: (trx: Knex.Transaction, host: string) => Promise<boolean>;
}

/** The instance was placed (or deleted) by someone else while this request claimed a host. */
export class Superseded extends Error {
  constructor(instanceUuid: string) {
    super(`instance ${instanceUuid} is no longer this request's to place`);
    this.name = 'Superseded';
  }
}

/** No host passed the filters, or every claim failed: Nova's NoValidHost. */
export class NoValidHost extends Error {
  constructor(reason = 'There are not enough hosts available.') {
    super(`No valid host was found. ${reason}`);
    this.name = 'NoValidHost';
  }
}

export interface Scheduler {
  /**
   * the chosen host, with an allocation for the instance already recorded
   * there and, given `req.place`, the instance placed in the same
   * transaction (Superseded when `place` says it is not the request's)
   */
  selectAndClaim(req: ScheduleRequest): Promise<string>;
  /** drops the instance's allocation (on delete, or before a reschedule); idempotent */
  release(instanceUuid: string): Promise<void>;
}

/**
 * Nova's filter scheduler over the database: filter the compute hosts,
 * weigh the survivors, then claim on the best one, falling back to the
 * next when a concurrent request filled it first.
 */
export class FilterScheduler implements Scheduler {
  private readonly filters: HostFilter[];
  private readonly weighers: HostWeigher[];

  constructor(
    private readonly db: Database,
    private readonly config: BerthConfig,
    private readonly log: Logger,
  ) {
    this.filters = filtersFor(config.filter_scheduler.enabled_filters);
    this.weighers = weighersFor(config.filter_scheduler);
  }

  async selectAndClaim(req: ScheduleRequest): Promise<string> {
    const hosts = (
      await loadHostStates(this.db, this.config, { instanceUuid: req.instanceUuid })
    ).filter((h) => req.requiredHost === undefined || h.host === req.requiredHost);
    if (req.requiredHost !== undefined && hosts.length === 0)
      throw new NoValidHost(
        `The instance's volumes are on host ${req.requiredHost}, which has not reported its resources.`,
      );
    const group = await loadGroupState(this.db, req);
    const input = { req, group };
    const filtered = runFilters(hosts, input, this.filters, this.log);
    if (filtered.hosts.length === 0) {
      throw new NoValidHost(
        filtered.emptiedBy
          ? `${filtered.emptiedBy} removed the last of ${hosts.length} host(s).`
          : 'No compute host has reported its resources yet.',
      );
    }
    const ranked = rankHosts(filtered.hosts, input, this.weighers, this.log);
    const host = await claimFirstFitting(
      this.db,
      ranked.map((w) => w.host.host),
      req,
      {
        config: this.config,
        enforceGroupPolicy: policyEnforced(group, this.config.filter_scheduler.enabled_filters),
        log: this.log,
      },
    );
    if (host === SUPERSEDED_PLACEMENT) throw new Superseded(req.instanceUuid);
    if (host === undefined) {
      throw new NoValidHost('Concurrent requests took the room on every host that passed.');
    }
    this.log.debug('scheduler claimed host', { instance_uuid: req.instanceUuid, host });
    return host;
  }

  async release(instanceUuid: string): Promise<void> {
    await this.db('allocations').where({ instance_uuid: instanceUuid }).del();
  }
}
