/**
 * A fake compute side of the `berth-volume` RPC (the volume contract) for
 * unit tests: volumes and snapshots kept in memory per host, every call
 * recorded, and failures a test can arrange per method, raised as the
 * host would (Cinder exception class names as oslo failures).
 */
import { withRemoteFault } from '../../messaging/failures';
import type { Server, Transport } from '../../messaging/transport';
import { VOLUME_RPC } from '../../api/volume/volume-rpc';

export interface FakeVolume {
  id: string;
  size: number;
  name: string;
  snapshots: Set<string>;
}

const cinderError = (exceptionClass: string, message: string) =>
  withRemoteFault(new Error(message), { class: exceptionClass, module: 'cinder.exception' });

export class FakeVolumeHost {
  readonly volumes = new Map<string, FakeVolume>();
  readonly calls: { method: string; args: Record<string, unknown> }[] = [];
  /** the next call of a method fails with this Cinder exception */
  readonly failNext = new Map<string, { exceptionClass: string; message: string }>();
  /** volume ids the host reports mounted (delete refuses them with VolumeIsBusy) */
  readonly mounted = new Set<string>();
  freeGb = 100;
  private server?: Server;

  constructor(readonly host: string) {}

  async serve(transport: Transport): Promise<this> {
    this.server = await transport.serve({ topic: VOLUME_RPC.topic, server: this.host }, [
      { version: VOLUME_RPC.version, methods: this.methods() },
    ]);
    return this;
  }

  stop(): Promise<void> {
    return this.server?.stop() ?? Promise.resolve();
  }

  private methods() {
    const m: Record<string, (a: Record<string, unknown>) => unknown> = {
      create_volume: (a) => {
        const v = a.volume as { id: string; size: number; name: string };
        if (!this.volumes.has(v.id)) this.volumes.set(v.id, { ...v, snapshots: new Set() });
        return {};
      },
      delete_volume: (a) => {
        const id = a.volume_id as string;
        if (this.mounted.has(id)) throw cinderError('VolumeIsBusy', `volume ${id} is mounted`);
        this.volumes.delete(id);
        return {};
      },
      extend_volume: (a) => {
        this.volume(a.volume_id).size = a.new_size as number;
        return {};
      },
      create_snapshot: (a) => {
        this.volume(a.volume_id).snapshots.add(a.snapshot_id as string);
        return {};
      },
      delete_snapshot: (a) => {
        this.volumes.get(a.volume_id as string)?.snapshots.delete(a.snapshot_id as string);
        return {};
      },
      get_capacity: () => ({ total_gb: 1000, free_gb: this.freeGb }),
    };
    return Object.fromEntries(
      Object.entries(m).map(([name, fn]) => [
        name,
        (args: Record<string, unknown>) => {
          this.calls.push({ method: name, args });
          const failure = this.failNext.get(name);
          if (failure) {
            this.failNext.delete(name);
            throw cinderError(failure.exceptionClass, failure.message);
          }
          return fn(args);
        },
      ]),
    );
  }

  private volume(id: unknown): FakeVolume {
    const v = this.volumes.get(id as string);
    if (!v) throw cinderError('VolumeNotFound', `Volume ${String(id)} could not be found.`);
    return v;
  }
}
