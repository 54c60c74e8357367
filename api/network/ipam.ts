/**
 * IP address management: a port's fixed IPs chosen from its network's
 * subnets — the ones asked for, checked (inside the subnet, free), or
 * free ones picked at random from the allocation pools as Neutron does —
 * recorded in network_ip_allocations, whose key makes an address unique
 * per subnet.
 */
import { randomInt } from 'node:crypto';
import { invalidAttribute } from './errors';
import {
  invalidInput,
  invalidIpForNetwork,
  invalidIpForSubnet,
  ipAlreadyAllocated,
  ipGenerationFailure,
  NOT_FOUND,
} from './errors';
import type { NetTx } from './context';
import { formatIp, isHostAddress, parseCidr, parseIp } from './ipv4';
import {
  allocationsOfSubnet,
  findRow,
  freeAllocations,
  insertAllocation,
  listRows,
  type Row,
} from './store';

export interface FixedIp {
  subnet_id: string;
  ip_address: string;
}

export interface RequestedIp {
  subnet_id?: string;
  ip_address?: string;
}

/** A port body's `fixed_ips`, shape-checked. */
export function requestedIps(v: unknown): RequestedIp[] {
  const fail = (reason: string): never => {
    throw invalidAttribute('fixed_ips', reason);
  };
  if (!Array.isArray(v)) fail(`'${JSON.stringify(v)}' is not a list`);
  return (v as unknown[]).map((e) => {
    if (!e || typeof e !== 'object' || Array.isArray(e))
      fail(`'${JSON.stringify(e)}' is not a dictionary`);
    const out: RequestedIp = {};
    for (const [k, x] of Object.entries(e as Record<string, unknown>)) {
      if (k === 'subnet_id' && typeof x === 'string') out.subnet_id = x;
      else if (k === 'ip_address' && parseIp(x) !== undefined) out.ip_address = x as string;
      else if (k === 'ip_address') fail(`'${JSON.stringify(x)}' is not a valid IP address`);
      else fail(`Unrecognized key '${k}' in fixed_ips`);
    }
    return out;
  });
}

export const subnetsOf = (tx: NetTx, networkId: string) =>
  listRows(tx.q, 'subnet', { parent_id: networkId });

/** Allocates the fixed IPs of `ownerId` on `network`; `undefined` = one address from the first subnet with room. */
export async function allocateIps(
  tx: NetTx,
  network: Row,
  requested: RequestedIp[] | undefined,
  ownerId: string,
  o: { mayTakeGateway?: boolean } = {},
): Promise<FixedIp[]> {
  const subnets = await subnetsOf(tx, network.id);
  if (requested === undefined) {
    for (const s of subnets) {
      const ip = await pickFree(tx, s);
      if (ip) return [await record(tx, network, s, ip, ownerId)];
    }
    if (subnets.length) throw ipGenerationFailure(network.id);
    return [];
  }
  const out: FixedIp[] = [];
  for (const r of requested) {
    const subnet = await subnetFor(tx, network, subnets, r);
    if (r.ip_address === undefined) {
      const ip = await pickFree(tx, subnet);
      if (!ip) throw ipGenerationFailure(network.id);
      out.push(await record(tx, network, subnet, ip, ownerId));
      continue;
    }
    if (r.ip_address === subnet.body.gateway_ip && !o.mayTakeGateway)
      throw ipAlreadyAllocated(r.ip_address, subnet.id);
    const taken = (await allocationsOfSubnet(tx.q, subnet.id)).some(
      (a) => a.ip_address === r.ip_address,
    );
    if (taken) throw ipAlreadyAllocated(r.ip_address, subnet.id);
    out.push(await record(tx, network, subnet, r.ip_address, ownerId));
  }
  return out;
}

/** The subnet a requested entry means, or Neutron's 400/404 for one that fits nothing. */
async function subnetFor(tx: NetTx, network: Row, subnets: Row[], r: RequestedIp): Promise<Row> {
  if (r.subnet_id !== undefined) {
    const subnet = subnets.find((s) => s.id === r.subnet_id);
    if (!subnet) {
      if (!(await findRow(tx.q, 'subnet', r.subnet_id))) throw NOT_FOUND.subnet(r.subnet_id);
      throw invalidInput(
        `Failed to create port on network ${network.id}, because fixed_ips included invalid subnet ${r.subnet_id}`,
      );
    }
    if (
      r.ip_address !== undefined &&
      !isHostAddress(parseCidr(subnet.body.cidr)!, parseIp(r.ip_address)!)
    )
      throw invalidIpForSubnet(r.ip_address);
    return subnet;
  }
  if (r.ip_address === undefined)
    throw invalidInput('Exceeded maximum amount of fixed ips per port, or empty fixed_ips entry');
  const ip = parseIp(r.ip_address)!;
  const subnet = subnets.find((s) => isHostAddress(parseCidr(s.body.cidr)!, ip));
  if (!subnet) throw invalidIpForNetwork(r.ip_address);
  return subnet;
}

async function record(tx: NetTx, network: Row, subnet: Row, ip: string, ownerId: string) {
  await insertAllocation(tx.q, {
    subnet_id: subnet.id,
    ip_address: ip,
    network_id: network.id,
    owner_id: ownerId,
  });
  return { subnet_id: subnet.id, ip_address: ip };
}

/** A free address of the subnet's pools, starting the search at a random one. */
async function pickFree(tx: NetTx, subnet: Row): Promise<string | undefined> {
  const taken = new Set((await allocationsOfSubnet(tx.q, subnet.id)).map((a) => a.ip_address));
  const ranges = (subnet.body.allocation_pools as { start: string; end: string }[]).map((p) => ({
    start: parseIp(p.start)!,
    size: parseIp(p.end)! - parseIp(p.start)! + 1,
  }));
  const total = ranges.reduce((n, r) => n + r.size, 0);
  if (total === 0 || taken.size >= total + 1) return undefined;
  const first = randomInt(total);
  for (let i = 0; i < total; i++) {
    let at = (first + i) % total;
    for (const r of ranges) {
      if (at < r.size) {
        const ip = formatIp(r.start + at);
        if (!taken.has(ip) && ip !== subnet.body.gateway_ip) return ip;
        break;
      }
      at -= r.size;
    }
  }
  return undefined;
}

export async function freeIps(tx: NetTx, ownerId: string, only?: FixedIp[]): Promise<void> {
  await freeAllocations(tx.q, ownerId, only);
}
