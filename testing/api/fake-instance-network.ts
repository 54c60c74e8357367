/**
 * An InstanceNetworkApi in memory, for the compute API's unit tests: a few
 * networks with one IPv4 subnet each, ports with MACs and addresses from
 * their pools, user-made ports to claim, floating IPs, and Neutron's error
 * types (as the embedded network service raises them), so that tests
 * exercise the real shapes: Nova's network_info (nova/network-model.ts)
 * and the errors the compute API must turn into Nova's faults.
 */
import { randomUUID } from 'node:crypto';
import type { Vif } from '../../nova/network-model';
import type {
  InstanceNetworkApi,
  InstanceOwner,
  NetworkCaller,
  RequestedNetwork,
  RequestedNetworks,
} from '../../api/network/instance-network';
import { NeutronError } from '../../api/network/errors';
import { buildVif, firstHost } from '../network/vif-builder';

export interface FakeNetwork {
  id: string;
  name: string;
  projectId: string;
  shared: boolean;
  cidr: string;
  subnetId: string;
  /** host numbers of the pool: .2 to .(2 + size - 1) */
  poolSize: number;
}

export interface FakePort {
  id: string;
  networkId: string;
  projectId: string;
  mac: string;
  ip: string;
  deviceId: string;
  deviceOwner: string;
  host: string | null;
  /** made for an instance (deleted with it), not by the user */
  created: boolean;
  active: boolean;
  floatingIps: string[];
  securityGroups: string[];
  /** attach order among the instance's ports */
  order: number;
}

export type FakeNetworkMethod = keyof InstanceNetworkApi;

export class FakeInstanceNetwork implements InstanceNetworkApi {
  readonly networks = new Map<string, FakeNetwork>();
  readonly ports = new Map<string, FakePort>();
  private readonly groups = new Set<string>();
  private readonly failures = new Map<FakeNetworkMethod, Error>();
  private macs = 0;
  private order = 0;
  /** every call, in order, by method name and instance (when it names one) */
  readonly calls: { method: FakeNetworkMethod; uuid?: string; host?: string | null }[] = [];

  addNetwork(o: {
    name: string;
    projectId: string;
    cidr?: string;
    shared?: boolean;
    poolSize?: number;
  }) {
    const n = this.networks.size;
    const network: FakeNetwork = {
      id: randomUUID(),
      name: o.name,
      projectId: o.projectId,
      shared: o.shared ?? false,
      cidr: o.cidr ?? `10.${n}.0.0/24`,
      subnetId: randomUUID(),
      poolSize: o.poolSize ?? 200,
    };
    this.networks.set(network.id, network);
    return network;
  }

  /** A port the user made (`openstack port create`), free to be claimed. */
  addPort(network: FakeNetwork, projectId = network.projectId): FakePort {
    return this.makePort(network, projectId, undefined, { created: false });
  }

  addSecurityGroup(projectId: string, name: string): void {
    this.groups.add(`${projectId}/${name}`);
  }

  /** What `floating ip set --port` does in Neutron: shows in network info at once. */
  associateFloatingIp(portId: string, address: string): void {
    this.ports.get(portId)!.floatingIps.push(address);
  }

  /** What the compute's update_ports_status does once a port is plugged. */
  setActive(portId: string): void {
    this.ports.get(portId)!.active = true;
  }

  /** Makes the next call of `method` reject with `error` and change nothing. */
  failNext(method: FakeNetworkMethod, error: Error): void {
    this.failures.set(method, error);
  }

  portsOf(uuid: string): FakePort[] {
    return [...this.ports.values()]
      .filter((p) => p.deviceId === uuid)
      .sort((a, b) => a.order - b.order);
  }

  async validateRequested(
    caller: NetworkCaller,
    requested: RequestedNetworks,
    securityGroups: string[],
  ) {
    this.enter('validateRequested');
    this.checkGroups(caller, securityGroups);
    this.plan(caller, requested);
  }

