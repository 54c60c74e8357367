/**
 * What the data plane keeps on disk under `<state_path>/network/`: one
 * record per plugged instance (its ports, in interface order, and the
 * namespace they are in), so that unplug removes exactly what plug made
 * and a restarted compute knows what to rebuild; and the uplink /31s
 * handed to router and DNS namespaces, so that a namespace keeps its
 * addresses across restarts. Plug-path writes are replaceFileSync's
 * (crash-safe, no fsync), as the runtime's own records are.
 */
import fs from 'node:fs';
import path from 'node:path';
import { replaceFileSync } from '../../common/atomic-file';
import { InternalError, InvalidArgumentError, ResourceExhaustedError } from '../../common/errors';
import type { Vif } from '../../nova/network-model';
import { parseCidr, uplinkCapacity } from './ipv4';

export interface PluggedPortRecord {
  ifname: string;
  vif: Vif;
}

export interface PluggedRecord {
  uuid: string;
  hostname: string;
  netns: string;
  ports: PluggedPortRecord[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InternalError(`network state ${file} is corrupt`, { cause: err });
  }
}

export class PluggedStore {
  private readonly records = new Map<string, PluggedRecord>();
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'instances');
  }

  load(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.records.clear();
    for (const name of fs.readdirSync(this.dir)) {
      const uuid = name.replace(/\.json$/, '');
      if (!UUID.test(uuid) || !name.endsWith('.json')) continue;
      const record = readJson<PluggedRecord>(path.join(this.dir, name));
      if (record) this.records.set(uuid, record);
    }
  }

  get(uuid: string): PluggedRecord | undefined {
    return this.records.get(uuid);
  }

  all(): PluggedRecord[] {
    return [...this.records.values()];
  }

  /** Known at once (sync must not remove what a plug in flight is making); on disk after. */
  save(record: PluggedRecord): void {
    this.records.set(record.uuid, record);
    replaceFileSync(this.file(record.uuid), JSON.stringify(record));
  }

  remove(uuid: string): void {
    this.records.delete(uuid);
    fs.rmSync(this.file(uuid), { force: true });
  }

  private file(uuid: string): string {
    if (!UUID.test(uuid))
      throw new InvalidArgumentError(`invalid instance uuid ${JSON.stringify(uuid)}`);
    return path.join(this.dir, `${uuid}.json`);
  }
}

/** /31 indexes of `[network] uplink_cidr`, by owner (router:<id>, dhcp:<network id>). */
export class UplinkAllocations {
  private owners = new Map<string, number>();
  private readonly file: string;

  constructor(
    stateDir: string,
    private readonly cidr: string,
  ) {
    this.file = path.join(stateDir, 'uplinks.json');
  }

  load(): void {
    this.owners = new Map(Object.entries(readJson<Record<string, number>>(this.file) ?? {}));
  }

  get map(): ReadonlyMap<string, number> {
    return this.owners;
  }

  /** Keeps the indexes of `owners` that have one, gives the others the lowest free, frees the rest. */
  assign(owners: readonly string[]): void {
    const next = new Map<string, number>();
    for (const o of owners) if (this.owners.has(o)) next.set(o, this.owners.get(o)!);
    const used = new Set(next.values());
    const capacity = uplinkCapacity(parseCidr(this.cidr).prefixLen);
    let free = 0;
    for (const o of owners) {
      if (next.has(o)) continue;
      while (used.has(free)) free++;
      if (free >= capacity)
        throw new ResourceExhaustedError(
          `[network] uplink_cidr ${this.cidr} has no free /31 for ${o}`,
        );
      next.set(o, free);
      used.add(free);
    }
    const changed =
      next.size !== this.owners.size || [...next].some(([o, i]) => this.owners.get(o) !== i);
    this.owners = next;
    if (changed) replaceFileSync(this.file, JSON.stringify(Object.fromEntries(next)));
  }
}
