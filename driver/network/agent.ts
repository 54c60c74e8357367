/**
 * The compute's network agent: asks the control plane for this host's
 * document (get_host_state) at start and whenever a `state_changed`
 * fanout arrives, and hands it to Network.sync. Level-triggered: a burst
 * of notifications becomes one fetch (debounced), fetches never overlap
 * (serialized; one more runs if a notification came during one), and a
 * failed one is retried with backoff, so a lost notification or an API
 * restart only delays a change. Also reports ports ACTIVE once plugged.
 */
import type { Logger } from 'winston';
import type { Server, Transport } from '../../messaging/transport';
import { type HostNetworkState, NETWORK_RPC } from '../../nova/network-model';
import type { Network } from './network';

export interface NetworkAgentOptions {
  transport: Transport;
  network: Network;
  host: string;
  /** `[DEFAULT] my_ip`: the VTEP the control plane records for this host */
  tunnelIp: string;
  log: Logger;
  debounceMs?: number;
  /** RPC timeout of get_host_state, seconds */
  timeout?: number;
}

const MAX_BACKOFF_MS = 30000;

export class NetworkAgent {
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private syncing?: Promise<void>;
  private again = false;
  private stopped = false;
  private failures = 0;
  private synced = -1;
  /** ports plugged whose ACTIVE report has not reached the control plane yet */
  private unreported = new Set<string>();
  private reporting?: Promise<void>;

  constructor(private readonly o: NetworkAgentOptions) {}

  /** Listens for `state_changed` and starts the first fetch; never fails for an absent API. */
  async start(): Promise<void> {
    this.server = await this.o.transport.serve(
      { topic: NETWORK_RPC.agents.topic, server: this.o.host },
      [
        {
          version: NETWORK_RPC.agents.version,
          methods: {
            [NETWORK_RPC.methods.stateChanged]: (args) => this.changed(Number(args.revision)),
          },
        },
      ],
      { fanout: true },
    );
    this.schedule(0);
  }

  /** The revision of the document last synced (-1: none yet). */
  get revision(): number {
    return this.synced;
  }

  /** Resolves once no fetch is pending or running (tests and shutdown wait for it). */
  async idle(): Promise<void> {
    while (this.timer || this.running) await (this.running ?? new Promise((r) => setImmediate(r)));
  }

  /** Ports the data plane wired: reported ACTIVE now, and again after a failure. */
  portsPlugged(portIds: string[]): void {
    for (const id of portIds) this.unreported.add(id);
    this.reporting ??= this.report().finally(() => (this.reporting = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.server?.stop();
    // Not the fetch: a call nobody answers would hold shutdown for its whole timeout.
    await this.syncing;
  }

  private changed(revision: number): void {
    if (Number.isFinite(revision) && revision <= this.synced) return;
    this.schedule(this.o.debounceMs ?? 50);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.fetchAndSync().finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(0);
        }
      });
    }, delayMs);
  }

  private async fetchAndSync(): Promise<void> {
    try {
      const state = (await this.o.transport.call(
        NETWORK_RPC.server,
        NETWORK_RPC.methods.getHostState,
        { host: this.o.host, tunnel_ip: this.o.tunnelIp },
        { timeout: this.o.timeout ?? 30 },
      )) as HostNetworkState;
      if (this.stopped) return;
      this.syncing = this.o.network.sync(state);
      await this.syncing;
      this.synced = state.revision;
      if (this.failures)
        this.o.log.info('network state synced again', { revision: state.revision });
      this.failures = 0;
      if (this.unreported.size) this.portsPlugged([]);
    } catch (err) {
      const delay = Math.min(1000 * 2 ** this.failures, MAX_BACKOFF_MS);
      if (this.failures++ === 0)
        this.o.log.warn('network state sync failed; retrying', { err, retryInMs: delay });
      if (!this.stopped) this.again = false;
      setImmediate(() => this.schedule(delay));
    }
  }

  private async report(): Promise<void> {
    while (this.unreported.size && !this.stopped) {
      const ids = [...this.unreported];
      try {
        await this.o.transport.call(NETWORK_RPC.server, NETWORK_RPC.methods.portsStatus, {
          host: this.o.host,
          port_ids: ids,
          status: 'ACTIVE',
        });
        for (const id of ids) this.unreported.delete(id);
      } catch (err) {
        // Kept for the next successful sync, which retries them.
        this.o.log.warn('port status not delivered', { port_ids: ids, err });
        return;
      }
    }
  }
}
