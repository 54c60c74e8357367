/**
 * Every endpoint the API serves, for the tests that go over all of them
 * (api/fuzz.test.ts, api/policy.test.ts): its method and express path, a valid
 * body for those that take one, and the real rows of a test cloud that
 * path parameters can name. `mountedRoutes` reads what the express app
 * really mounts, so that a route added without an entry here fails those
 * tests instead of going untested.
 */
import { randomUUID } from 'node:crypto';
import type { Application } from 'express';
import { generateSshKeypair } from '../../api/db/keypairs';
import { findSnapshot, insertSnapshot, insertVolume, listTypes } from '../../api/volume/store';
import type { TestCloud } from './test-cloud';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface Endpoint {
  method: Method;
  /** as express mounts it: `/v2.1/servers/:id/metadata/:key` */
  path: string;
  /** answered without a token (version discovery) */
  public?: true;
  /** the media type of the body; JSON unless said */
  contentType?: string;
  /** valid bodies for the fixtures; `unique` keeps names of created things apart */
  bodies?: (f: Fixtures, unique: string) => unknown[];
}

/** The real rows of a test cloud, all but the public flavor and services owned by user demo of project demo. */
export interface Fixtures {
  serverId: string;
  metadataKey: string;
  /** a request id in the server's os-instance-actions */
  requestId: string;
  /** an admin-made public flavor with one extra spec */
  flavorId: string;
  extraSpecKey: string;
  keypairName: string;
  publicKey: string;
  groupId: string;
  /** an admin-made host aggregate (an integer id), empty, no zone */
  aggregateId: string;
  /** demo's private, active image, with a tag */
  imageId: string;
  imageTag: string;
  /** the cloud's ownerless image */
  cloudImageId: string;
  /** a nova-compute service: its 2.53 uuid and its older integer id */
  serviceId: string;
  serviceIntId: string;
  /** that service's compute node: 2.53 uuid, older integer id, hypervisor_hostname */
  hypervisorId: string;
  hypervisorIntId: string;
  hypervisorName: string;
  /** demo's network (the only one, so a server created without `networks` gets a port on it) */
  networkId: string;
  networkName: string;
  /** the port of demo's server on it */
  portId: string;
  /** demo's security group (not default) and an ingress rule of it */
  securityGroupId: string;
  securityGroupRuleId: string;
  /** a floating IP demo allocated */
  floatingIpId: string;
  /** demo's network in the network service (the network above is the fake instance network's) */
  neutronNetworkId: string;
  /** demo's volume attached to that server, and another of demo's, available */
  volumeId: string;
  spareVolumeId: string;
  /** an available snapshot of another of demo's volumes */
  snapshotId: string;
}

export const OWNER = 'demo:demo';
export const OTHER = 'alice:other';
export const ADMIN = 'admin:admin';

const specKey = (f: Fixtures) => f.extraSpecKey;

/** A Nova rule of `groupId` on a TCP port `unique` picks, so that no two requests make the same rule. */
export function securityGroupRule(groupId: string, unique: string) {
  const port = (Number(unique.replace(/\D/g, '')) % 65535) + 1;
  return { parent_group_id: groupId, ip_protocol: 'tcp', from_port: port, to_port: port };
}

