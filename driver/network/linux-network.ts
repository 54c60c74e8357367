/**
 * The Network seam on Linux: netlink and nftables through the addon, in
 * `[network] host_netns` for the host side and in pinned namespaces for
 * instances, routers and DNS. Policy comes from the planners (plan-*.ts),
 * which this class feeds with what the kernel has and whose operations it
 * executes. Locks: one per instance for plug/unplug/attach/detach, and one
 * for the host side (network devices, sync), always taken in that order.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { replaceFileSync } from '../../common/atomic-file';
import { forInstance } from '../../common/log';
import { NotFoundError } from '../../common/errors';
import { KeyedLocks } from '../../common/keyed-locks';
import { UndoStack } from '../../common/undo-stack';
import type { NetworkSection } from '../../config/schema';
import type { Netns } from '../../native';
import type { HostNetworkState, Vif } from '../../nova/network-model';
import { DnsServices } from './dns-services';
import { validateVifs } from './vif-validation';
import { instanceNetworkFiles } from './instance-files';
import { instanceIfname, netnsPath, portsTableName } from './names';
import type { InstanceNetworkFiles, Network, PluggedInstance } from './network';
import { instanceFilterScript } from './nft-security-groups';
import { execute, type NetAddon, op, removeNetns } from './operations';
import type { PlanContext } from './plan-context';
import {
  filteredInterface,
  type LocalPort,
  neededUplinks,
  type Observed,
  planHostSync,
} from './plan-host';
import {
  defaultRoutePort,
  planInstanceNamespace,
  planPortsPlug,
  planPortsRepair,
  portIdentity,
  tapDevice,
} from './plan-port';
import { deletePortScript, portFilterScript } from './nft-host';
import { type PluggedRecord, PluggedStore, UplinkAllocations } from './network-state';

export interface LinuxNetworkOptions {
  addon: NetAddon;
  /** `<state_path>/network` */
  stateDir: string;
  config: NetworkSection;
  /** `[DEFAULT] my_ip` */
  localIp: string;
  log: Logger;
  /** told of ports once they are wired (the agent reports them ACTIVE) */
  onPortsPlugged?: (portIds: string[]) => void;
  dnsmasq?: string;
}

const HOST = 'host';
const DYING_TAP_GRACE_MS = 10_000;

export class LinuxNetwork implements Network {
  private readonly ctx: PlanContext;
  private readonly plugged: PluggedStore;
  private readonly uplinks: UplinkAllocations;
  private readonly dns: DnsServices;
  private readonly locks = new KeyedLocks();
  /** nft tables as last applied, by key: an unchanged table is not sent again */
  private readonly applied = new Map<string, string>();
  private state?: HostNetworkState;
  private pendingSync?: Promise<void>;
  /**
   * Taps of unplugged instances, until when the kernel is left to take them
   * with their namespace: deleting one waits on RCU grace periods (tens of
   * ms, under the host lock every plug needs), and the namespace's
   * destruction removes it anyway. One still there after the grace is
   * removed by the next sync.
   */
  private readonly dyingTaps = new Map<string, number>();
  private readonly addon: NetAddon;
  private readonly log: Logger;

  constructor(private readonly o: LinuxNetworkOptions) {
    this.addon = o.addon;
    this.log = o.log;
    const hostNs: Netns = o.config.host_netns || null;
    this.ctx = {
      prefix: o.config.device_prefix,
      hostNs,
      localIp: o.localIp,
      vxlanPort: o.config.vxlan_port,
      stateDir: o.stateDir,
    };
    this.plugged = new PluggedStore(o.stateDir);
    this.uplinks = new UplinkAllocations(o.stateDir, o.config.uplink_cidr);
    this.dns = new DnsServices(o.stateDir, o.log, o.dnsmasq);
  }

