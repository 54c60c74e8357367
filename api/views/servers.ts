/**
 * The server resource as Nova's view builder shapes it
 * (nova/api/openstack/compute/views/servers.py), per microversion and per
 * caller: extended attributes are for admins.
 */
import { createHash } from 'node:crypto';
import { apiStatus, type TaskState, type VmState } from '../../nova/states';
import type { ApiContext } from '../context';
import type { Instance } from '../db/instances';
import { isoSeconds } from '../http';
import type { Microversion } from '../microversion';
import type { Vif } from '../../nova/network-model';
import type { AttachmentRow } from '../volume/store';
import { addressesOf } from './addresses';

export interface ViewOptions {
  base: string;
  ctx: ApiContext;
  /** "UP", "DOWN", … for 2.16 host_status, by host */
  hostStatus?: (host: string | null) => string;
  /** uuids of the server groups the instance is in (2.71, show only) */
  serverGroups?: string[];
  /** the instances' ports as the network service has them now, by uuid */
  networkInfo: Map<string, Vif[]>;
  /** the instances' volume attachments, by uuid */
  volumes: Map<string, AttachmentRow[]>;
}

const POWER_STATES = [0, 1, 3, 4, 6, 7];

export const statusOf = (i: Pick<Instance, 'vm_state' | 'task_state'>) =>
  apiStatus(i.vm_state as VmState, i.task_state as TaskState);

function links(base: string, kind: string, id: string) {
  return [
    { rel: 'self', href: `${base}/v2.1/${kind}/${id}` },
    { rel: 'bookmark', href: `${base}/${kind}/${id}` },
  ];
}

/** Nova's hostId: an opaque per-project id of the host. */
function hostId(i: Instance): string {
  return i.host
    ? createHash('sha224')
        .update(i.project_id + i.host)
        .digest('hex')
    : '';
}

/**
 * hostId for a page of servers: a project's servers share a few hosts, and a
 * SHA-224 per server was a tenth of a 1000-server listing.
 */
function hostIdsOnce(): (i: Instance) => string {
  const ids = new Map<string, string>();
  return (i) => {
    if (!i.host) return '';
    const key = i.project_id + i.host;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = hostId(i)));
    return id;
  };
}

/**
 * What the microversion adds to the detail view. Read once per request:
 * each Microversion.ge parses its argument, and ten of them per server were
 * measurable on a 1000-server listing.
 */
function detailGates(v: Microversion) {
  return {
    embeddedFlavor: v.ge('2.47'),
    extendedAttributes: v.ge('2.3'),
    hostname: v.ge('2.90'),
    locked: v.ge('2.9'),
    hostStatus: v.ge('2.16'),
    description: v.ge('2.19'),
    tags: v.ge('2.26'),
    trustedCertificates: v.ge('2.63'),
    serverGroups: v.ge('2.71'),
    lockedReason: v.ge('2.73'),
  };
}

type DetailGates = ReturnType<typeof detailGates>;

/** Nova prints launched_at/terminated_at with microseconds and no zone. */
const usageTime = (t: string | null) => (t ? `${t.slice(0, 19)}.000000` : null);

export function serverBrief(i: Instance, base: string) {
  return {
    id: i.uuid,
    name: i.display_name,
    links: links(base, 'servers', i.uuid),
  };
}

export function serverDetail(i: Instance, o: ViewOptions) {
  return detailView(i, o, detailGates(o.ctx.version), hostId);
}

/** The detail views of a page of servers (GET /servers/detail). */
export function serverDetails(instances: Instance[], o: ViewOptions) {
  const gates = detailGates(o.ctx.version);
  const hostIdOf = hostIdsOnce();
  return instances.map((i) => detailView(i, o, gates, hostIdOf));
}