export const ENDPOINTS: readonly Endpoint[] = [
  { method: 'GET', path: '/', public: true },
  { method: 'GET', path: '/v2', public: true },
  { method: 'GET', path: '/v2/', public: true },
  { method: 'GET', path: '/v2.1', public: true },
  { method: 'GET', path: '/v2.1/', public: true },

  { method: 'GET', path: '/v2.1/servers' },
  { method: 'GET', path: '/v2.1/servers/detail' },
  {
    method: 'POST',
    path: '/v2.1/servers',
    bodies: (f, u) => [
      { server: { name: `vm-${u}`, imageRef: f.imageId, flavorRef: f.flavorId } },
      {
        server: {
          name: `vm-${u}`,
          imageRef: f.cloudImageId,
          flavorRef: f.flavorId,
          networks: 'none',
          metadata: { a: 'b' },
          key_name: f.keypairName,
          min_count: 1,
          max_count: 2,
        },
        'os:scheduler_hints': { group: f.groupId },
      },
      {
        server: {
          name: `vm-${u}`,
          imageRef: '',
          flavorRef: f.flavorId,
          block_device_mapping_v2: [
            { source_type: 'image', destination_type: 'local', boot_index: 0, uuid: f.imageId },
            { source_type: 'volume', destination_type: 'volume', uuid: f.volumeId, tag: 't' },
          ],
        },
      },
      {
        server: {
          name: `vm-${u}`,
          flavorRef: f.flavorId,
          block_device_mapping_v2: [
            {
              source_type: 'image',
              destination_type: 'volume',
              boot_index: 0,
              uuid: f.imageId,
              volume_size: 1,
              delete_on_termination: true,
            },
          ],
        },
      },
    ],
  },
  { method: 'GET', path: '/v2.1/servers/:id' },
  {
    method: 'PUT',
    path: '/v2.1/servers/:id',
    bodies: () => [{ server: { name: 'renamed', accessIPv4: '10.0.0.1' } }],
  },
  { method: 'DELETE', path: '/v2.1/servers/:id' },
  {
    method: 'POST',
    path: '/v2.1/servers/:id/action',
    bodies: () => [
      { 'os-getConsoleOutput': { length: 10 } },
      { 'os-stop': null },
      { 'os-start': null },
      { pause: null },
      { unpause: null },
      { suspend: null },
      { resume: null },
      { reboot: { type: 'SOFT' } },
      { shelve: null },
      { shelveOffload: null },
      { unshelve: null },
    ],
  },
  { method: 'GET', path: '/v2.1/servers/:id/metadata' },
  {
    method: 'POST',
    path: '/v2.1/servers/:id/metadata',
    bodies: (f) => [{ metadata: { [f.metadataKey]: 'web', tier: 'front' } }],
  },
  {
    method: 'PUT',
    path: '/v2.1/servers/:id/metadata',
    bodies: (f) => [{ metadata: { [f.metadataKey]: 'web' } }],
  },
  { method: 'GET', path: '/v2.1/servers/:id/metadata/:key' },
  {
    method: 'PUT',
    path: '/v2.1/servers/:id/metadata/:key',
    bodies: (f) => [{ meta: { [f.metadataKey]: 'db' } }],
  },
  { method: 'DELETE', path: '/v2.1/servers/:id/metadata/:key' },
  { method: 'GET', path: '/v2.1/servers/:id/tags' },
  { method: 'PUT', path: '/v2.1/servers/:id/tags', bodies: () => [{ tags: ['a', 'b'] }] },
  { method: 'DELETE', path: '/v2.1/servers/:id/tags' },
  { method: 'GET', path: '/v2.1/servers/:id/tags/:tag' },
  { method: 'PUT', path: '/v2.1/servers/:id/tags/:tag' },
  { method: 'DELETE', path: '/v2.1/servers/:id/tags/:tag' },
  { method: 'GET', path: '/v2.1/servers/:id/os-instance-actions' },
  { method: 'GET', path: '/v2.1/servers/:id/os-instance-actions/:requestId' },
  { method: 'GET', path: '/v2.1/servers/:id/diagnostics' },
  { method: 'GET', path: '/v2.1/servers/:id/ips' },
  { method: 'GET', path: '/v2.1/servers/:id/ips/:network' },
  { method: 'GET', path: '/v2.1/servers/:id/os-interface' },
  {
    method: 'POST',
    path: '/v2.1/servers/:id/os-interface',
    bodies: (f) => [
      { interfaceAttachment: { net_id: f.networkId } },
      { interfaceAttachment: { net_id: f.networkId, fixed_ips: [{ ip_address: '10.0.0.199' }] } },
    ],
  },
  { method: 'GET', path: '/v2.1/servers/:id/os-interface/:portId' },
  { method: 'GET', path: '/v2.1/servers/:id/os-security-groups' },
  { method: 'GET', path: '/v2.1/servers/:id/os-server-password' },
  { method: 'DELETE', path: '/v2.1/servers/:id/os-server-password' },
  {
    method: 'POST',
    path: '/v2.1/servers/:id/remote-consoles',
    bodies: () => [{ remote_console: { protocol: 'serial', type: 'serial' } }],
  },
  { method: 'DELETE', path: '/v2.1/servers/:id/os-interface/:portId' },
  { method: 'GET', path: '/v2.1/servers/:id/os-volume_attachments' },
  {
    method: 'POST',
    path: '/v2.1/servers/:id/os-volume_attachments',
    bodies: (f) => [
      { volumeAttachment: { volumeId: f.spareVolumeId } },
      { volumeAttachment: { volumeId: f.spareVolumeId, device: null } },
    ],
  },
  { method: 'GET', path: '/v2.1/servers/:id/os-volume_attachments/:volumeId' },
  {
    method: 'PUT',
    path: '/v2.1/servers/:id/os-volume_attachments/:volumeId',
    bodies: (f) => [{ volumeAttachment: { volumeId: f.volumeId } }],
  },
  { method: 'DELETE', path: '/v2.1/servers/:id/os-volume_attachments/:volumeId' },

  { method: 'GET', path: '/v2.1/flavors' },
  { method: 'GET', path: '/v2.1/flavors/detail' },
  { method: 'GET', path: '/v2.1/flavors/:id' },
  {
    method: 'POST',
    path: '/v2.1/flavors',
    bodies: (_f, u) => [
      { flavor: { name: `f-${u}`, ram: 64, vcpus: 1, disk: 1 } },
      {
        flavor: {
          name: `f-${u}`,
          id: `id-${u}`,
          ram: '128',
          vcpus: 2,
          disk: 0,
          swap: 0,
          'OS-FLV-EXT-DATA:ephemeral': 0,
          rxtx_factor: 1.5,
          'os-flavor-access:is_public': 'false',
          description: 'fuzzed',
        },
      },
    ],
  },
  {
    method: 'PUT',
    path: '/v2.1/flavors/:id',
    bodies: () => [{ flavor: { description: 'a flavor' } }],
  },
  { method: 'DELETE', path: '/v2.1/flavors/:id' },
  { method: 'GET', path: '/v2.1/flavors/:id/os-extra_specs' },
  {
    method: 'POST',
    path: '/v2.1/flavors/:id/os-extra_specs',
    bodies: () => [{ extra_specs: { 'hw:cpu_policy': 'shared', 'quota:cpu_shares': 512 } }],
  },
  { method: 'GET', path: '/v2.1/flavors/:id/os-extra_specs/:key' },
  {
    method: 'PUT',
    path: '/v2.1/flavors/:id/os-extra_specs/:key',
    bodies: (f) => [{ [specKey(f)]: 'dedicated' }],
  },
  { method: 'DELETE', path: '/v2.1/flavors/:id/os-extra_specs/:key' },
  { method: 'GET', path: '/v2.1/flavors/:id/os-flavor-access' },
  {
    method: 'POST',
    path: '/v2.1/flavors/:id/action',
    bodies: () => [
      { addTenantAccess: { tenant: 'other' } },
      { removeTenantAccess: { tenant: 'other' } },
    ],
  },

  { method: 'GET', path: '/v2.1/images' },
  { method: 'GET', path: '/v2.1/images/detail' },
  { method: 'GET', path: '/v2.1/images/:id' },
  { method: 'DELETE', path: '/v2.1/images/:id' },
  { method: 'GET', path: '/v2.1/images/:id/metadata' },
  {
    method: 'POST',
    path: '/v2.1/images/:id/metadata',
    bodies: () => [{ metadata: { fixture: 'x', 'hw:arch': 'x86_64' } }],
  },
  {
    method: 'PUT',
    path: '/v2.1/images/:id/metadata',
    bodies: () => [{ metadata: { fixture: 'x' } }],
  },
  { method: 'GET', path: '/v2.1/images/:id/metadata/:key' },
  {
    method: 'PUT',
    path: '/v2.1/images/:id/metadata/:key',
    bodies: () => [{ meta: { fixture: 'y' } }],
  },
  { method: 'DELETE', path: '/v2.1/images/:id/metadata/:key' },

  { method: 'GET', path: '/v2.1/os-hypervisors' },
  { method: 'GET', path: '/v2.1/os-hypervisors/detail' },
  { method: 'GET', path: '/v2.1/os-hypervisors/statistics' },
  { method: 'GET', path: '/v2.1/os-hypervisors/:id' },
  { method: 'GET', path: '/v2.1/os-hypervisors/:id/uptime' },
  { method: 'GET', path: '/v2.1/os-hypervisors/:pattern/search' },
  { method: 'GET', path: '/v2.1/os-hypervisors/:pattern/servers' },

  { method: 'GET', path: '/v2.1/os-services' },
  {
    method: 'PUT',
    path: '/v2.1/os-services/:id',
    bodies: (f) => [
      { status: 'enabled', forced_down: false },
      { status: 'disabled', disabled_reason: 'fuzz' },
      { host: f.hypervisorName, binary: 'nova-compute' },
      { host: f.hypervisorName, binary: 'nova-compute', disabled_reason: 'fuzz' },
      { host: f.hypervisorName, binary: 'nova-compute', forced_down: 'false' },
    ],
  },
  { method: 'DELETE', path: '/v2.1/os-services/:id' },

  { method: 'GET', path: '/v2.1/os-hosts' },
  { method: 'GET', path: '/v2.1/os-hosts/:host' },
  {
    method: 'PUT',
    path: '/v2.1/os-hosts/:host',
    // Nothing that leaves the host disabled: the other tests still build on it.
    bodies: () => [{ status: 'enable' }, { maintenance_mode: 'Disable' }],
  },
  { method: 'GET', path: '/v2.1/os-hosts/:host/startup' },
  { method: 'GET', path: '/v2.1/os-hosts/:host/shutdown' },
  { method: 'GET', path: '/v2.1/os-hosts/:host/reboot' },
  { method: 'GET', path: '/v2.1/os-instance_usage_audit_log' },
  { method: 'GET', path: '/v2.1/os-instance_usage_audit_log/:before' },

  { method: 'GET', path: '/v2.1/os-availability-zone' },
  { method: 'GET', path: '/v2.1/os-availability-zone/detail' },
  { method: 'GET', path: '/v2.1/os-aggregates' },
  {
    method: 'POST',
    path: '/v2.1/os-aggregates',
    bodies: (_f, u) => [{ aggregate: { name: `agg-${u}` } }],
  },
  { method: 'GET', path: '/v2.1/os-aggregates/:id' },
  {
    method: 'PUT',
    path: '/v2.1/os-aggregates/:id',
    bodies: (_f, u) => [{ aggregate: { name: `agg-${u}` } }],
  },
  { method: 'DELETE', path: '/v2.1/os-aggregates/:id' },
  {
    method: 'POST',
    path: '/v2.1/os-aggregates/:id/action',
    bodies: () => [{ set_metadata: { metadata: { ssd: 'true' } } }],
  },
  { method: 'GET', path: '/v2.1/limits' },

  { method: 'GET', path: '/v2.1/os-quota-sets/:project_id/defaults' },
  { method: 'GET', path: '/v2.1/os-quota-sets/:project_id/detail' },
  { method: 'GET', path: '/v2.1/os-quota-sets/:project_id' },
  {
    method: 'PUT',
    path: '/v2.1/os-quota-sets/:project_id',
    bodies: () => [
      { quota_set: { instances: 20, cores: '40' } },
      { quota_set: { instances: -1, force: 'True' } },
    ],
  },
  { method: 'DELETE', path: '/v2.1/os-quota-sets/:project_id' },
  { method: 'GET', path: '/v2.1/os-quota-class-sets/:id' },
  {
    method: 'PUT',
    path: '/v2.1/os-quota-class-sets/:id',
    bodies: () => [{ quota_class_set: { instances: 50, cores: '100' } }],
  },

  { method: 'GET', path: '/v2.1/os-server-groups' },
  {
    method: 'POST',
    path: '/v2.1/os-server-groups',
    bodies: (_f, u) => [
      { server_group: { name: `g-${u}`, policies: ['affinity'] } },
      {
        server_group: {
          name: `g-${u}`,
          policy: 'anti-affinity',
          rules: { max_server_per_host: 2 },
        },
      },
    ],
  },
  { method: 'GET', path: '/v2.1/os-server-groups/:id' },
  { method: 'DELETE', path: '/v2.1/os-server-groups/:id' },

  { method: 'GET', path: '/v2.1/os-migrations' },
  {
    method: 'POST',
    path: '/v2.1/os-server-external-events',
    bodies: (f) => [
      { events: [{ name: 'network-changed', server_uuid: f.serverId }] },
      {
        events: [
          { name: 'network-vif-plugged', server_uuid: f.serverId, tag: f.portId },
          { name: 'network-vif-deleted', server_uuid: f.serverId, status: 'completed' },
        ],
      },
    ],
  },
  { method: 'GET', path: '/v2.1/extensions' },
  { method: 'GET', path: '/v2.1/extensions/:alias' },
  { method: 'GET', path: '/v2.1/os-simple-tenant-usage' },
  { method: 'GET', path: '/v2.1/os-simple-tenant-usage/:tenant_id' },
  { method: 'GET', path: '/v2.1/os-console-auth-tokens/:token' },
  { method: 'GET', path: '/v2.1/os-keypairs' },
  {
    method: 'POST',
    path: '/v2.1/os-keypairs',
    bodies: (f, u) => [
      { keypair: { name: `k-${u}`, public_key: f.publicKey } },
      { keypair: { name: `k-${u}`, public_key: f.publicKey, type: 'ssh', user_id: 'demo' } },
    ],
  },
  { method: 'GET', path: '/v2.1/os-keypairs/:name' },
  { method: 'DELETE', path: '/v2.1/os-keypairs/:name' },

  { method: 'GET', path: '/v2.1/os-security-groups' },
  {
    method: 'POST',
    path: '/v2.1/os-security-groups',
    bodies: (_f, u) => [{ security_group: { name: `sg-${u}`, description: 'd' } }],
  },
  { method: 'GET', path: '/v2.1/os-security-groups/:id' },
  {
    method: 'PUT',
    path: '/v2.1/os-security-groups/:id',
    bodies: () => [{ security_group: { name: 'fixture-sg', description: 'updated' } }],
  },
  { method: 'DELETE', path: '/v2.1/os-security-groups/:id' },
  {
    method: 'POST',
    path: '/v2.1/os-security-group-rules',
    bodies: (f, u) => [{ security_group_rule: securityGroupRule(f.securityGroupId, u) }],
  },
  { method: 'DELETE', path: '/v2.1/os-security-group-rules/:id' },

  { method: 'GET', path: '/v2.1/os-floating-ips' },
  { method: 'POST', path: '/v2.1/os-floating-ips', bodies: () => [{}, { pool: 'public' }] },
  { method: 'GET', path: '/v2.1/os-floating-ips/:id' },
  { method: 'DELETE', path: '/v2.1/os-floating-ips/:id' },
  { method: 'GET', path: '/v2.1/os-floating-ip-pools' },

  { method: 'GET', path: '/v2.1/os-volumes' },
  { method: 'GET', path: '/v2.1/os-volumes/detail' },
  {
    method: 'POST',
    path: '/v2.1/os-volumes',
    bodies: (_f, u) => [
      { volume: { size: 1, display_name: `v-${u}`, metadata: { a: 'b' } } },
      { volume: { size: '1', availability_zone: 'nova' } },
    ],
  },
  { method: 'GET', path: '/v2.1/os-volumes/:id' },
  { method: 'DELETE', path: '/v2.1/os-volumes/:id' },
  { method: 'GET', path: '/v2.1/os-snapshots' },
  { method: 'GET', path: '/v2.1/os-snapshots/detail' },
  {
    method: 'POST',
    path: '/v2.1/os-snapshots',
    bodies: (f, u) => [
      { snapshot: { volume_id: f.spareVolumeId, display_name: `s-${u}` } },
      { snapshot: { volume_id: f.volumeId, force: 'true' } },
    ],
  },
  { method: 'GET', path: '/v2.1/os-snapshots/:id' },
  { method: 'DELETE', path: '/v2.1/os-snapshots/:id' },

  { method: 'GET', path: '/v2.1/os-networks' },
  { method: 'POST', path: '/v2.1/os-networks', bodies: () => [{ network: { label: 'n' } }] },
  { method: 'POST', path: '/v2.1/os-networks/add', bodies: () => [{ id: null }] },
  { method: 'GET', path: '/v2.1/os-networks/:id' },
  { method: 'DELETE', path: '/v2.1/os-networks/:id' },
  {
    method: 'POST',
    path: '/v2.1/os-networks/:id/action',
    bodies: () => [{ disassociate: null }],
  },
  { method: 'GET', path: '/v2.1/os-tenant-networks' },
  {
    method: 'POST',
    path: '/v2.1/os-tenant-networks',
    bodies: () => [{ network: { label: 'n', cidr: '10.0.0.0/24' } }],
  },
  { method: 'GET', path: '/v2.1/os-tenant-networks/:id' },
  { method: 'DELETE', path: '/v2.1/os-tenant-networks/:id' },

  { method: 'GET', path: '/image', public: true },
  { method: 'GET', path: '/image/v2', public: true },
  { method: 'GET', path: '/image/v2/', public: true },
  { method: 'GET', path: '/image/versions', public: true },
  { method: 'GET', path: '/image/v2/schemas/image' },
  { method: 'GET', path: '/image/v2/schemas/images' },
  { method: 'GET', path: '/image/v2/schemas/metadefs/namespace' },
  { method: 'GET', path: '/image/v2/schemas/metadefs/namespaces' },
  { method: 'GET', path: '/image/v2/metadefs/namespaces' },
  { method: 'GET', path: '/image/v2/metadefs/namespaces/:namespace' },
  { method: 'GET', path: '/image/v2/metadefs/resource_types' },
  { method: 'GET', path: '/image/v2/images' },
  {
    method: 'POST',
    path: '/image/v2/images',
    bodies: (_f, u) => [
      { name: `img-${u}`, container_format: 'bare', disk_format: 'raw' },
      { name: `img-${u}`, visibility: 'private', tags: ['a'], min_ram: 0, hw_arch: 'x86_64' },
    ],
  },
  { method: 'GET', path: '/image/v2/images/:id' },
  {
    method: 'PATCH',
    path: '/image/v2/images/:id',
    contentType: 'application/openstack-images-v2.1-json-patch',
    bodies: () => [
      [{ op: 'replace', path: '/name', value: 'renamed' }],
      [
        { op: 'add', path: '/hw_disk_bus', value: 'scsi' },
        { op: 'replace', path: '/min_ram', value: 0 },
      ],
    ],
  },
  { method: 'DELETE', path: '/image/v2/images/:id' },
  { method: 'PUT', path: '/image/v2/images/:id/tags/:tag' },
  { method: 'DELETE', path: '/image/v2/images/:id/tags/:tag' },
  {
    method: 'PUT',
    path: '/image/v2/images/:id/file',
    contentType: 'application/octet-stream',
    bodies: () => [TAR_HEADER],
  },
  { method: 'GET', path: '/image/v2/images/:id/file' },
];

