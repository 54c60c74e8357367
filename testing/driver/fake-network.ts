/**
 * A Network that keeps plugged instances in memory (as FakeDriver keeps
 * instances), so the container driver and the compute service are
 * testable without netlink. It follows the seam's contract (the
 * conformance suite holds it and LinuxNetwork to the same rules) and
 * lets a test make the next plug fail.
 */
import { ConflictError, NotFoundError } from '../../common/errors';
import { instanceNetworkFiles } from '../../driver/network/instance-files';
import { instanceIfname } from '../../driver/network/names';
import { validateVifs } from '../../driver/network/vif-validation';
import type { InstanceNetworkFiles, Network, PluggedInstance } from '../../driver/network/network';
import type { HostNetworkState, Vif } from '../../nova/network-model';

interface FakePlug {
  hostname: string;
  ports: { ifname: string; vif: Vif }[];
}

export class FakeNetwork implements Network {
  private readonly instances = new Map<string, FakePlug>();
  private failure?: Error;
  /** every document sync was given, in order */
  readonly synced: HostNetworkState[] = [];
  /** every restore call's instance uuids */
  readonly restored: string[][] = [];

  constructor(private readonly domain = 'berth.test') {}

  failNextPlug(err: Error = new ConflictError('injected plug failure')): void {
    this.failure = err;
  }

  /** The interfaces an instance's namespace has, as `ifname port-id`. */
  interfaces(uuid: string): string[] {
    return (this.instances.get(uuid)?.ports ?? []).map((p) => `${p.ifname} ${p.vif.id}`);
  }

  async plug(
    instance: PluggedInstance,
  ): Promise<{ netnsPath: string; files: InstanceNetworkFiles }> {
    validateVifs(instance.vifs);
    if (this.failure) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
    if (!this.instances.has(instance.uuid))
      this.instances.set(instance.uuid, {
        hostname: instance.hostname,
        ports: instance.vifs.map((vif, i) => ({ ifname: instanceIfname(i), vif })),
      });
    return this.result(instance.uuid);
  }

  async unplug(instanceUuid: string): Promise<void> {
    this.instances.delete(instanceUuid);
  }

  async attach(instanceUuid: string, vif: Vif): Promise<void> {
    validateVifs([vif]);
    const plug = this.instances.get(instanceUuid);
    if (!plug) throw new NotFoundError(`instance ${instanceUuid} has no network on this host`);
    if (plug.ports.some((p) => p.vif.id === vif.id)) return;
    const used = new Set(plug.ports.map((p) => p.ifname));
    let i = 0;
    while (used.has(instanceIfname(i))) i++;
    plug.ports.push({ ifname: instanceIfname(i), vif });
  }

  async detach(instanceUuid: string, portId: string): Promise<void> {
    const plug = this.instances.get(instanceUuid);
    if (plug) plug.ports = plug.ports.filter((p) => p.vif.id !== portId);
  }

  async sync(state: HostNetworkState): Promise<void> {
    this.synced.push(state);
  }

  async restore(instances: PluggedInstance[]): Promise<void> {
    this.restored.push(instances.map((i) => i.uuid));
    const keep = new Set(instances.map((i) => i.uuid));
    for (const uuid of this.instances.keys()) if (!keep.has(uuid)) this.instances.delete(uuid);
    for (const i of instances) if (!this.instances.has(i.uuid)) await this.plug(i);
  }

  async pluggedInstances(): Promise<string[]> {
    return [...this.instances.keys()];
  }

  async close(): Promise<void> {}

  private result(uuid: string) {
    const plug = this.instances.get(uuid)!;
    return {
      netnsPath: `/fake/netns/instance-${uuid}`,
      files: instanceNetworkFiles(
        plug.hostname,
        plug.ports.map((p) => p.vif),
        this.domain,
      ),
    };
  }
}
