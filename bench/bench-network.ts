/**
 * The simulated host and the ports the benchmarks that give instances a
 * network share: a namespace of the run's own as `[network] host_netns`
 * (nothing touches the host's network), one VXLAN network on a /16, Nova
 * VIFs and the agent's HostNetworkState for its ports, consistent with
 * each other.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { UndoStack } from '../common/undo-stack';
import { native } from '../native';
import type { HostNetworkState, NetPort, NetSecurityGroupRule, Vif } from '../nova/network-model';

const execFileAsync = promisify(execFile);

/** the benchmarks' own device prefix: apart from a real berth's (`b`) and the tests' (`t…`) */
export const DEVICE_PREFIX = 'q';
export const MY_IP = '192.0.2.1';
export const NET = {
  id: randomUUID(),
  subnetId: randomUUID(),
  cidr: '10.97.0.0/16',
  gateway: '10.97.0.1',
  vni: 4242,
};
const GROUP = randomUUID();

/**
 * A simulated host of the run's own for a `berth compute`: its namespace
 * (removed by `cleanup`, after the compute and its instances are gone,
 * which were pushed later) and the compute's settings that point there.
 */
export async function simulatedComputeHost(
  tag: string,
  stateDir: string,
  cleanup: UndoStack,
): Promise<Record<string, string>> {
  const namespaces = new Namespaces(`berth-bench-${tag}-${process.pid}`);
  cleanup.push('network namespaces', () => namespaces.removeAll());
  cleanup.push('network state', () => endNetworkState(path.join(stateDir, 'network')));
  const hostNs = await namespaces.add('host');
  await simulatedHost(hostNs);
  return {
    BERTH_DEFAULT_MY_IP: MY_IP,
    BERTH_NETWORK_HOST_NETNS: hostNs,
    BERTH_NETWORK_DEVICE_PREFIX: DEVICE_PREFIX,
  };
}

/**
 * What a compute's data plane outlives it with, by design: the DNS
 * servers it started (dnsmasq, detached) and its namespaces' pins.
 */
async function endNetworkState(dir: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.startsWith(`--pid-file=${dir}/`)))
      process.kill(Number(entry), 'SIGKILL');
  }
  const pins = path.join(dir, 'netns');
  for (const pin of await readdir(pins).catch(() => []))
    native().umount(path.join(pins, pin), true);
}

/** Named namespaces of this run (`ip netns`), removed at the end whatever happened. */
export class Namespaces {
  private readonly made: string[] = [];
  constructor(private readonly prefix: string) {}
  async add(kind: string): Promise<string> {
    const name = `${this.prefix}-${kind}`;
    await ip('netns', 'add', name);
    this.made.push(name);
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    return `/run/netns/${name}`;
  }
  async removeAll(): Promise<void> {
    for (const name of this.made.splice(0).reverse())
      await execFileAsync('ip', ['netns', 'delete', name]).catch(() => undefined);
  }
}

export async function ip(...args: string[]): Promise<void> {
  await execFileAsync('ip', args);
}
export const name = (ns: string) => path.basename(ns);

/** An underlay address for VXLAN's local end (a veth pair: this kernel has no dummy driver). */
export async function simulatedHost(ns: string): Promise<void> {
  await ip('-n', name(ns), 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
  await ip('-n', name(ns), 'addr', 'add', `${MY_IP}/24`, 'dev', 'ul0');
  for (const dev of ['ul0', 'ul1']) await ip('-n', name(ns), 'link', 'set', dev, 'up');
}

export interface BenchPort {
  id: string;
  mac: string;
  ip: string;
}

export function benchPort(i: number): BenchPort {
  // 10.97.<hi>.<lo>: room for tens of thousands of ports on the /16.
  const n = i + 10;
  return {
    id: randomUUID(),
    mac: `fa:16:3e:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`,
    ip: `10.97.${n >> 8}.${n & 0xff}`,
  };
}

export function benchVif(p: BenchPort): Vif {
  return {
    id: p.id,
    address: p.mac,
    type: 'bridge',
    devname: `tap${p.id.slice(0, 11)}`,
    vnic_type: 'normal',
    active: false,
    network: {
      id: NET.id,
      label: 'bench',
      bridge: null,
      subnets: [
        {
          cidr: NET.cidr,
          version: 4,
          gateway: { address: NET.gateway, type: 'gateway', version: 4 },
          dns: [],
          ips: [{ address: p.ip, type: 'fixed', version: 4 }],
          routes: [],
          meta: { subnet_id: NET.subnetId, enable_dhcp: false },
        },
      ],
      meta: { mtu: 1450, tenant_id: 'bench', injected: false, vni: NET.vni },
    },
    details: { port_filter: true },
    profile: {},
    preserve_on_delete: false,
    meta: { dns_name: `bench-${p.ip.replace(/\./g, '-')}` },
  };
}

function netPort(p: BenchPort, host: string): NetPort {
  return {
    id: p.id,
    networkId: NET.id,
    mac: p.mac,
    fixedIps: [{ subnetId: NET.subnetId, ip: p.ip }],
    host,
    tunnelIp: MY_IP,
    deviceId: randomUUID(),
    deviceOwner: 'compute:nova',
    dnsName: `bench-${p.ip.replace(/\./g, '-')}`,
    adminStateUp: true,
    portSecurityEnabled: true,
    securityGroupIds: [GROUP],
    allowedAddressPairs: [],
  };
}

/** Neutron's default group (all egress, ingress from members), with `extra` rules in front. */
export function benchHostState(
  host: string,
  revision: number,
  ports: BenchPort[],
  extra: NetSecurityGroupRule[],
): HostNetworkState {
  const rule = (direction: 'ingress' | 'egress', remoteGroupId: string | null) => ({
    id: randomUUID(),
    direction,
    ethertype: 'IPv4' as const,
    protocol: null,
    portRangeMin: null,
    portRangeMax: null,
    remoteIpPrefix: null,
    remoteGroupId,
  });
  return {
    revision,
    host,
    public: {
      networkId: randomUUID(),
      cidr: '203.0.113.0/24',
      gatewayIp: '203.0.113.1',
      mtu: 1500,
    },
    dns: { domain: 'bench.test' },
    networks: [
      {
        id: NET.id,
        name: 'bench',
        projectId: 'bench',
        mtu: 1450,
        vni: NET.vni,
        subnets: [
          {
            id: NET.subnetId,
            cidr: NET.cidr,
            gatewayIp: NET.gateway,
            dnsNameservers: [],
            hostRoutes: [],
            enableDhcp: false,
            allocationPools: [{ start: '10.97.0.2', end: '10.97.255.254' }],
          },
        ],
        dhcpPort: null,
      },
    ],
    ports: ports.map((p) => netPort(p, host)),
    securityGroups: [
      {
        id: GROUP,
        rules: [...extra, rule('egress', null), rule('ingress', GROUP)],
        memberIps: ports.map((p) => p.ip),
      },
    ],
    routers: [],
    floatingIps: [],
    portForwardings: [],
  };
}