/** Enough of a tar archive for the fake image store to call it an image. */
export const TAR_HEADER = (() => {
  const b = Buffer.alloc(1024);
  b.write('rootfs/', 0);
  b.write('ustar', 257);
  return b;
})();

/** The rows each path parameter names, by the path up to and including it. */
const REAL_PARAMS: Record<string, (f: Fixtures) => string[]> = {
  '/v2.1/servers/:id': (f) => [f.serverId],
  '/v2.1/servers/:id/metadata/:key': (f) => [f.metadataKey],
  '/v2.1/servers/:id/tags/:tag': () => ['fixture'],
  '/v2.1/servers/:id/os-instance-actions/:requestId': (f) => [f.requestId],
  '/v2.1/servers/:id/ips/:network': (f) => [f.networkName],
  '/v2.1/servers/:id/os-interface/:portId': (f) => [f.portId],
  '/v2.1/servers/:id/os-volume_attachments/:volumeId': (f) => [f.volumeId],
  // A token no console was ever given: the lookup itself is what the policy guards.
  '/v2.1/os-console-auth-tokens/:token': () => ['0123456789abcdef0123456789abcdef'],
  '/v2.1/flavors/:id': (f) => [f.flavorId, '1'],
  '/v2.1/flavors/:id/os-extra_specs/:key': (f) => [f.extraSpecKey],
  '/v2.1/images/:id': (f) => [f.imageId, f.cloudImageId],
  '/v2.1/images/:id/metadata/:key': () => ['fixture'],
  '/v2.1/os-hypervisors/:id': (f) => [f.hypervisorId, f.hypervisorIntId],
  '/v2.1/os-hypervisors/:pattern': (f) => [f.hypervisorName, 'node'],
  '/v2.1/os-services/:id': (f) => [
    f.serviceId,
    f.serviceIntId,
    'enable',
    'disable',
    'disable-log-reason',
    'force-down',
  ],
  '/v2.1/os-hosts/:host': (f) => [f.hypervisorName],
  '/v2.1/os-instance_usage_audit_log/:before': () => [
    '2026-06-15 12:00:00',
    '2026-06-15 12:00:00.5',
  ],
  '/v2.1/os-quota-sets/:project_id': () => ['demo', 'other', 'admin'],
  // Not "default": a fuzzed class set would change every project's limits under the other tests.
  '/v2.1/os-quota-class-sets/:id': () => ['fixture-class'],
  '/v2.1/os-server-groups/:id': (f) => [f.groupId],
  '/v2.1/os-aggregates/:id': (f) => [f.aggregateId],
  '/v2.1/os-simple-tenant-usage/:tenant_id': () => ['demo', 'other'],
  '/v2.1/extensions/:alias': () => ['os-consoles', 'os-none'],
  '/v2.1/os-keypairs/:name': (f) => [f.keypairName],
  '/v2.1/os-security-groups/:id': (f) => [f.securityGroupId],
  '/v2.1/os-security-group-rules/:id': (f) => [f.securityGroupRuleId],
  '/v2.1/os-floating-ips/:id': (f) => [f.floatingIpId],
  '/v2.1/os-volumes/:id': (f) => [f.spareVolumeId, f.volumeId],
  '/v2.1/os-snapshots/:id': (f) => [f.snapshotId],
  '/v2.1/os-networks/:id': (f) => [f.neutronNetworkId],
  '/v2.1/os-tenant-networks/:id': (f) => [f.neutronNetworkId],
  '/image/v2/images/:id': (f) => [f.imageId, f.cloudImageId],
  '/image/v2/images/:id/tags/:tag': (f) => [f.imageTag],
  // berth has no namespaces: a name Glance ships is the closest to a real one
  '/image/v2/metadefs/namespaces/:namespace': () => ['OS::Compute::Watchdog'],
};