  /**
   * Reads the state directory; call once before anything else. The last
   * document is kept there too, so that a compute restarting while the
   * control plane is away restores instances' rules as they were, rather
   * than closing them until the control plane answers.
   */
  open(): void {
    fs.mkdirSync(path.join(this.o.stateDir, 'netns'), { recursive: true, mode: 0o711 });
    this.plugged.load();
    this.uplinks.load();
    this.state = readLastState(this.lastStateFile);
  }

  private get lastStateFile(): string {
    return path.join(this.o.stateDir, 'host-state.json');
  }

  plug(instance: PluggedInstance): Promise<{ netnsPath: string; files: InstanceNetworkFiles }> {
    return this.locks.run(instance.uuid, () => this.plugLocked(instance));
  }

  private async plugLocked(
    instance: PluggedInstance,
  ): Promise<{ netnsPath: string; files: InstanceNetworkFiles }> {
    validateVifs(instance.vifs);
    const existing = this.plugged.get(instance.uuid);
    if (existing && this.isIntact(existing)) return this.plugResult(existing);
    if (existing) this.teardown(existing);
    const localBefore = this.localNetworks();
    const record: PluggedRecord = {
      uuid: instance.uuid,
      hostname: instance.hostname,
      netns: netnsPath(this.o.stateDir, 'instance', instance.uuid),
      ports: instance.vifs.map((vif, i) => ({ ifname: instanceIfname(i), vif })),
    };
    const undo = new UndoStack(forInstance(this.log, instance.uuid));
    try {
      this.plugged.save(record);
      undo.push('forget the plug', () => this.plugged.remove(record.uuid));
      // Before the namespace exists: a step after netnsCreate that fails must not leave its pin.
      undo.push('remove the namespace and its ports', () => this.teardown(record));
      execute(this.addon, [
        op('netnsCreate', record.netns),
        ...planInstanceNamespace(record.netns),
      ]);
      await this.hostSide(() =>
        this.wirePorts(
          record,
          record.ports.map((p) => p.vif),
        ),
      );
      this.applyTable(`instance:${record.uuid}`, record.netns, this.instanceScript(record));
    } catch (err) {
      await undo.rollback();
      throw err;
    }
    this.reportPlugged(record.ports.map((p) => p.vif));
    // The document may have come (and been synced) while no port of a network
    // was here: the host side of its first local port (VXLAN forwarding to
    // the other hosts, its router, DNS) would then wait for an unrelated change.
    this.resyncIfNetworksMoved(record, localBefore);
    return this.plugResult(record);
  }

  unplug(instanceUuid: string): Promise<void> {
    return this.locks.run(instanceUuid, async () => {
      const record = this.plugged.get(instanceUuid);
      if (!record) return;
      const localBefore = this.localNetworks();
      this.teardown(record);
      this.plugged.remove(instanceUuid);
      forInstance(this.log, instanceUuid).info('instance unplugged', {
        ports: record.ports.length,
      });
      this.resyncIfNetworksMoved(record, localBefore);
    });
  }

  attach(instanceUuid: string, vif: Vif): Promise<void> {
    return this.locks.run(instanceUuid, async () => {
      validateVifs([vif]);
      const record = this.requirePlugged(instanceUuid);
      if (record.ports.some((p) => p.vif.id === vif.id)) return;
      const used = new Set(record.ports.map((p) => p.ifname));
      let index = 0;
      while (used.has(instanceIfname(index))) index++;
      const next = { ...record, ports: [...record.ports, { ifname: instanceIfname(index), vif }] };
      await this.hostSide(() => this.wirePorts(next, [vif]));
      try {
        this.plugged.save(next);
        this.applyTable(`instance:${next.uuid}`, next.netns, this.instanceScript(next));
      } catch (err) {
        this.unwirePort(vif.id);
        this.plugged.save(record);
        throw err;
      }
      this.reportPlugged([vif]);
    });
  }

