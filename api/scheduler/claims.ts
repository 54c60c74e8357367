/**
 * Claims: record an instance's allocation on a host without overcommitting
 * it, even when several API processes schedule at once. Each claim is one
 * transaction that re-checks room (and the group's hard policy) against
 * the allocations table and bumps the compute node's generation with a
 * compare-and-set, as placement does with resource provider generations.
 */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import { isPostgres, type Database } from '../db/connection';
import {
  allocationsByHost,
  capacityOf,
  NO_RESOURCES,
  shortfall,
  totalOf,
  type ComputeNodeSize,
} from './host-state';
import type { ScheduleRequest } from './scheduler';
import { loadGroupState, policyAllows } from './server-group';

/** How one claim attempt on one host ended. */
export type ClaimOutcome =
  'claimed' | 'no-node' | 'no-room' | 'group-policy' | 'lost-race' | 'superseded';

export interface ClaimOptions {
  config: BerthConfig;
  /** re-check the group's hard policy: its filter is enabled */
  enforceGroupPolicy: boolean;
  log: Logger;
}

/** Attempts on a host whose generation moved under the claim before going to the next host. */
export const CLAIM_ATTEMPTS_PER_HOST = 3;

interface ComputeNodeClaimRow extends ComputeNodeSize {
  generation: number;
}

/** One attempt on one host, in one transaction; writes nothing unless it returns 'claimed'. */
export function claimOnHost(
  db: Database,
  host: string,
  req: ScheduleRequest,
  o: ClaimOptions,
): Promise<ClaimOutcome> {
  // SQLite needs no locks: berth keeps one connection, so knex runs one
  // transaction at a time. PostgreSQL runs them side by side.
  const pg = isPostgres(db);
  const claimed = db.transaction(async (trx): Promise<ClaimOutcome> => {
    if (pg && o.enforceGroupPolicy && req.group?.policy === 'affinity') {
      // Affinity spans hosts: two first members claiming different hosts
      // take different node locks, so they queue on the group's row instead.
      // Locks are taken group first, then node, so claims cannot deadlock.
      await trx('server_groups').where({ uuid: req.group.uuid }).forUpdate().first('id');
    }
    const nodeQuery = trx<ComputeNodeClaimRow>('compute_nodes')
      .where({ host })
      .first('host', 'vcpus', 'memory_mb', 'local_gb', 'generation');
    // FOR UPDATE makes concurrent claims on one host queue rather than fail
    // the compare-and-set below: under a burst, optimistic retries alone
    // starve some requests into NoValidHost while the host still has room.
    const node = await (pg ? nodeQuery.forUpdate() : nodeQuery);
    if (!node) return 'no-node';

    const used =
      (await allocationsByHost(trx, { host, excludeInstance: req.instanceUuid })).get(host) ??
      NO_RESOURCES;
    const want = { vcpus: req.vcpus, memoryMb: req.memoryMb, diskGb: req.diskGb };
    const limits = { total: totalOf(node), capacity: capacityOf(node, o.config) };
    if (shortfall({ ...limits, used }, want) !== undefined) return 'no-room';
    if (o.enforceGroupPolicy) {
      const group = await loadGroupState(trx, req);
      if (group && !policyAllows(group, host)) return 'group-policy';
    }

    const bumped = await trx('compute_nodes')
      .where({ host, generation: node.generation })
      .increment('generation', 1);
    if (bumped === 0) return 'lost-race';
    // A reschedule that did not release first moves the allocation here.
    await trx('allocations').where({ instance_uuid: req.instanceUuid }).del();
    await trx('allocations').insert({
      instance_uuid: req.instanceUuid,
      host,
      vcpus: req.vcpus,
      memory_mb: req.memoryMb,
      disk_gb: req.diskGb,
      created_at: new Date().toISOString(),
    });
    if (req.place && !(await req.place(trx, host))) throw SUPERSEDED;
    return 'claimed';
  });
  return claimed.catch((err: unknown) => {
    if (err === SUPERSEDED) return 'superseded';
    throw err;
  });
}

export const SUPERSEDED_PLACEMENT = Symbol('superseded');

/** Thrown inside a claim's transaction to roll it back when its placement found the instance taken. */
const SUPERSEDED = new Error('superseded');

/**
 * Claims on the first host, in order, that still has room; undefined when
 * none has, SUPERSEDED_PLACEMENT when the request's placement found the
 * instance taken.
 */
export async function claimFirstFitting(
  db: Database,
  hosts: readonly string[],
  req: ScheduleRequest,
  o: ClaimOptions,
): Promise<string | typeof SUPERSEDED_PLACEMENT | undefined> {
  for (const host of hosts) {
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS_PER_HOST; attempt++) {
      const outcome = await claimOnHost(db, host, req, o);
      if (outcome === 'claimed') return host;
      if (outcome === 'superseded') return SUPERSEDED_PLACEMENT;
      o.log.debug('scheduler claim failed', {
        instance_uuid: req.instanceUuid,
        host,
        outcome,
        attempt,
      });
      if (outcome !== 'lost-race') break;
    }
  }
  return undefined;
}