  async allocateForInstance(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetworks,
    securityGroups: string[],
  ): Promise<Vif[]> {
    this.enter('allocateForInstance', owner.uuid);
    this.checkGroups(caller, securityGroups);
    const made: FakePort[] = [];
    try {
      for (const step of this.plan(caller, requested, true))
        made.push(this.take(step, owner, securityGroups));
    } catch (err) {
      for (const port of made) this.release(port);
      throw err;
    }
    return this.networkInfo(owner.uuid);
  }

  async bindForHost(instanceUuid: string, host: string): Promise<Vif[]> {
    this.enter('bindForHost', instanceUuid, host);
    for (const port of this.portsOf(instanceUuid)) port.host = host;
    return this.networkInfo(instanceUuid);
  }

  async deallocateForInstance(instanceUuid: string): Promise<void> {
    this.enter('deallocateForInstance', instanceUuid);
    for (const port of this.portsOf(instanceUuid)) this.release(port);
  }

  async attachInterface(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetwork,
    host: string | null,
  ): Promise<Vif> {
    this.enter('attachInterface', owner.uuid, host);
    const [step] = this.plan(caller, requested.uuid || requested.port ? [requested] : [], true);
    if (!step)
      throw new NeutronError(
        400,
        'InterfaceAttachFailedNoNetwork',
        `No specific network was requested and none are available for project '${caller.projectId}'.`,
      );
    const port = this.take(step, owner, []);
    port.host = host;
    return this.vifOf(port);
  }

  async detachInterface(instanceUuid: string, portId: string): Promise<void> {
    this.enter('detachInterface', instanceUuid);
    const port = this.ports.get(portId);
    if (!port || port.deviceId !== instanceUuid)
      throw new NeutronError(404, 'PortNotFound', `Port ${portId} could not be found.`);
    this.release(port);
  }

  async networkInfo(instanceUuid: string): Promise<Vif[]> {
    this.enter('networkInfo', instanceUuid);
    return this.portsOf(instanceUuid).map((p) => this.vifOf(p));
  }

  async networkInfoFor(instanceUuids: string[]): Promise<Map<string, Vif[]>> {
    this.enter('networkInfoFor');
    return new Map(instanceUuids.map((u) => [u, this.portsOf(u).map((p) => this.vifOf(p))]));
  }

  // ---- how the network service decides ----

  private enter(method: FakeNetworkMethod, uuid?: string, host?: string | null): void {
    this.calls.push({ method, uuid, host });
    const error = this.failures.get(method);
    if (!error) return;
    this.failures.delete(method);
    throw error;
  }

  private checkGroups(caller: NetworkCaller, names: string[]): void {
    for (const name of names)
      if (name !== 'default' && !this.groups.has(`${caller.projectId}/${name}`))
        throw new NeutronError(
          404,
          'SecurityGroupNotFound',
          `Security group ${name} does not exist`,
        );
  }

  private visible(caller: NetworkCaller, n: FakeNetwork): boolean {
    return n.shared || n.projectId === caller.projectId || caller.isAdmin;
  }

  /** Nova's available networks: the project's own, then the shared ones. */
  private available(caller: NetworkCaller): FakeNetwork[] {
    const all = [...this.networks.values()];
    return [
      ...all.filter((n) => !n.shared && n.projectId === caller.projectId),
      ...all.filter((n) => n.shared),
    ];
  }

  /** One step per port to make or claim; `auto` may make the project a network when it may act. */
  private plan(caller: NetworkCaller, requested: RequestedNetworks, act = false) {
    if (requested === 'none') return [];
    if (requested === 'auto' || requested.length === 0) {
      const nets = this.available(caller);
      if (nets.length > 1)
        throw new NeutronError(409, 'NetworkAmbiguous', 'Multiple possible networks found.');
      if (nets.length === 0 && requested === 'auto' && act)
        return [
          {
            network: this.addNetwork({
              name: 'auto_allocated_network',
              projectId: caller.projectId,
            }),
          },
        ];
      return nets.map((network) => ({ network }));
    }
    return requested.map((r) => this.step(caller, r));
  }

