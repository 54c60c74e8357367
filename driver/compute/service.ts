/**
 * `berth compute`: the compute node. Wires the transport, the driver, the
 * manager and the status API; reconciles at start; sends heartbeats and
 * syncs power states periodically; stops gracefully (instances keep
 * running).
 */
import path from 'node:path';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import { AmqpTransport, transportOptionsFromConfig } from '../../messaging/amqp-transport';
import type { Server, Transport } from '../../messaging/transport';
import { NOVA_FAULTS } from '../../nova/faults';
import { InstanceNotFound } from '../../nova/exceptions';
import type { ImageService } from '../image/image-service';
import { native } from '../../native';
import { NetworkAgent } from '../network/agent';
import { LinuxNetwork } from '../network/linux-network';
import type { Network } from '../network/network';
import { ContainerDriver } from '../virt/container-driver';
import type { ComputeDriver } from '../virt/driver';
import { ConductorAPI } from './conductor';
import { InstanceRecords } from './instance-records';
import { ComputeManager } from './manager';
import { SerialConsoleEndpoint } from './serial-console';
import { ComputeMetrics, listen, listeningUrl, statusApp } from './status-api';
import { hostImageStore } from '../image/host-image-store';
import { DiskTemplates } from '../runtime/disk-templates';
import { FileVolumes } from '../volume/file-volumes';
import { VOLUME_TOPIC, volumeEndpoint } from '../volume/volume-endpoint';
import type { VolumeService } from '../volume/volume-service';

/** How often the power states of all instances are compared with the driver's. */
const POWER_SYNC_INTERVAL_S = 60;

export interface ComputeServiceOptions {
  config: BerthConfig;
  log: Logger;
  /** defaults: AmqpTransport from the config, ContainerDriver on the local image store */
  transport?: Transport;
  driver?: ComputeDriver;
  /** the image store instances boot from (all-in-one shares the API's) */
  images?: ImageService;
  /** default: LinuxNetwork when the addon has the network primitives, else none */
  network?: Network;
  /**
   * default: FileVolumes under state_path, unless a driver is given (it
   * brings its own volumes or none); without volumes this host serves no
   * berth-volume calls and the API's volume scheduler never picks it
   */
  volumes?: VolumeService;
}

/**
 * The data plane on this host's kernel, when the addon was built with the
 * network primitives; without them the compute runs instances without
 * ports only (networks: none), as before there was a network service.
 */
function hostNetwork(config: BerthConfig, log: Logger, onPortsPlugged: (ids: string[]) => void) {
  const addon = native();
  if (typeof addon.linkAddVeth !== 'function') {
    log.warn('native addon has no network primitives: instances can have no ports on this host');
    return undefined;
  }
  const network = new LinuxNetwork({
    addon,
    stateDir: path.join(config.DEFAULT.state_path, 'network'),
    config: config.network,
    localIp: config.DEFAULT.my_ip,
    log,
    onPortsPlugged,
  });
  network.open();
  return network;
}

/**
 * The serial console endpoint on [console] proxyclient_address. An address
 * this process cannot bind costs the console, not the compute:
 * get_serial_console is then refused as Nova refuses a disabled console.
 */
async function startSerialConsole(
  config: BerthConfig,
  log: Logger,
  driver: ComputeDriver,
  records: InstanceRecords,
): Promise<SerialConsoleEndpoint | undefined> {
  const endpoint = new SerialConsoleEndpoint({
    host: config.console.proxyclient_address,
    log,
    openShell: (uuid) => {
      const r = records.get(uuid);
      if (!r) return Promise.reject(new InstanceNotFound(uuid));
      return driver.openConsoleShell(r.spec);
    },
  });
  try {
    await endpoint.listen();
  } catch (err) {
    log.warn('serial console disabled: cannot listen on [console] proxyclient_address', {
      proxyclient_address: config.console.proxyclient_address,
      error: (err as Error).message,
    });
    return undefined;
  }
  log.info('serial console listening', {
    host: config.console.proxyclient_address,
    port: endpoint.port,
  });
  return endpoint;
}

export class ComputeService {
  private timers: NodeJS.Timeout[] = [];
  private stopping?: Promise<void>;

  /** The status API's address as bound: with port 0 in status_listen, only the kernel knows it. */
  readonly statusUrl: string;