  detach(instanceUuid: string, portId: string): Promise<void> {
    return this.locks.run(instanceUuid, async () => {
      const record = this.plugged.get(instanceUuid);
      if (!record?.ports.some((p) => p.vif.id === portId)) return;
      const next = { ...record, ports: record.ports.filter((p) => p.vif.id !== portId) };
      const localBefore = this.localNetworks();
      this.unwirePort(portId);
      this.plugged.save(next);
      this.applyTable(`instance:${next.uuid}`, next.netns, this.instanceScript(next));
      forInstance(this.log, instanceUuid).info('port detached', { port_id: portId });
      this.resyncIfNetworksMoved(record, localBefore);
    });
  }

  sync(state: HostNetworkState): Promise<void> {
    return this.hostSide(() => {
      // A control plane that lost its database starts again from revision 1: follow it.
      if (this.state?.revision !== state.revision)
        replaceFileSync(this.lastStateFile, JSON.stringify(state));
      this.state = state;
      return this.syncHost();
    });
  }

  restore(instances: PluggedInstance[]): Promise<void> {
    const wanted = new Map(instances.map((i) => [i.uuid, i]));
    return Promise.all([
      ...this.plugged
        .all()
        .filter((r) => !wanted.has(r.uuid))
        .map((r) => this.unplug(r.uuid)),
      ...instances.map((i) => this.restoreInstance(i)),
    ]).then(() => undefined);
  }

  async pluggedInstances(): Promise<string[]> {
    return this.plugged.all().map((r) => r.uuid);
  }

  async close(): Promise<void> {
    await this.hostSide(async () => undefined);
  }

  /** ---- internals ---- */

