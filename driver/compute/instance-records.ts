/**
 * This host's record of each instance, written atomically and durably (design §4) to
 * `<state_path>/compute/<uuid>.json`: the manager's view in Nova's terms
 * (vm_state, task_state, power_state, fault). It survives restarts and is
 * reconciled with the driver, which keeps its own records, at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file';
import type { ImageMeta, InstanceSpec } from '../../nova/instance-object';
import type { PowerState } from '../../nova/power-state';
import type { TaskState, VmState } from '../../nova/states';
import type { FlavorSize } from '../virt/driver';

export interface InstanceFault {
  code: number;
  message: string;
  created_at: string;
}

export interface ManagedInstance {
  uuid: string;
  vm_state: VmState;
  task_state: TaskState;
  power_state: PowerState;
  spec: InstanceSpec;
  image: ImageMeta;
  /** the Instance object's fields as last received, updated with our changes */
  data: Record<string, unknown>;
  fault?: InstanceFault;
  launched_at?: string;
  /** while resized (VERIFY_RESIZE): the sizes a revert goes back to */
  old_flavor?: FlavorSize;
  updated_at: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class InstanceRecords {
  private readonly records = new Map<string, ManagedInstance>();

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const file of fs.readdirSync(dir)) {
      const uuid = file.replace(/\.json$/, '');
      if (!file.endsWith('.json') || !UUID.test(uuid)) continue;
      try {
        const record = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ManagedInstance;
        // Records written before instances had ports carry no network info.
        record.spec.networkInfo ??= [];
        this.records.set(uuid, record);
      } catch {
        // a torn write cannot happen (atomic rename); an unreadable file is skipped
      }
    }
  }

  get(uuid: string): ManagedInstance | undefined {
    return this.records.get(uuid);
  }

  all(): ManagedInstance[] {
    return [...this.records.values()];
  }

  /** Durable when it resolves: a power cut cannot lose what the conductor was then told. */
  async save(record: ManagedInstance): Promise<void> {
    record.updated_at = new Date().toISOString();
    await writeFileAtomic(path.join(this.dir, `${record.uuid}.json`), JSON.stringify(record));
    this.records.set(record.uuid, record);
  }

  remove(uuid: string): void {
    fs.rmSync(path.join(this.dir, `${uuid}.json`), { force: true });
    this.records.delete(uuid);
  }
}
