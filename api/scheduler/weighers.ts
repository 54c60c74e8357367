/**
 * Host weighers, as Nova's: each weigher's raw weights are normalised to
 * 0..1 over the candidates, multiplied by its multiplier and summed; the
 * highest total wins. Positive resource multipliers spread instances,
 * negative ones stack them.
 */
import type { Logger } from 'winston';
import type { FilterSchedulerSection } from '../../config/schema';
import type { FilterInput } from './filters';
import type { HostState } from './host-state';

export interface HostWeigher {
  readonly name: string;
  /** raw weights are clamped to at least this and it is the low end of normalisation, as Nova's `minval` */
  readonly minval?: number;
  readonly multiplier: number;
  weigh(host: HostState, input: FilterInput): number;
}

export interface WeighedHost {
  host: HostState;
  weight: number;
}

/** Nova's normalize(): to 0..1 between minval and maxval (the list's own when unset); all 0 when they meet. */
export function normalize(weights: readonly number[], minval?: number, maxval?: number): number[] {
  if (weights.length === 0) return [];
  const low = minval ?? Math.min(...weights);
  const high = maxval ?? Math.max(...weights);
  if (low === high) return weights.map(() => 0);
  return weights.map((w) => (w - low) / (high - low));
}

function membersOnHost(host: HostState, { group }: FilterInput, policy: string): number {
  return group?.policy === policy ? (group.members.get(host.host) ?? 0) : 0;
}

// Nova's RAM and disk weighers weigh physical free space while its CPU
// weigher weighs free space after the allocation ratio; berth keeps that.
export function weighersFor(o: FilterSchedulerSection): HostWeigher[] {
  return [
    {
      name: 'RAMWeigher',
      minval: 0,
      multiplier: o.ram_weight_multiplier,
      weigh: (h) => h.total.memoryMb - h.used.memoryMb,
    },
    {
      name: 'CPUWeigher',
      minval: 0,
      multiplier: o.cpu_weight_multiplier,
      weigh: (h) => h.capacity.vcpus - h.used.vcpus,
    },
    {
      name: 'DiskWeigher',
      minval: 0,
      multiplier: o.disk_weight_multiplier,
      weigh: (h) => h.total.diskGb - h.used.diskGb,
    },
    // Nova's soft_(anti_)affinity_weight_multiplier defaults; berth has no option for them yet.
    {
      name: 'ServerGroupSoftAffinityWeigher',
      multiplier: 1.0,
      weigh: (h, input) => membersOnHost(h, input, 'soft-affinity'),
    },
    {
      name: 'ServerGroupSoftAntiAffinityWeigher',
      multiplier: 1.0,
      weigh: (h, input) => -membersOnHost(h, input, 'soft-anti-affinity'),
    },
  ];
}

/** The hosts best first; ties keep the input order. */
export function rankHosts(
  hosts: readonly HostState[],
  input: FilterInput,
  weighers: readonly HostWeigher[],
  log: Logger,
): WeighedHost[] {
  const weighed = hosts.map((host) => ({ host, weight: 0 }));
  if (weighed.length <= 1) return weighed;
  for (const weigher of weighers) {
    const raw = hosts.map((host) => {
      const w = weigher.weigh(host, input);
      return weigher.minval === undefined ? w : Math.max(w, weigher.minval);
    });
    normalize(raw, weigher.minval).forEach((w, i) => {
      weighed[i].weight += weigher.multiplier * w;
    });
  }
  // Array.prototype.sort is stable, so equal hosts keep their (name) order.
  weighed.sort((a, b) => b.weight - a.weight);
  log.debug('scheduler weighed hosts', {
    instance_uuid: input.req.instanceUuid,
    weights: Object.fromEntries(weighed.map((w) => [w.host.host, Number(w.weight.toFixed(4))])),
  });
  return weighed;
}