  private hostSide<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.locks.run(HOST, async () => fn());
  }

  /** A sync with the last document, after a port went: what no port needs any more goes too. */
  private resync(): void {
    if (!this.state || this.pendingSync) return;
    this.pendingSync = this.hostSide(() => {
      this.pendingSync = undefined;
      return this.syncHost();
    }).catch((err: unknown) => {
      this.log.error('network sync after a port change failed', { err });
    });
  }

  /** The networks with a port on this host: what the host side is made for. */
  private localNetworks(): Set<string> {
    return new Set(this.localPorts().map((p) => p.vif.network.id));
  }

  /**
   * A sync only when `record`'s ports came to (or left) a network with no
   * other port here, whose devices, router, DNS and forwarding the host
   * side then gains (or loses): what one port makes besides is its own,
   * made or removed with it, and a whole sync per port would cost every
   * build and delete time in proportion to the host's ports.
   */
  private resyncIfNetworksMoved(record: PluggedRecord, localBefore: Set<string>): void {
    const now = this.localNetworks();
    if (record.ports.some((p) => now.has(p.vif.network.id) !== localBefore.has(p.vif.network.id)))
      this.resync();
  }

  private reportPlugged(vifs: Vif[]): void {
    this.o.onPortsPlugged?.(vifs.map((v) => v.id));
  }

  /** Veths into the instance's namespace for `vifs` (ports of `record`), with the host side they need. */
  private wirePorts(record: PluggedRecord, vifs: Vif[]): void {
    const routed = defaultRoutePort(record.ports.map((p) => p.vif));
    const ports = record.ports
      .filter((p) => vifs.includes(p.vif))
      .map((p) => ({
        vif: p.vif,
        ifname: p.ifname,
        defaultRoute: p.vif.id === routed,
        port: this.statePort(p.vif.id),
      }));
    // A port plugged again makes its tap anew: that one is not dying.
    for (const p of ports) this.dyingTaps.delete(tapDevice(this.ctx, p.vif.id));
    const links = this.addon.linkList(this.ctx.hostNs);
    execute(this.addon, planPortsPlug(this.ctx, record.netns, ports, links));
    for (const p of ports)
      this.applied.set(
        `port:${p.vif.id}`,
        portFilterScript(this.ctx.prefix, portIdentity(this.ctx, p.vif, p.port)),
      );
  }

  private portTap(portId: string): { portId: string; tap: string } {
    return { portId, tap: tapDevice(this.ctx, portId) };
  }

  /** Deleting the host end takes the instance end with it; then the port's chain. */
  private unwirePort(portId: string): void {
    execute(this.addon, [
      op('linkDel', this.ctx.hostNs, tapDevice(this.ctx, portId)),
      op('nftRun', this.ctx.hostNs, deletePortScript(this.ctx.prefix, [this.portTap(portId)])),
    ]);
    this.applied.delete(`port:${portId}`);
  }

  /** Everything the instance's ports made on this host, and its namespace. */
  /**
   * The ports' chains in one transaction, then the namespace. Its veths go
   * with it: the kernel destroys a namespace nothing holds in the
   * background, which spares unplug the tens of milliseconds a veth
   * deletion spends waiting for RCU grace periods.
   */
  private teardown(record: PluggedRecord): void {
    const ports = record.ports.map((p) => this.portTap(p.vif.id));
    if (ports.length)
      execute(this.addon, [
        op('nftRun', this.ctx.hostNs, deletePortScript(this.ctx.prefix, ports)),
      ]);
    for (const p of record.ports) this.applied.delete(`port:${p.vif.id}`);
    removeNetns(this.addon, record.netns);
    const until = Date.now() + DYING_TAP_GRACE_MS;
    for (const p of record.ports) this.dyingTaps.set(tapDevice(this.ctx, p.vif.id), until);
    this.applied.delete(`instance:${record.uuid}`);
  }

  private isIntact(record: PluggedRecord): boolean {
    if (!fs.existsSync(record.netns)) return false;
    const links = new Set(this.addon.linkList(this.ctx.hostNs).map((l) => l.name));
    return record.ports.every((p) => links.has(tapDevice(this.ctx, p.vif.id)));
  }

  private plugResult(record: PluggedRecord) {
    return {
      netnsPath: record.netns,
      files: instanceNetworkFiles(
        record.hostname,
        record.ports.map((p) => p.vif),
        this.o.config.dns_domain,
      ),
    };
  }

  private requirePlugged(uuid: string): PluggedRecord {
    const record = this.plugged.get(uuid);
    if (!record) throw new NotFoundError(`instance ${uuid} has no network on this host`);
    return record;
  }

  private statePort(portId: string) {
    return this.state?.ports.find((p) => p.id === portId);
  }

  private instanceScript(record: PluggedRecord): string {
    const ifaces = record.ports.map((p) => filteredInterface(this.state, p));
    // Ports the document does not know yet stay closed until the sync it triggers.
    if (record.ports.some((p) => !this.statePort(p.vif.id))) this.resync();
    return instanceFilterScript(ifaces, this.state?.securityGroups ?? []);
  }

  private applyTable(key: string, netns: Netns, script: string): void {
    if (this.applied.get(key) === script) return;
    execute(this.addon, [op('nftRun', netns, script)]);
    this.applied.set(key, script);
  }

  /**
   * Brings back what a port needs when the host lost it (bridges or rules
   * deleted by hand, a host side rebuilt): a missing veth is made again
   * into the surviving namespace; addresses, routes and tables re-applied.
   */
  private restoreInstance(instance: PluggedInstance): Promise<void> {
    return this.locks.run(instance.uuid, async () => {
      const log = forInstance(this.log, instance.uuid);
      const record = this.plugged.get(instance.uuid);
      if (!record || !fs.existsSync(record.netns)) {
        // Its workload's namespace is gone with the pin: the next start gets a new one.
        log.warn('instance network namespace is gone; plugging it anew');
        await this.plugLocked(instance);
        return;
      }
      await this.hostSide(() => {
        const links = this.addon.linkList(this.ctx.hostNs);
        const have = new Set(links.map((l) => l.name));
        const missing = record.ports.filter((p) => !have.has(tapDevice(this.ctx, p.vif.id)));
        const routed = defaultRoutePort(record.ports.map((p) => p.vif));
        const present = record.ports
          .filter((q) => !missing.includes(q))
          .map((p) => ({ vif: p.vif, ifname: p.ifname, defaultRoute: p.vif.id === routed }));
        const ops = [
          ...planInstanceNamespace(record.netns),
          ...planPortsRepair(this.ctx, record.netns, present, links),
        ];
        execute(this.addon, ops);
        if (missing.length)
          this.wirePorts(
            record,
            missing.map((p) => p.vif),
          );
        for (const p of record.ports)
          this.applyTable(
            `port:${p.vif.id}`,
            this.ctx.hostNs,
            portFilterScript(
              this.ctx.prefix,
              portIdentity(this.ctx, p.vif, this.statePort(p.vif.id)),
            ),
          );
      });
      this.applied.delete(`instance:${record.uuid}`);
      this.applyTable(`instance:${record.uuid}`, record.netns, this.instanceScript(record));
      log.info('instance network restored', { rebuilt_ports: record.ports.length });
    });
  }

  private observe(): Observed {
    const { hostNs, prefix } = this.ctx;
    const now = Date.now();
    for (const [tap, until] of this.dyingTaps) if (until < now) this.dyingTaps.delete(tap);
    const hostLinks = this.addon.linkList(hostNs).filter((l) => !this.dyingTaps.has(l.name));
    const fdb = new Map<string, { mac: string; dst: string }[]>();
    for (const l of hostLinks)
      if (l.kind === 'vxlan' && l.name.startsWith(`${prefix}x`))
        fdb.set(l.name, this.addon.fdbList(hostNs, l.name));
    const tables = JSON.parse(this.addon.nftJson(hostNs, 'list tables')) as {
      nftables: { table?: { family: string; name: string } }[];
    };
    const hostTables = tables.nftables.flatMap((t) => (t.table ? [t.table] : []));
    const portsTable = portsTableName(prefix);
    const chains = hostTables.some((t) => t.family === 'bridge' && t.name === portsTable)
      ? (
          JSON.parse(this.addon.nftJson(hostNs, `list chains bridge`)) as {
            nftables: { chain?: { table: string; name: string } }[];
          }
        ).nftables.flatMap((c) => (c.chain?.table === portsTable ? [c.chain.name] : []))
      : [];
    return {
      hostLinks,
      hostRoutes: this.addon.routeList(hostNs),
      fdb,
      pins: fs.readdirSync(path.join(this.o.stateDir, 'netns')),
      hostTables,
      portChains: chains,
    };
  }

  private localPorts(): LocalPort[] {
    return this.plugged.all().flatMap((r) =>
      r.ports.map((p) => ({
        instanceUuid: r.uuid,
        netns: r.netns,
        ifname: p.ifname,
        vif: p.vif,
      })),
    );
  }

  private async syncHost(): Promise<void> {
    const state = this.state;
    if (!state) return;
    const local = this.localPorts();
    this.uplinks.assign(neededUplinks(state, local));
    const plan = planHostSync({
      ctx: this.ctx,
      state,
      local,
      observed: this.observe(),
      uplinkCidr: this.o.config.uplink_cidr,
      uplinks: this.uplinks.map,
      dnsServers: this.o.config.dns_servers,
    });
    const served = new Set(plan.dns.map((d) => d.networkId));
    for (const id of this.dns.known()) if (!served.has(id)) await this.dns.stop(id);
    execute(this.addon, plan.ops);
    for (const t of plan.tables) this.applyTable(t.key, t.netns, t.script);
    execute(this.addon, plan.removals);
    for (const key of [...this.applied.keys()])
      if (!plan.tables.some((t) => t.key === key) && !key.startsWith('instance:'))
        this.applied.delete(key);
    for (const cfg of plan.dns) await this.dns.ensure(cfg);
    this.log.debug('network synced', {
      revision: state.revision,
      operations: plan.ops.length + plan.removals.length,
    });
  }
}

function readLastState(file: string): HostNetworkState | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as HostNetworkState;
  } catch (err) {
    // Absent or torn: the first sync brings it.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError))
      throw err;
    return undefined;
  }
}
