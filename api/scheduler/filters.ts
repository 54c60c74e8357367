/**
 * Host filters, as Nova's filter scheduler runs them: hosts already tried
 * and hosts without room go first (Nova asks placement for candidates
 * before any filter runs, so these two are not configurable), then the
 * filters `[filter_scheduler] enabled_filters` names, in its order.
 */
import type { Logger } from 'winston';
import { InvalidArgumentError } from '../../common/errors';
import { SCHEDULER_FILTERS } from '../../config/schema';
import { shortfall, type HostState } from './host-state';
import type { ScheduleRequest } from './scheduler';
import { policyAllows, type GroupState } from './server-group';

export interface FilterInput {
  req: ScheduleRequest;
  group?: GroupState;
}

export interface HostFilter {
  readonly name: string;
  passes(host: HostState, input: FilterInput): boolean;
}

const ignoreHostsFilter: HostFilter = {
  name: 'IgnoreHostsFilter',
  passes: (host, { req }) => !req.ignoreHosts.includes(host.host),
};

/** Nova's former Core/Ram/DiskFilter, now placement's allocation candidates. */
const resourcesFilter: HostFilter = {
  name: 'ResourcesFilter',
  passes: (host, { req }) =>
    shortfall(host, { vcpus: req.vcpus, memoryMb: req.memoryMb, diskGb: req.diskGb }) === undefined,
};

function groupPolicyFilter(name: string, policy: string): HostFilter {
  return {
    name,
    passes: (host, { group }) => group?.policy !== policy || policyAllows(group, host.host),
  };
}

export const NAMED_FILTERS: Readonly<Record<(typeof SCHEDULER_FILTERS)[number], HostFilter>> = {
  ComputeFilter: { name: 'ComputeFilter', passes: (host) => host.up && !host.disabled },
  AvailabilityZoneFilter: {
    name: 'AvailabilityZoneFilter',
    passes: (host, { req }) => !req.availabilityZone || host.zone === req.availabilityZone,
  },
  // Flavors' capability extra specs are not matched against hosts yet:
  // compute nodes report no capabilities to match them with.
  ComputeCapabilitiesFilter: { name: 'ComputeCapabilitiesFilter', passes: () => true },
  ServerGroupAntiAffinityFilter: groupPolicyFilter(
    'ServerGroupAntiAffinityFilter',
    'anti-affinity',
  ),
  ServerGroupAffinityFilter: groupPolicyFilter('ServerGroupAffinityFilter', 'affinity'),
};

/** The filters to run, in order, for `enabled_filters`. */
export function filtersFor(enabledFilters: readonly string[]): HostFilter[] {
  const named = enabledFilters.map((name) => {
    const filter = (NAMED_FILTERS as Record<string, HostFilter | undefined>)[name];
    if (!filter) {
      throw new InvalidArgumentError(
        `[filter_scheduler] enabled_filters: unknown filter ${JSON.stringify(name)}; expected one of ${SCHEDULER_FILTERS.join(', ')}`,
      );
    }
    return filter;
  });
  return [ignoreHostsFilter, resourcesFilter, ...named];
}

export interface FilterResult {
  hosts: HostState[];
  /** the filter that removed the last hosts, when none are left */
  emptiedBy?: string;
}

/** Runs the filters in order, stopping once no host is left. */
export function runFilters(
  hosts: HostState[],
  input: FilterInput,
  filters: readonly HostFilter[],
  log: Logger,
): FilterResult {
  let remaining = hosts;
  if (remaining.length === 0) return { hosts: remaining };
  for (const filter of filters) {
    const passed = remaining.filter((host) => filter.passes(host, input));
    const removed = remaining.length - passed.length;
    if (removed > 0) {
      log.debug('scheduler filter removed hosts', {
        instance_uuid: input.req.instanceUuid,
        filter: filter.name,
        removed,
        remaining: passed.length,
      });
    }
    if (passed.length === 0) return { hosts: passed, emptiedBy: filter.name };
    remaining = passed;
  }
  return { hosts: remaining };
}