/** The names of `path`'s parameters, in order, each with the real values that fit it. */
export function pathParams(path: string, f: Fixtures): { name: string; real: string[] }[] {
  const out: { name: string; real: string[] }[] = [];
  for (const m of path.matchAll(/:([A-Za-z_]+)/g)) {
    const upTo = path.slice(0, m.index + m[0].length);
    const real = REAL_PARAMS[upTo];
    if (!real) throw new Error(`no real values for ${upTo}`);
    out.push({ name: m[1], real: real(f) });
  }
  return out;
}

/** `path` with its parameters replaced, in order, by `values` (already URL-encoded). */
export function fillPath(path: string, values: string[]): string {
  let n = 0;
  return path.replace(/:[A-Za-z_]+/g, () => values[n++]);
}

/** `path` with every parameter set to its first real value. */
export function realPath(path: string, f: Fixtures): string {
  return fillPath(
    path,
    pathParams(path, f).map((p) => encodeURIComponent(p.real[0])),
  );
}

interface Layer {
  regexp: RegExp & { fast_slash?: boolean };
  keys: { name: string }[];
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** A mount path back from the regular expression express 4 compiled it to. */
function mountPath(layer: Layer): string {
  if (layer.regexp.fast_slash) return '';
  let n = 0;
  return layer.regexp.source
    .replace(/^\^/, '')
    .replace(/\\\/\?\(\?=\\\/\|\$\)$/, '')
    .replace(/\(\?:\\\/\(\[\^\\?\/\]\+\?\)\)/g, () => `/:${layer.keys[n++].name}`)
    .replace(/\\(.)/g, '$1');
}

/** Every `METHOD path` the express app routes, nested routers included. */
export function mountedRoutes(app: Application): string[] {
  const out = new Set<string>();
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = ([] as string[]).concat(layer.route.path);
        for (const [method, on] of Object.entries(layer.route.methods))
          if (on && method !== '_all')
            for (const p of paths)
              // A nested router's '/' is its mount point itself.
              out.add(`${method.toUpperCase()} ${p === '/' && prefix ? prefix : prefix + p}`);
      } else if (layer.handle.stack) {
        walk(layer.handle.stack, prefix + mountPath(layer));
      }
    }
  };
  walk((app as unknown as { _router: { stack: Layer[] } })._router.stack, '');
  return [...out].sort();
}