function detailView(
  i: Instance,
  o: ViewOptions,
  gates: DetailGates,
  hostIdOf: (i: Instance) => string,
) {
  const { ctx, base } = o;
  const status = statusOf(i);
  const s: Record<string, unknown> = {
    id: i.uuid,
    name: i.display_name,
    status,
    tenant_id: i.project_id,
    user_id: i.user_id,
    metadata: i.metadata,
    hostId: hostIdOf(i),
    image: i.image_ref
      ? { id: i.image_ref, links: [{ rel: 'bookmark', href: `${base}/images/${i.image_ref}` }] }
      : '',
    flavor: gates.embeddedFlavor
      ? {
          vcpus: i.flavor.vcpus,
          ram: i.flavor.memory_mb,
          disk: i.flavor.root_gb,
          ephemeral: i.flavor.ephemeral_gb,
          swap: i.flavor.swap,
          original_name: i.flavor.name,
          extra_specs: i.flavor.extra_specs,
        }
      : {
          id: i.flavorid,
          links: [{ rel: 'bookmark', href: `${base}/flavors/${i.flavorid}` }],
        },
    created: isoSeconds(i.created_at),
    updated: isoSeconds(i.updated_at ?? i.created_at),
    // Nova hides the addresses of a server that is still building.
    addresses: i.vm_state === 'building' ? {} : addressesOf(o.networkInfo.get(i.uuid) ?? [], true),
    accessIPv4: i.access_ip_v4,
    accessIPv6: i.access_ip_v6,
    links: links(base, 'servers', i.uuid),
    'OS-DCF:diskConfig': i.auto_disk_config ? 'AUTO' : 'MANUAL',
    'OS-EXT-AZ:availability_zone': i.availability_zone ?? '',
    config_drive: '',
    key_name: i.key_name,
    'OS-SRV-USG:launched_at': usageTime(i.launched_at),
    'OS-SRV-USG:terminated_at': usageTime(i.terminated_at),
    'OS-EXT-STS:task_state': i.task_state,
    'OS-EXT-STS:vm_state': i.vm_state,
    'OS-EXT-STS:power_state': POWER_STATES.includes(i.power_state) ? i.power_state : 0,
    'os-extended-volumes:volumes_attached': (o.volumes.get(i.uuid) ?? []).map((a) =>
      gates.extendedAttributes
        ? { id: a.volume_id, delete_on_termination: a.delete_on_termination }
        : { id: a.volume_id },
    ),
  };
  // Nova leaves the key out for a server that has no security group left.
  const groups = i.request_spec.security_groups ?? ['default'];
  if (groups.length) s.security_groups = groups.map((name) => ({ name }));
  if (status === 'BUILD' || status === 'ACTIVE') s.progress = 0;
  if (ctx.isAdmin) {
    s['OS-EXT-SRV-ATTR:host'] = i.host;
    s['OS-EXT-SRV-ATTR:hypervisor_hostname'] = i.node;
    s['OS-EXT-SRV-ATTR:instance_name'] = `instance-${i.id.toString(16).padStart(8, '0')}`;
    if (gates.extendedAttributes) {
      Object.assign(s, {
        'OS-EXT-SRV-ATTR:reservation_id': i.reservation_id,
        'OS-EXT-SRV-ATTR:launch_index': i.launch_index,
        'OS-EXT-SRV-ATTR:hostname': i.hostname,
        'OS-EXT-SRV-ATTR:kernel_id': '',
        'OS-EXT-SRV-ATTR:ramdisk_id': '',
        'OS-EXT-SRV-ATTR:root_device_name': null,
        'OS-EXT-SRV-ATTR:user_data': i.user_data,
      });
    }
  } else if (gates.hostname) {
    s['OS-EXT-SRV-ATTR:hostname'] = i.hostname;
  }
  if (gates.locked) s.locked = Boolean(i.locked);
  if (gates.hostStatus) s.host_status = o.hostStatus ? o.hostStatus(i.host) : '';
  if (gates.description) s.description = i.display_description;
  if (gates.tags) s.tags = i.tags;
  if (gates.trustedCertificates) s.trusted_image_certificates = null;
  if (gates.serverGroups && o.serverGroups) s.server_groups = o.serverGroups;
  if (gates.lockedReason) s.locked_reason = i.locked_reason;
  if ((status === 'ERROR' || status === 'DELETED') && i.fault) {
    s.fault = {
      code: i.fault.code,
      created: isoSeconds(i.fault.created_at),
      message: i.fault.message,
      ...(ctx.isAdmin && i.fault.details ? { details: i.fault.details } : {}),
    };
  }
  return s;
}

/** The keys of Nova's update view before 2.75; the ones the microversion gates are added by detailView. */
const UPDATE_VIEW_KEYS = new Set([
  'id',
  'name',
  'status',
  'tenant_id',
  'user_id',
  'metadata',
  'hostId',
  'image',
  'flavor',
  'created',
  'updated',
  'addresses',
  'accessIPv4',
  'accessIPv6',
  'links',
  'OS-DCF:diskConfig',
  'progress',
  'fault',
  'locked',
  'description',
  'tags',
  'trusted_image_certificates',
  'server_groups',
  'locked_reason',
]);

/**
 * PUT /servers/{id}'s answer: before 2.75 Nova shows the server without its
 * extended attributes (AZ, key, usage, states, host, volumes, security
 * groups) and with plain addresses; from 2.75 as GET does.
 */
export function serverUpdateView(shown: Record<string, unknown>, v: Microversion) {
  if (v.ge('2.75')) return shown;
  const out = Object.fromEntries(Object.entries(shown).filter(([k]) => UPDATE_VIEW_KEYS.has(k)));
  out.addresses = plainAddresses(shown.addresses as Record<string, Record<string, unknown>[]>);
  return out;
}

function plainAddresses(addresses: Record<string, Record<string, unknown>[]>) {
  return Object.fromEntries(
    Object.entries(addresses).map(([label, list]) => [
      label,
      list.map((a) => ({ version: a.version, addr: a.addr })),
    ]),
  );
}
