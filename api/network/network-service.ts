/**
 * The network service: runs each operation in one database transaction
 * (a failed request changes nothing), and after each committed write
 * bumps the revision the computes compare and fans out `state_changed`
 * so that every compute fetches its HostNetworkState again.
 *
 * Every write first bumps the one network_state row: on PostgreSQL that
 * row lock serialises network writes, so IPAM, quotas and uniqueness
 * checks read a state no concurrent writer changes under them (SQLite
 * has one connection anyway).
 */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { Transport } from '../../messaging/transport';
import { NETWORK_RPC } from '../../nova/network-model';
import type { Database } from '../db/connection';
import type { NetTx } from './context';
import type { NetworkCaller } from './instance-network';
import { ensureDefaultGroup, hasDefaultGroup } from './security-groups';

export class NetworkService {
  private transport?: Transport;

  constructor(
    readonly db: Database,
    readonly config: BerthConfig,
    readonly log: Logger,
  ) {}

  /** Where `state_changed` goes after each committed write (none until the RPC is up). */
  announceOn(transport: Transport): void {
    this.transport = transport;
  }

  private tx(caller: NetworkCaller, q: NetTx['q']): NetTx {
    return { q, caller, config: this.config.network, host: this.config.DEFAULT.host };
  }

  read<T>(caller: NetworkCaller, fn: (tx: NetTx) => Promise<T>): Promise<T> {
    return fn(this.tx(caller, this.db));
  }

  async write<T>(caller: NetworkCaller, fn: (tx: NetTx) => Promise<T>): Promise<T> {
    let revision = 0;
    const result = await this.db.transaction(async (trx) => {
      await trx('network_state').where({ id: 1 }).increment('revision', 1);
      revision = Number((await trx('network_state').where({ id: 1 }).first()).revision);
      return fn(this.tx(caller, trx));
    });
    this.announce(revision);
    return result;
  }

  async revision(): Promise<number> {
    return Number((await this.db('network_state').where({ id: 1 }).first()).revision);
  }

  /** Neutron makes a project's `default` group on the project's first request, even a GET. */
  async ensureDefaultGroup(caller: NetworkCaller): Promise<void> {
    if (await this.read(caller, (tx) => hasDefaultGroup(tx, caller.projectId))) return;
    await this.write(caller, (tx) => ensureDefaultGroup(tx, caller.projectId));
  }

  private announce(revision: number): void {
    this.transport
      ?.fanoutCast(
        NETWORK_RPC.agents.topic,
        NETWORK_RPC.methods.stateChanged,
        { revision },
        {
          version: NETWORK_RPC.agents.version,
        },
      )
      .catch((err: Error) =>
        // The next committed change announces a newer revision, and the document is level-triggered.
        this.log.warn('network state_changed fanout failed', { revision, error: err.message }),
      );
  }
}