const ok = (r: { status: number; body: unknown }, what: string) => {
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

/**
 * Creates the fixtures on `cloud` — demo's ACTIVE server (booted from
 * demo's private image, with metadata), keypair, server group and tagged
 * image, an admin-made flavor with an extra spec — and reads the ids of
 * the first compute service and its node.
 */
export async function createFixtures(cloud: TestCloud): Promise<Fixtures> {
  const { publicKey } = await generateSshKeypair();
  const f = {
    metadataKey: 'role',
    extraSpecKey: 'hw:cpu_policy',
    imageTag: 'fixture',
    publicKey,
    cloudImageId: cloud.image.id,
  } as Fixtures;
  await ensureFixtures(cloud, f);
  return f;
}

type Request = TestCloud['request'];
const asAdmin = { token: ADMIN };
const exists = async (req: Request, path: string, token = OWNER) =>
  (await req('GET', path, { token })).status === 200;

/**
 * Brings the fixtures back after a test removed or changed them: demo's
 * quotas unlimited, compute services enabled and up, and every row that
 * is gone made again (under a new id).
 */
export async function ensureFixtures(cloud: TestCloud, f: Fixtures): Promise<void> {
  const req = cloud.request;
  // Unlimited, so that what a test created cannot keep a fixture from being made again.
  await req('PUT', '/v2.1/os-quota-sets/demo', {
    ...asAdmin,
    body: { quota_set: { instances: -1, cores: -1, ram: -1, key_pairs: -1, server_groups: -1 } },
  });
  await ensureComputes(req, f);
  await ensureFlavor(req, f);
  await ensureKeypair(req, f);
  await ensureGroup(req, f);
  await ensureAggregate(req, f);
  await ensureSecurityGroup(req, f);
  await ensureFloatingIp(req, f);
  await ensureNeutronNetwork(req, f);
  await ensureImage(cloud, f);
  ensureNetwork(cloud, f);
  await ensureServer(cloud, f);
  await ensurePort(req, f);
  await ensureVolumes(cloud, f);
}

/**
 * One of demo's volumes, available, as a row: a cloud without volume hosts
 * (the policy test's) makes none through Cinder, and attach needs no host.
 */
export async function availableVolume(cloud: TestCloud): Promise<string> {
  const id = randomUUID();
  await insertVolume(cloud.api.deps.db, {
    id,
    project_id: 'demo',
    user_id: 'demo',
    name: `fixture-${id.slice(0, 8)}`,
    description: null,
    size: 1,
    status: 'available',
    status_reason: null,
    host: null,
    availability_zone: 'nova',
    volume_type_id: (await listTypes(cloud.api.deps.db))[0].id,
    bootable: false,
    readonly: false,
    multiattach: false,
    snapshot_id: null,
    metadata: {},
    image_metadata: null,
  });
  return id;
}

/** An available snapshot, as a row, of a new available volume of demo's. */
export async function availableSnapshot(cloud: TestCloud): Promise<string> {
  const id = randomUUID();
  await insertSnapshot(cloud.api.deps.db, {
    id,
    project_id: 'demo',
    user_id: 'demo',
    volume_id: await availableVolume(cloud),
    name: `fixture-${id.slice(0, 8)}`,
    description: null,
    size: 1,
    status: 'available',
    metadata: {},
  });
  return id;
}

/**
 * The server's attached volume (attached again if a test detached it), a
 * spare one, detached, and a snapshot.
 */
async function ensureVolumes(cloud: TestCloud, f: Fixtures): Promise<void> {
  const req = cloud.request;
  const snapshot = f.snapshotId && (await findSnapshot(cloud.api.deps.db, f.snapshotId));
  if (!snapshot || snapshot.status !== 'available') f.snapshotId = await availableSnapshot(cloud);
  const path = `/v2.1/servers/${f.serverId}/os-volume_attachments`;
  const listed = await req('GET', path, {});
  const attached: string[] =
    listed.status === 200
      ? listed.body.volumeAttachments.map((a: { volumeId: string }) => a.volumeId)
      : [];
  if (f.spareVolumeId && attached.includes(f.spareVolumeId))
    await req('DELETE', `${path}/${f.spareVolumeId}`, {});
  const spare =
    f.spareVolumeId && (await req('GET', `/volume/v3/demo/volumes/${f.spareVolumeId}`, {}));
  if (!spare || spare.status !== 200 || spare.body.volume.status !== 'available')
    f.spareVolumeId = await availableVolume(cloud);
  const others = attached.filter((v) => v !== f.spareVolumeId);
  if (others.length) {
    f.volumeId = others[0];
    return;
  }
  const volumeId = await availableVolume(cloud);
  const r = await req('POST', path, { body: { volumeAttachment: { volumeId } } });
  // A server that takes no volume now (stopping, deleting) keeps the last id.
  if (r.status === 200) f.volumeId = volumeId;
  else if (!f.volumeId) throw new Error(`attach volume: ${r.status} ${JSON.stringify(r.body)}`);
}

function ensureNetwork(cloud: TestCloud, f: Fixtures): void {
  if (f.networkId && cloud.instanceNetwork.networks.has(f.networkId)) return;
  const network = cloud.instanceNetwork.addNetwork({ name: 'fixture-net', projectId: 'demo' });
  f.networkId = network.id;
  f.networkName = network.name;
}

/** The server's first port, attached again when a test detached every one. */
async function ensurePort(req: Request, f: Fixtures): Promise<void> {
  const path = `/v2.1/servers/${f.serverId}/os-interface`;
  const listed = await req('GET', path, {});
  const first = listed.status === 200 ? listed.body.interfaceAttachments[0] : undefined;
  if (first) {
    f.portId = first.port_id;
    return;
  }
  const attached = await req('POST', path, {
    body: { interfaceAttachment: { net_id: f.networkId } },
  });
  // A server on its way out (a DELETE still running) takes no port: the last id stays.
  if (attached.status === 200) f.portId = attached.body.interfaceAttachment.port_id;
  else if (!f.portId)
    throw new Error(`attach interface: ${attached.status} ${JSON.stringify(attached.body)}`);
}

/** Every compute service enabled and not forced down; the first one's ids and its node's. */
async function ensureComputes(req: Request, f: Fixtures): Promise<void> {
  const list = async (version?: string) =>
    ok(
      await req('GET', '/v2.1/os-services?binary=nova-compute', { ...asAdmin, version }),
      'list services',
    ).services as { id: string | number; host: string }[];
  const services = await list('2.53');
  for (const s of services)
    await req('PUT', `/v2.1/os-services/${s.id}`, {
      ...asAdmin,
      version: '2.53',
      body: { status: 'enabled', forced_down: false },
    });
  if (!services.length) return;
  const first = services[0];
  f.serviceId = String(first.id);
  f.serviceIntId = String((await list()).find((s) => s.host === first.host)?.id ?? 1);
  const nodes = async (version?: string) =>
    ok(await req('GET', '/v2.1/os-hypervisors', { ...asAdmin, version }), 'list hypervisors')
      .hypervisors as { id: string | number; hypervisor_hostname: string }[];
  const [node] = await nodes('2.53');
  if (!node) return;
  f.hypervisorId = String(node.id);
  f.hypervisorName = node.hypervisor_hostname;
  const legacy = (await nodes()).find((n) => n.hypervisor_hostname === node.hypervisor_hostname);
  f.hypervisorIntId = String(legacy?.id ?? 1);
}

async function ensureFlavor(req: Request, f: Fixtures): Promise<void> {
  if (!f.flavorId || !(await exists(req, `/v2.1/flavors/${encodeURIComponent(f.flavorId)}`))) {
    f.flavorId = `fixture-${randomUUID().slice(0, 8)}`;
    ok(
      await req('POST', '/v2.1/flavors', {
        ...asAdmin,
        body: { flavor: { name: f.flavorId, id: f.flavorId, ram: 64, vcpus: 1, disk: 1 } },
      }),
      'create flavor',
    );
  }
  await req('POST', `/v2.1/flavors/${f.flavorId}/os-extra_specs`, {
    ...asAdmin,
    body: { extra_specs: { [f.extraSpecKey]: 'shared' } },
  });
}

async function ensureKeypair(req: Request, f: Fixtures): Promise<void> {
  if (f.keypairName && (await exists(req, `/v2.1/os-keypairs/${f.keypairName}`))) return;
  f.keypairName = `fixture-${randomUUID().slice(0, 8)}`;
  ok(
    await req('POST', '/v2.1/os-keypairs', {
      body: { keypair: { name: f.keypairName, public_key: f.publicKey } },
    }),
    'create keypair',
  );
}

async function ensureGroup(req: Request, f: Fixtures): Promise<void> {
  if (f.groupId && (await exists(req, `/v2.1/os-server-groups/${f.groupId}`))) return;
  f.groupId = ok(
    await req('POST', '/v2.1/os-server-groups', {
      body: { server_group: { name: 'fixture', policies: ['anti-affinity'] } },
    }),
    'create server group',
  ).server_group.id;
}

async function ensureAggregate(req: Request, f: Fixtures): Promise<void> {
  if (f.aggregateId && (await exists(req, `/v2.1/os-aggregates/${f.aggregateId}`, ADMIN))) return;
  f.aggregateId = String(
    ok(
      await req('POST', '/v2.1/os-aggregates', {
        ...asAdmin,
        body: { aggregate: { name: `fixture-${randomUUID()}` } },
      }),
      'create aggregate',
    ).aggregate.id,
  );
}

async function ensureSecurityGroup(req: Request, f: Fixtures): Promise<void> {
  if (!f.securityGroupId || !(await exists(req, `/v2.1/os-security-groups/${f.securityGroupId}`)))
    f.securityGroupId = ok(
      await req('POST', '/v2.1/os-security-groups', {
        body: { security_group: { name: 'fixture-sg', description: 'fixture' } },
      }),
      'create security group',
    ).security_group.id;
  const rules = ok(
    await req('GET', `/v2.1/os-security-groups/${f.securityGroupId}`, {}),
    'show security group',
  ).security_group.rules as { id: string }[];
  f.securityGroupRuleId =
    rules[0]?.id ??
    ok(
      await req('POST', '/v2.1/os-security-group-rules', {
        body: { security_group_rule: securityGroupRule(f.securityGroupId, randomUUID()) },
      }),
      'create security group rule',
    ).security_group_rule.id;
}

async function ensureFloatingIp(req: Request, f: Fixtures): Promise<void> {
  if (f.floatingIpId && (await exists(req, `/v2.1/os-floating-ips/${f.floatingIpId}`))) return;
  f.floatingIpId = ok(
    await req('POST', '/v2.1/os-floating-ips', { body: {} }),
    'allocate floating IP',
  ).floating_ip.id;
}

async function ensureNeutronNetwork(req: Request, f: Fixtures): Promise<void> {
  if (f.neutronNetworkId && (await exists(req, `/network/v2.0/networks/${f.neutronNetworkId}`)))
    return;
  f.neutronNetworkId = ok(
    await req('POST', '/network/v2.0/networks', { body: { network: { name: 'fixture-neutron' } } }),
    'create network',
  ).network.id;
}

async function ensureImage(cloud: TestCloud, f: Fixtures): Promise<void> {
  if (!f.imageId || !(await imageActive(cloud, f.imageId)))
    f.imageId = await createImage(cloud, OWNER, 'fixture');
  await cloud.request('PUT', `/image/v2/images/${f.imageId}/tags/${f.imageTag}`, {});
}

/** Whether the server is there and not on its way out (a delete answered 204 but is not done yet). */
async function serverStays(cloud: TestCloud, id: string): Promise<boolean> {
  const r = await cloud.request('GET', `/v2.1/servers/${id}`, { token: OWNER });
  if (r.status !== 200) return false;
  // A shelved server has no host for the requests that need one: a new one stands in.
  if (/SHELVED/.test(r.body.server.status)) return false;
  if (r.body.server['OS-EXT-STS:task_state'] !== 'deleting') return true;
  await cloud.waitForStatus(id, ['DELETED'], OWNER);
  return false;
}

/** demo's server, ACTIVE (or ERROR) on a host, with its metadata key and an instance action. */
async function ensureServer(cloud: TestCloud, f: Fixtures): Promise<void> {
  const req = cloud.request;
  if (!f.serverId || !(await serverStays(cloud, f.serverId))) {
    f.serverId = ok(
      await req('POST', '/v2.1/servers', {
        body: {
          server: {
            name: 'fixture',
            imageRef: f.imageId,
            flavorRef: f.flavorId,
            metadata: { [f.metadataKey]: 'web' },
          },
        },
      }),
      'create server',
    ).server.id;
    await cloud.waitForStatus(f.serverId, ['ACTIVE', 'ERROR']);
  }
  await req('POST', `/v2.1/servers/${f.serverId}/metadata`, {
    body: { metadata: { [f.metadataKey]: 'web' } },
  });
  const actions = ok(
    await req('GET', `/v2.1/servers/${f.serverId}/os-instance-actions`, {}),
    'list instance actions',
  ).instanceActions as { request_id: string }[];
  f.requestId = actions[actions.length - 1].request_id;
}

async function imageActive(cloud: TestCloud, id: string): Promise<boolean> {
  const r = await cloud.request('GET', `/image/v2/images/${id}`, { token: OWNER });
  return r.status === 200 && r.body.status === 'active';
}

/** A private image of `token`'s project, active with a tar header's worth of data, or queued. */
export async function createImage(
  cloud: Pick<TestCloud, 'request' | 'url'>,
  token: string,
  name: string,
  /** `properties`: more of the image's attributes, e.g. min_ram */
  o: { queued?: boolean; properties?: Record<string, unknown> } = {},
): Promise<string> {
  const id = ok(
    await cloud.request('POST', '/image/v2/images', {
      token,
      body: {
        name,
        container_format: 'bare',
        disk_format: 'raw',
        visibility: 'private',
        ...o.properties,
      },
    }),
    'create image',
  ).id as string;
  if (o.queued) return id;
  const up = await fetch(`${cloud.url}/image/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
    body: TAR_HEADER,
  });
  if (up.status !== 204) throw new Error(`upload image: ${up.status} ${await up.text()}`);
  return id;
}
