/** The instances table: rows, and the JSON columns decoded. */
import type { Database } from './connection';
import type { RequestedNetworks } from '../network/instance-network';

export interface FlavorSnapshot {
  flavorid: string;
  name: string;
  memory_mb: number;
  vcpus: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  rxtx_factor: number;
  is_public: boolean;
  description: string | null;
  extra_specs: Record<string, string>;
}

export interface InstanceFault {
  code: number;
  message: string;
  details?: string;
  created_at: string;
}

export interface RequestSpec {
  /** the zone the user asked for */
  availability_zone?: string;
  group?: { uuid: string; policy: string };
  scheduler_hints?: Record<string, unknown>;
  /** what server create asked for (absent on servers made before networking) */
  networks?: RequestedNetworks;
  /** security group names the ports were made with */
  security_groups?: string[];
  /** os-interface tags (2.70) by port id */
  port_tags?: Record<string, string>;
  /** new volumes of block_device_mapping_v2, made on the host at build; gone once made */
  blank_volumes?: BlankVolumeSpec[];
  /** the image a volume-backed instance (image_ref '') boots: its root volume's */
  boot_image?: string;
  /** while shelved: the snapshot it is unshelved from (Nova's system_metadata shelved_image_id) */
  shelved_image?: string;
}

/** The image an instance runs: its image_ref, or for a volume-backed one its root volume's image. */
export const bootImageOf = (i: Pick<Instance, 'image_ref' | 'request_spec'>): string =>
  i.image_ref || i.request_spec.boot_image || '';

export interface BlankVolumeSpec {
  size: number;
  /** boot index 0, made from the image this metadata describes (Cinder's volume_image_metadata) */
  root?: boolean;
  imageMetadata?: Record<string, string>;
  volumeType?: string;
  device?: string;
  tag?: string;
  deleteOnTermination: boolean;
}

/** A row as stored: JSON columns are text. */
export interface InstanceRow {
  id: number;
  uuid: string;
  project_id: string;
  user_id: string;
  display_name: string;
  display_description: string | null;
  hostname: string;
  host: string | null;
  node: string | null;
  availability_zone: string | null;
  flavorid: string;
  flavor: string;
  image_ref: string;
  key_name: string | null;
  key_data: string | null;
  vm_state: string;
  task_state: string | null;
  power_state: number;
  metadata: string;
  tags: string;
  user_data: string | null;
  access_ip_v4: string;
  access_ip_v6: string;
  reservation_id: string;
  launch_index: number;
  locked: boolean | number;
  /** OS-DCF:diskConfig AUTO */
  auto_disk_config: boolean | number;
  locked_by: string | null;
  locked_reason: string | null;
  request_spec: string;
  attempts: number;
  tried_hosts: string;
  fault: string | null;
  launched_at: string | null;
  terminated_at: string | null;
  deleted: boolean | number;
  deleted_at: string | null;
  created_at: string;
  updated_at: string | null;
}

/** The row with its JSON decoded: what routes and views work with. */
export interface Instance extends Omit<
  InstanceRow,
  'flavor' | 'metadata' | 'tags' | 'request_spec' | 'tried_hosts' | 'fault'
> {
  flavor: FlavorSnapshot;
  metadata: Record<string, string>;
  tags: string[];
  request_spec: RequestSpec;
  tried_hosts: string[];
  fault: InstanceFault | null;
}

export function decodeInstance(row: InstanceRow): Instance {
  return {
    ...row,
    flavor: JSON.parse(row.flavor) as FlavorSnapshot,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    tags: JSON.parse(row.tags) as string[],
    request_spec: JSON.parse(row.request_spec) as RequestSpec,
    tried_hosts: JSON.parse(row.tried_hosts) as string[],
    fault: row.fault ? (JSON.parse(row.fault) as InstanceFault) : null,
  };
}

/** The newest row of `uuid`, a deleted one too (Nova's read_deleted="yes"). */
export async function getInstanceEvenDeleted(
  db: Database,
  uuid: string,
): Promise<Instance | undefined> {
  const row = await db<InstanceRow>('instances').where({ uuid }).orderBy('id', 'desc').first();
  return row ? decodeInstance(row) : undefined;
}

export async function getInstance(db: Database, uuid: string): Promise<Instance | undefined> {
  const row = await db<InstanceRow>('instances').where({ uuid, deleted: false }).first();
  return row ? decodeInstance(row) : undefined;
}
