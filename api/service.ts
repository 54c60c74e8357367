/**
 * `berth api`: opens the database (migrating it), seeds the default
 * flavors and the external network `public`, serves the conductor and
 * network agent topics for the computes, and listens with the Nova
 * compute API and the embedded image and network APIs. One of however many
 * share the database re-drives builds a stopped one left (OnceOnlyDuties).
 */
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'winston';
import type { BerthConfig } from '../config/schema';
import type { ImageService } from '../driver/image/image-service';
import { UnavailableError } from '../common/errors';
import { UndoStack } from '../common/undo-stack';
import { AmqpTransport, transportOptionsFromConfig } from '../messaging/amqp-transport';
import type { Server, Transport } from '../messaging/transport';
import { NOVA_FAULTS } from '../nova/faults';
import { createApiApp } from './app';
import { createAuthenticator, type Authenticator } from './auth';
import { SerialProxy } from './console/serial-proxy';
import { externalGlance, imagesFor } from './image/external-glance';
import { TransportComputeRpcAPI } from './compute-rpc';
import { BuildCoordinator } from './conductor/build';
import { Conductor } from './conductor/conductor';
import { reportControlServices, type Heartbeat } from './conductor/control-services';
import { OnceOnlyDuties } from './conductor/once-only';
import { exclusively, openDatabase, type Database } from './db/connection';
import { seedDefaultFlavors } from './db/flavors';
import type { ApiDeps } from './deps';
import { serveAgentRpc } from './network/agent-rpc';
import { ensurePublicNetwork } from './network/bootstrap';
import type { InstanceNetworkApi } from './network/instance-network';
import { InstancePorts } from './network/instance-ports';
import { NetworkService } from './network/network-service';
import { FilterScheduler } from './scheduler/scheduler';
import { TransportVolumeRpcAPI } from './volume/volume-rpc';
import { VolumeService } from './volume/volume-service';
import { hostImageStore } from '../driver/image/host-image-store';

export interface ApiServiceOptions {
  config: BerthConfig;
  log: Logger;
  /** defaults: AmqpTransport from the config, the local image store under state_path */
  transport?: Transport;
  images?: ImageService;
  auth?: Authenticator;
  /** the instances' ports; by default none can be asked for (no network service) */
  instanceNetwork?: InstanceNetworkApi;
}

/** Splits host:port, including [v6]:port. */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}

export class ApiService {
  private stopping?: Promise<void>;

  private constructor(
    readonly deps: ApiDeps,
    readonly url: string,
    private readonly http: HttpServer,
    private readonly serialProxy: SerialProxy,
    private readonly conductor: Server,
    private readonly agentRpc: Server,
    private readonly heartbeat: Heartbeat,
    private readonly duties: OnceOnlyDuties,
    private readonly transport: Transport,
    private readonly db: Database,
  ) {}

  static async start(o: ApiServiceOptions): Promise<ApiService> {
    const { config, log } = o;
    const auth = o.auth ?? createAuthenticator(config, log);
    // A start that fails half way (port in use, broker away) leaves no
    // open connection behind to keep the process alive.
    const undo = new UndoStack(log);
    try {
      const db = await openDatabase(config.database.connection);
      undo.push('database', () => db.destroy());
      const glance = externalGlance(config, log);
      const network = new NetworkService(db, config, log);
      await exclusively(db, async () => {
        await seedDefaultFlavors(db);
        await ensurePublicNetwork(network);
      });
      const transport =
        o.transport ??
        new AmqpTransport({ ...transportOptionsFromConfig(config), faults: NOVA_FAULTS });
      undo.push('transport', () => transport.close());
      network.announceOn(transport);
      const parts = {
        config,
        db,
        log,
        images: o.images ?? glance ?? hostImageStore(config, log),
        glance: o.images ? undefined : glance,
        compute: new TransportComputeRpcAPI(transport),
        scheduler: new FilterScheduler(db, config, log),
        instanceNetwork: o.instanceNetwork ?? new InstancePorts(network),
      };
      const volumes = new VolumeService(
        db,
        new TransportVolumeRpcAPI(transport),
        config,
        log,
        (ctx) => imagesFor(parts, ctx),
      );
      const builds = new BuildCoordinator({ ...parts, volumes });
      const deps: ApiDeps = { ...parts, builds, network, volumes };
      const conductor = await new Conductor(
        db,
        config,
        builds,
        parts.instanceNetwork,
        volumes,
        log,
      ).serve(transport, config.DEFAULT.host);
      undo.push('conductor', () => conductor.stop());
      const agentRpc = await serveAgentRpc(network, transport, config.DEFAULT.host);
      undo.push('network agent rpc', () => agentRpc.stop());
      const heartbeat = await reportControlServices(db, config, log);
      undo.push('service reports', () => heartbeat.stop());
      const { host, port } = parseListen(config.api.listen);
      const http = createApiApp(deps, auth).listen(port, host);
      const serialProxy = new SerialProxy({
        db,
        compute: parts.compute,
        tokenTtl: config.console.token_ttl,
        log,
      });
      serialProxy.attach(http);
      undo.push('listener', () => new Promise<void>((resolve) => http.close(() => resolve())));
      await new Promise<void>((resolve, reject) => {
        http.once('listening', resolve);
        http.once('error', (e: Error) =>
          reject(new UnavailableError(`[api] listen = ${config.api.listen}: ${e.message}`)),
        );
      });
      const address = http.address() as { port: number };
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
      const duties = new OnceOnlyDuties(db, config, builds, log);
      duties.start();
      undo.push('conductor duties', () => duties.stop());
      log.info('api service started', { url, lease_holder: duties.holder });
      return new ApiService(
        deps,
        url,
        http,
        serialProxy,
        conductor,
        agentRpc,
        heartbeat,
        duties,
        transport,
        db,
      );
    } catch (err) {
      await undo.rollback();
      throw err;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.http.closeAllConnections?.();
      // Upgraded sockets are no longer the HTTP server's to close.
      this.serialProxy.close();
      await new Promise<void>((resolve) => this.http.close(() => resolve()));
      await this.conductor.stop();
      await this.agentRpc.stop();
      this.heartbeat.stop();
      await this.duties.stop();
      await this.deps.builds.drain();
      await this.deps.volumes.drain();
      await this.transport.close();
      await this.db.destroy();
      this.deps.log.info('api service stopped');
    })();
    return this.stopping;
  }
}