  private step(
    caller: NetworkCaller,
    r: RequestedNetwork,
  ): { network: FakeNetwork; port?: FakePort; ip?: string } {
    if (r.port) {
      const port = this.ports.get(r.port);
      if (!port || (port.projectId !== caller.projectId && !caller.isAdmin))
        throw new NeutronError(404, 'PortNotFound', `Port ${r.port} could not be found.`);
      if (port.deviceId)
        throw new NeutronError(
          409,
          'PortInUse',
          `Unable to complete operation on port ${port.id} for network ${port.networkId}. Port already has an attached device ${port.deviceId}.`,
        );
      return { network: this.networks.get(port.networkId)!, port };
    }
    const network = this.networks.get(r.uuid ?? '');
    if (!network || !this.visible(caller, network))
      throw new NeutronError(404, 'NetworkNotFound', `Network ${r.uuid} could not be found.`);
    if (r.fixedIp !== undefined) {
      if (!this.inPool(network, r.fixedIp))
        throw new NeutronError(
          400,
          'InvalidIpForNetwork',
          `IP address ${r.fixedIp} is not a valid IP for any of the subnets on the specified network.`,
        );
      if ([...this.ports.values()].some((p) => p.ip === r.fixedIp && p.networkId === network.id))
        throw new NeutronError(
          409,
          'IpAddressAlreadyAllocated',
          `IP address ${r.fixedIp} already allocated in subnet ${network.subnetId}`,
        );
    }
    return { network, ip: r.fixedIp };
  }

  private take(
    step: { network: FakeNetwork; port?: FakePort; ip?: string },
    owner: InstanceOwner,
    groups: string[],
  ): FakePort {
    const port =
      step.port ?? this.makePort(step.network, owner.projectId, step.ip, { created: true });
    Object.assign(port, {
      deviceId: owner.uuid,
      deviceOwner: `compute:${owner.availabilityZone ?? 'nova'}`,
      order: ++this.order,
      securityGroups: groups.length ? groups : ['default'],
    });
    return port;
  }

  private makePort(
    network: FakeNetwork,
    projectId: string,
    ip: string | undefined,
    o: { created: boolean },
  ): FakePort {
    const port: FakePort = {
      id: randomUUID(),
      networkId: network.id,
      projectId,
      mac: `fa:16:3e:00:${((++this.macs >> 8) & 255).toString(16).padStart(2, '0')}:${(this.macs & 255).toString(16).padStart(2, '0')}`,
      ip: ip ?? this.freeIp(network),
      deviceId: '',
      deviceOwner: '',
      host: null,
      created: o.created,
      active: false,
      floatingIps: [],
      securityGroups: [],
      order: 0,
    };
    this.ports.set(port.id, port);
    return port;
  }

  private inPool(network: FakeNetwork, ip: string): boolean {
    return Array.from({ length: network.poolSize }, (_, n) =>
      firstHost(network.cidr, n + 2),
    ).includes(ip);
  }

  private freeIp(network: FakeNetwork): string {
    const taken = new Set(
      [...this.ports.values()].filter((p) => p.networkId === network.id).map((p) => p.ip),
    );
    for (let n = 2; n < network.poolSize + 2; n++) {
      const ip = firstHost(network.cidr, n);
      if (!taken.has(ip)) return ip;
    }
    throw new NeutronError(
      409,
      'IpAddressGenerationFailure',
      `No more IP addresses available on network ${network.id}.`,
    );
  }

  /** Neutron's side of an instance letting go: made ports go, claimed ones are freed. */
  private release(port: FakePort): void {
    if (port.created) {
      this.ports.delete(port.id);
      return;
    }
    Object.assign(port, {
      deviceId: '',
      deviceOwner: '',
      host: null,
      active: false,
      floatingIps: [],
    });
  }

  private vifOf(port: FakePort): Vif {
    const network = this.networks.get(port.networkId)!;
    return {
      ...buildVif({
        portId: port.id,
        mac: port.mac,
        networkId: network.id,
        networkName: network.name,
        projectId: network.projectId,
        subnetId: network.subnetId,
        cidr: network.cidr,
        ip: port.ip,
        dhcpServer: firstHost(network.cidr, 254),
        dns: [firstHost(network.cidr, 254)],
        floatingIps: port.floatingIps,
        preserveOnDelete: !port.created,
      }),
      active: port.active,
    };
  }
}
