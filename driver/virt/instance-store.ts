/**
 * What the ContainerDriver keeps about each instance beyond its container:
 * the flavor (for resource accounting) and the power state berth last
 * asked for, which tells a suspend from a pause (both are a frozen cgroup)
 * and an exit berth caused from one the workload made. One JSON file per
 * instance, `<state_path>/instances/<uuid>/instance.json`, replaced
 * atomically, read back when the compute service starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file';
import { InternalError, InvalidArgumentError } from '../../common/errors';
import { UUID } from '../image/image-record';
import type { Vif } from '../../nova/network-model';
import type { FlavorUsage } from './host-resources';
import type { VolumeConnection } from './driver';

export type PowerIntent = 'running' | 'stopped' | 'paused' | 'suspended';

export interface InstanceRecord extends FlavorUsage {
  uuid: string;
  name: string;
  imageId: string;
  intent: PowerIntent;
  /** when the workload last started, ms since the epoch */
  startedAt?: number;
  /** the ports plugged into its namespace, for restore at start; absent: no network */
  network?: { hostname: string; vifs: Vif[] };
  /** the volumes mounted into it at each start (and now, while it runs); absent: none */
  volumes?: VolumeConnection[];
  /** the volume its writable root layer is on (boot from volume); absent: the host's disk */
  rootVolume?: string;
}

export class InstanceStore {
  private readonly records = new Map<string, InstanceRecord>();

  constructor(readonly root: string) {}

  async load(): Promise<void> {
    this.records.clear();
    await fs.promises.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const uuid of await fs.promises.readdir(this.root)) {
      if (!UUID.test(uuid)) continue;
      let text: string;
      try {
        text = await fs.promises.readFile(this.file(uuid), 'utf8');
      } catch (err) {
        // A spawn interrupted between making the directory and writing the record.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      try {
        this.records.set(uuid, JSON.parse(text) as InstanceRecord);
      } catch (err) {
        throw new InternalError(`instance record ${this.file(uuid)} is corrupt`, { cause: err });
      }
    }
  }

  get(uuid: string): InstanceRecord | undefined {
    return this.records.get(uuid);
  }

  all(): InstanceRecord[] {
    return [...this.records.values()];
  }

  /** The new record is what `get` returns at once; the write follows. */
  async save(record: InstanceRecord): Promise<void> {
    const dir = this.dir(record.uuid);
    this.records.set(record.uuid, record);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(record.uuid), `${JSON.stringify(record, null, 2)}\n`);
  }

  async remove(uuid: string): Promise<void> {
    const dir = this.dir(uuid);
    this.records.delete(uuid);
    await fs.promises.rm(dir, { recursive: true, force: true });
  }

  private dir(uuid: string): string {
    // The uuid becomes a path: anything else could name a directory outside root.
    if (!UUID.test(uuid))
      throw new InvalidArgumentError(`invalid instance uuid ${JSON.stringify(uuid)}`);
    return path.join(this.root, uuid);
  }

  private file(uuid: string): string {
    return path.join(this.dir(uuid), 'instance.json');
  }
}