  private constructor(
    readonly manager: ComputeManager,
    readonly metrics: ComputeMetrics,
    private readonly transport: Transport,
    private readonly driver: ComputeDriver,
    private readonly rpc: Server,
    private readonly status: HttpServer,
    private readonly log: Logger,
    private readonly serialConsole: SerialConsoleEndpoint | undefined,
    private readonly network?: { agent: NetworkAgent; network: Network },
    private readonly volumeRpc?: Server,
  ) {
    this.statusUrl = listeningUrl(status);
  }

  static async start(o: ComputeServiceOptions): Promise<ComputeService> {
    const { config, log } = o;
    const host = config.DEFAULT.host;
    const state = config.DEFAULT.state_path;
    const transport =
      o.transport ??
      new AmqpTransport({ ...transportOptionsFromConfig(config), faults: NOVA_FAULTS });
    let agent: NetworkAgent | undefined;
    const network =
      o.network ??
      (o.driver ? undefined : hostNetwork(config, log, (ids) => agent?.portsPlugged(ids)));
    const images = o.images ?? hostImageStore(config, log);
    const volumes =
      o.volumes ??
      (o.driver
        ? undefined
        : new FileVolumes({
            root: path.join(state, 'volumes'),
            snapshots: path.join(state, 'volume-snapshots'),
            templates: new DiskTemplates(state),
            addon: native(),
            log,
          }));
    // Mounted again before the driver's initHost binds them into its instances once more.
    await volumes?.restore();
    const driver =
      o.driver ??
      new ContainerDriver({
        images,
        statePath: state,
        compute: config.compute,
        logger: log,
        network,
        volumes,
      });
    await driver.initHost(host);
    const records = new InstanceRecords(path.join(state, 'compute'));
    const metrics = new ComputeMetrics();
    const serialConsole = await startSerialConsole(config, log, driver, records);
    const manager = new ComputeManager({
      driver,
      transport,
      store: records,
      host,
      log,
      stopTimeout: config.compute.stop_timeout,
      images,
      serialConsole,
      observe: (method, ok, seconds) => metrics.observe(method, ok, seconds),
    });
    await manager.reconcile();
    const rpc = await transport.serve({ topic: 'compute', server: host }, manager.endpoints(), {
      fanout: true,
    });
    // Served once restored and claimed: a delete must see the instances' claims.
    const volumeRpc =
      volumes &&
      (await transport.serve({ topic: VOLUME_TOPIC, server: host }, [volumeEndpoint(volumes)]));
    const status = await listen(
      statusApp({ store: records, driver, transport, metrics, log }),
      config.compute.status_listen,
    );
    if (network) {
      agent = new NetworkAgent({ transport, network, host, tunnelIp: config.DEFAULT.my_ip, log });
      await agent.start();
    }
    const service = new ComputeService(
      manager,
      metrics,
      transport,
      driver,
      rpc,
      status,
      log,
      serialConsole,
      network && agent ? { agent, network } : undefined,
      volumeRpc,
    );
    service.startPeriodicTasks(config, host);
    log.info('compute service started', { host, status_url: service.statusUrl });
    return service;
  }

  private startPeriodicTasks(config: BerthConfig, host: string): void {
    const conductor = new ConductorAPI(this.transport, this.log);
    const interval = config.DEFAULT.report_interval;
    let reports = 0;
    let reported = true;
    const heartbeat = async () => {
      try {
        await conductor.reportHeartbeat(
          host,
          config.DEFAULT.my_ip,
          config.DEFAULT.default_availability_zone,
          ++reports,
          await this.driver.getAvailableResource(),
          interval,
        );
        if (!reported) this.log.info('heartbeats reach the conductor again');
        reported = true;
      } catch (err) {
        // Logged once per outage, not every interval.
        if (reported) this.log.warn('heartbeat not delivered', { error: (err as Error).message });
        reported = false;
      }
    };
    const sync = () =>
      this.manager
        .reconcile()
        .catch((err: Error) => this.log.error('power state sync failed', { error: err.message }));
    void heartbeat();
    this.timers.push(setInterval(() => void heartbeat(), interval * 1000));
    this.timers.push(setInterval(() => void sync(), POWER_SYNC_INTERVAL_S * 1000));
  }

  /** Stops consuming, lets in-flight operations finish, and disconnects; instances keep running. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.rpc.stop();
      await this.serialConsole?.close();
      await this.volumeRpc?.stop();
      await this.network?.agent.stop();
      await new Promise<void>((resolve) => this.status.close(() => resolve()));
      await this.driver.cleanupHost();
      await this.network?.network.close();
      await this.transport.close();
      this.log.info('compute service stopped');
    })();
    return this.stopping;
  }
}
