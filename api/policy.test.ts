/**
 * Project isolation and Nova's default policy on every endpoint: each one
 * asked by a member of the project that owns the resource, by a member of
 * another project and by an admin, with the status Nova's defaults give
 * (admin-only APIs 403 for members; another project's server, metadata,
 * actions, group, keypair or private image 404). Lists never show another
 * project's resources, admins see them with all_tenants/all_projects, and
 * without a token only version discovery answers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createApiApp } from './app';
import { describeEachDatabase, noauth2 } from '../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../testing/api/test-cloud';
import {
  ADMIN,
  createFixtures,
  createImage,
  availableSnapshot,
  availableVolume,
  ENDPOINTS,
  fillPath,
  mountedRoutes,
  OTHER,
  OWNER,
  pathParams,
  realPath,
  securityGroupRule,
  type Endpoint,
  type Fixtures,
} from '../testing/api/endpoints';

type Role = 'owner' | 'other' | 'admin';
const ROLES: readonly Role[] = ['owner', 'other', 'admin'];
const TOKENS: Record<Role, string> = { owner: OWNER, other: OTHER, admin: ADMIN };

interface Setup {
  cloud: TestCloud;
  f: Fixtures;
  role: Role;
}

interface Case {
  /** the status for the owner's member, another project's member, an admin */
  expect: [number, number, number];
  version?: string;
  query?: Partial<Record<Role, string>>;
  /** the body sent; the endpoint's first sample otherwise */
  body?: (f: Fixtures, unique: string) => unknown;
  /** path parameter values made afresh for each role, for requests that remove what they name */
  params?: (s: Setup) => Promise<string[]>;
  /** puts back, before each role, what the previous role's request removed */
  reset?: (s: Setup) => Promise<void>;
}

const ANYONE: Case['expect'] = [200, 200, 200];
const OWNED: Case['expect'] = [200, 404, 200];
const ADMIN_ONLY: Case['expect'] = [403, 403, 200];
const GONE: Case['expect'] = [410, 410, 410];

let uniques = 0;
const unique = () => `${process.pid}-${++uniques}`;

async function ok<T = Record<string, any>>( // eslint-disable-line @typescript-eslint/no-explicit-any
  p: Promise<{ status: number; body: unknown }>,
  what: string,
): Promise<T> {
  const r = await p;
  assert.ok(r.status < 300, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as T;
}

const freshServer = async ({ cloud, f }: Setup) => [
  (
    await ok(
      cloud.request('POST', '/v2.1/servers', {
        token: OWNER,
        body: { server: { name: 'doomed', imageRef: f.imageId, flavorRef: f.flavorId } },
      }),
      'create server',
    )
  ).server.id,
];
const freshFlavor = async ({ cloud }: Setup) => {
  const id = `doomed-${unique()}`;
  await ok(
    cloud.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      body: { flavor: { name: id, id, ram: 64, vcpus: 1, disk: 1 } },
    }),
    'create flavor',
  );
  return [id];
};
const freshPrivateFlavor = async ({ cloud }: Setup) => {
  const id = `private-${unique()}`;
  await ok(
    cloud.request('POST', '/v2.1/flavors', {
      token: ADMIN,
      body: {
        flavor: { name: id, id, ram: 64, vcpus: 1, disk: 1, 'os-flavor-access:is_public': false },
      },
    }),
    'create private flavor',
  );
  return [id];
};
/** Server tags are 2.26's; Nova finds the server in any project, so another's is a 403. */
const TAGS = { version: '2.26' };
const tagOnFixture =
  (present: boolean) =>
  async ({ cloud, f }: Setup) => {
    const r = await cloud.request(
      present ? 'PUT' : 'DELETE',
      `/v2.1/servers/${f.serverId}/tags/fixture`,
      {
        token: ADMIN,
        version: '2.26',
      },
    );
    assert.ok([201, 204, 404].includes(r.status), `tag fixture: ${r.status}`);
  };
/** Gives demo's image the property the image metadata rows name. */
const imagePropertyBack = async ({ cloud, f }: Setup) => {
  await ok(
    cloud.request('PUT', `/v2.1/images/${f.imageId}/metadata/fixture`, {
      token: ADMIN,
      body: { meta: { fixture: 'x' } },
    }),
    'put the image property back',
  );
};
const freshGroup = async ({ cloud }: Setup) => [
  (
    await ok(
      cloud.request('POST', '/v2.1/os-server-groups', {
        token: OWNER,
        body: { server_group: { name: 'doomed', policies: ['affinity'] } },
      }),
      'create server group',
    )
  ).server_group.id,
];
const freshSecurityGroup = async ({ cloud }: Setup) => [
  (
    await ok(
      cloud.request('POST', '/v2.1/os-security-groups', {
        token: OWNER,
        body: { security_group: { name: `doomed-${unique()}`, description: 'd' } },
      }),
      'create security group',
    )
  ).security_group.id,
];
const freshSecurityGroupRule = async ({ cloud, f }: Setup) => [
  (
    await ok(
      cloud.request('POST', '/v2.1/os-security-group-rules', {
        token: OWNER,
        body: { security_group_rule: securityGroupRule(f.securityGroupId, unique()) },
      }),
      'create security group rule',
    )
  ).security_group_rule.id,
];
const freshFloatingIp = async ({ cloud }: Setup) => [
  (await ok(cloud.request('POST', '/v2.1/os-floating-ips', { token: OWNER }), 'allocate'))
    .floating_ip.id,
];
const freshKeypair = async ({ cloud, f }: Setup) => {
  const name = `doomed-${unique()}`;
  await ok(
    cloud.request('POST', '/v2.1/os-keypairs', {
      token: OWNER,
      body: { keypair: { name, public_key: f.publicKey } },
    }),
    'create keypair',
  );
  return [name];
};

/** Keypairs are a user's: an admin names demo's with user_id (2.10). */
const DEMO_USER = { admin: 'user_id=demo' };

const POLICY: Record<string, Case> = {
  'GET /v2.1/servers': { expect: ANYONE },
  'GET /v2.1/servers/detail': { expect: ANYONE },
  'POST /v2.1/servers': {
    expect: [202, 202, 202],
    body: (f, u) => ({
      server: { name: `vm-${u}`, imageRef: f.cloudImageId, flavorRef: f.flavorId },
    }),
  },
  'GET /v2.1/servers/:id': { expect: OWNED },
  'PUT /v2.1/servers/:id': { expect: OWNED },
  'DELETE /v2.1/servers/:id': { expect: [204, 404, 204], params: freshServer },
  'POST /v2.1/servers/:id/action': {
    expect: OWNED,
    body: () => ({ 'os-getConsoleOutput': { length: 5 } }),
  },
  'GET /v2.1/servers/:id/metadata': { expect: OWNED },
  'POST /v2.1/servers/:id/metadata': { expect: OWNED },
  'PUT /v2.1/servers/:id/metadata': { expect: OWNED },
  'GET /v2.1/servers/:id/metadata/:key': { expect: OWNED },
  'PUT /v2.1/servers/:id/metadata/:key': { expect: OWNED },
  'DELETE /v2.1/servers/:id/metadata/:key': {
    expect: [204, 404, 204],
    reset: async ({ cloud, f }) => {
      await ok(
        cloud.request('POST', `/v2.1/servers/${f.serverId}/metadata`, {
          token: OWNER,
          body: { metadata: { [f.metadataKey]: 'web' } },
        }),
        'put the metadata key back',
      );
    },
  },
  'GET /v2.1/servers/:id/tags': { ...TAGS, expect: [200, 403, 200] },
  'PUT /v2.1/servers/:id/tags': { ...TAGS, expect: [200, 403, 200] },
  'DELETE /v2.1/servers/:id/tags': { ...TAGS, expect: [204, 403, 204] },
  'GET /v2.1/servers/:id/tags/:tag': {
    ...TAGS,
    expect: [204, 403, 204],
    reset: tagOnFixture(true),
  },
  'PUT /v2.1/servers/:id/tags/:tag': {
    ...TAGS,
    expect: [201, 403, 201],
    reset: tagOnFixture(false),
  },
  'DELETE /v2.1/servers/:id/tags/:tag': {
    ...TAGS,
    expect: [204, 403, 204],
    reset: tagOnFixture(true),
  },
  'GET /v2.1/servers/:id/os-instance-actions': { expect: OWNED },
  'GET /v2.1/servers/:id/os-instance-actions/:requestId': { expect: OWNED },
  'GET /v2.1/servers/:id/diagnostics': { expect: ADMIN_ONLY },
  'GET /v2.1/servers/:id/ips': { expect: OWNED },
  'GET /v2.1/servers/:id/ips/:network': { expect: OWNED },
  'GET /v2.1/servers/:id/os-security-groups': { expect: OWNED },
  'GET /v2.1/servers/:id/os-server-password': { expect: OWNED },
  'DELETE /v2.1/servers/:id/os-server-password': { expect: [204, 404, 204] },
  'POST /v2.1/servers/:id/remote-consoles': { expect: OWNED, version: '2.6' },
  'GET /v2.1/servers/:id/os-volume_attachments': { expect: OWNED },
  'POST /v2.1/servers/:id/os-volume_attachments': {
    expect: OWNED,
    // A fresh spare for each role: the owner's request attaches the last one.
    reset: async ({ cloud, f }) => {
      f.spareVolumeId = await availableVolume(cloud);
    },
  },
  'GET /v2.1/servers/:id/os-volume_attachments/:volumeId': { expect: OWNED },
  // 2.85: the attachment's own volume id changes delete_on_termination; another's is an admin's swap.
  'PUT /v2.1/servers/:id/os-volume_attachments/:volumeId': {
    expect: [202, 404, 202],
    version: '2.85',
  },
  'DELETE /v2.1/servers/:id/os-volume_attachments/:volumeId': {
    expect: [202, 404, 202],
    params: async ({ cloud, f }) => {
      const volumeId = await availableVolume(cloud);
      await ok(
        cloud.request('POST', `/v2.1/servers/${f.serverId}/os-volume_attachments`, {
          token: OWNER,
          body: { volumeAttachment: { volumeId } },
        }),
        'attach volume',
      );
      return [f.serverId, volumeId];
    },
  },
  'GET /v2.1/servers/:id/os-interface': { expect: OWNED },
  'POST /v2.1/servers/:id/os-interface': { expect: OWNED },
  'GET /v2.1/servers/:id/os-interface/:portId': { expect: OWNED },
  'DELETE /v2.1/servers/:id/os-interface/:portId': {
    expect: [202, 404, 202],
    params: async ({ cloud, f }) => {
      const attached = await ok(
        cloud.request('POST', `/v2.1/servers/${f.serverId}/os-interface`, {
          token: OWNER,
          body: { interfaceAttachment: { net_id: f.networkId } },
        }),
        'attach interface',
      );
      return [f.serverId, attached.interfaceAttachment.port_id];
    },
  },

  'GET /v2.1/flavors': { expect: ANYONE },
  'GET /v2.1/flavors/detail': { expect: ANYONE },
  'GET /v2.1/flavors/:id': { expect: ANYONE },
  'POST /v2.1/flavors': { expect: ADMIN_ONLY },
  'PUT /v2.1/flavors/:id': { expect: ADMIN_ONLY, version: '2.55' },
  'DELETE /v2.1/flavors/:id': { expect: [403, 403, 202], params: freshFlavor },
  'GET /v2.1/flavors/:id/os-extra_specs': { expect: ANYONE },
  'POST /v2.1/flavors/:id/os-extra_specs': { expect: ADMIN_ONLY },
  'GET /v2.1/flavors/:id/os-extra_specs/:key': { expect: ANYONE },
  'PUT /v2.1/flavors/:id/os-extra_specs/:key': { expect: ADMIN_ONLY },
  'DELETE /v2.1/flavors/:id/os-extra_specs/:key': {
    expect: ADMIN_ONLY,
    reset: async ({ cloud, f }) => {
      await ok(
        cloud.request('POST', `/v2.1/flavors/${f.flavorId}/os-extra_specs`, {
          token: ADMIN,
          body: { extra_specs: { [f.extraSpecKey]: 'shared' } },
        }),
        'put the extra spec back',
      );
    },
  },
  'GET /v2.1/flavors/:id/os-flavor-access': { expect: ADMIN_ONLY, params: freshPrivateFlavor },
  'POST /v2.1/flavors/:id/action': { expect: ADMIN_ONLY, params: freshPrivateFlavor },

  'GET /v2.1/images': { expect: ANYONE },
  'GET /v2.1/images/detail': { expect: ANYONE },
  'GET /v2.1/images/:id': { expect: OWNED },
  'DELETE /v2.1/images/:id': {
    expect: [204, 404, 204],
    params: async ({ cloud }) => [await createImage(cloud, OWNER, 'doomed')],
  },
  'GET /v2.1/images/:id/metadata': { expect: OWNED },
  'POST /v2.1/images/:id/metadata': { expect: OWNED },
  'PUT /v2.1/images/:id/metadata': { expect: OWNED },
  'GET /v2.1/images/:id/metadata/:key': { expect: OWNED, reset: imagePropertyBack },
  'PUT /v2.1/images/:id/metadata/:key': { expect: OWNED },
  'DELETE /v2.1/images/:id/metadata/:key': { expect: [204, 404, 204], reset: imagePropertyBack },

  'GET /v2.1/os-hypervisors': { expect: ADMIN_ONLY },
  'GET /v2.1/os-hypervisors/detail': { expect: ADMIN_ONLY },
  'GET /v2.1/os-hypervisors/statistics': { expect: ADMIN_ONLY },
  'GET /v2.1/os-hypervisors/:id': { expect: ADMIN_ONLY, version: '2.53' },
  'GET /v2.1/os-hypervisors/:id/uptime': { expect: ADMIN_ONLY, version: '2.53' },
  'GET /v2.1/os-hypervisors/:pattern/search': { expect: ADMIN_ONLY },
  'GET /v2.1/os-hypervisors/:pattern/servers': { expect: ADMIN_ONLY },

  'GET /v2.1/os-services': { expect: ADMIN_ONLY },
  'PUT /v2.1/os-services/:id': { expect: ADMIN_ONLY, version: '2.53' },
  // The admin passes the policy and finds no such service: deleting a real one would take a host away.
  'DELETE /v2.1/os-services/:id': {
    expect: [403, 403, 404],
    version: '2.53',
    params: async () => [randomUUID()],
  },

  // os-hosts is gone from 2.43.
  'GET /v2.1/os-hosts': { expect: ADMIN_ONLY, version: '2.42' },
  'GET /v2.1/os-hosts/:host': { expect: ADMIN_ONLY, version: '2.42' },
  'PUT /v2.1/os-hosts/:host': { expect: ADMIN_ONLY, version: '2.42' },
  // A host's power is not berth's: the admin passes the policy and is refused.
  'GET /v2.1/os-hosts/:host/startup': { expect: [403, 403, 400], version: '2.42' },
  'GET /v2.1/os-hosts/:host/shutdown': { expect: [403, 403, 400], version: '2.42' },
  'GET /v2.1/os-hosts/:host/reboot': { expect: [403, 403, 400], version: '2.42' },
  'GET /v2.1/os-instance_usage_audit_log': { expect: ADMIN_ONLY },
  'GET /v2.1/os-instance_usage_audit_log/:before': { expect: ADMIN_ONLY },

  'GET /v2.1/os-availability-zone': { expect: ANYONE },
  'GET /v2.1/os-availability-zone/detail': { expect: ADMIN_ONLY },
  'GET /v2.1/os-aggregates': { expect: ADMIN_ONLY },
  'POST /v2.1/os-aggregates': { expect: ADMIN_ONLY },
  'GET /v2.1/os-aggregates/:id': { expect: ADMIN_ONLY },
  'PUT /v2.1/os-aggregates/:id': { expect: ADMIN_ONLY },
  'DELETE /v2.1/os-aggregates/:id': {
    expect: [403, 403, 200],
    params: async ({ cloud }) => [
      String(
        (
          await ok(
            cloud.request('POST', '/v2.1/os-aggregates', {
              token: ADMIN,
              body: { aggregate: { name: `doomed-${unique()}` } },
            }),
            'create aggregate',
          )
        ).aggregate.id,
      ),
    ],
  },
  'POST /v2.1/os-aggregates/:id/action': { expect: ADMIN_ONLY },
  'GET /v2.1/limits': { expect: ANYONE },

  'GET /v2.1/os-quota-sets/:project_id/defaults': { expect: ANYONE },
  'GET /v2.1/os-quota-sets/:project_id/detail': { expect: [200, 403, 200] },
  'GET /v2.1/os-quota-sets/:project_id': { expect: [200, 403, 200] },
  'PUT /v2.1/os-quota-sets/:project_id': { expect: ADMIN_ONLY },
  'DELETE /v2.1/os-quota-sets/:project_id': { expect: [403, 403, 202] },

  'GET /v2.1/os-server-groups': { expect: ANYONE },
  'POST /v2.1/os-server-groups': { expect: ANYONE },
  'GET /v2.1/os-server-groups/:id': { expect: OWNED },
  'DELETE /v2.1/os-server-groups/:id': { expect: [204, 404, 204], params: freshGroup },

  'GET /v2.1/os-migrations': { expect: ADMIN_ONLY },
  'POST /v2.1/os-server-external-events': { expect: ADMIN_ONLY },
  'GET /v2.1/os-quota-class-sets/:id': { expect: ADMIN_ONLY },
  'PUT /v2.1/os-quota-class-sets/:id': { expect: ADMIN_ONLY },
  'GET /v2.1/extensions': { expect: ANYONE },
  'GET /v2.1/extensions/:alias': { expect: ANYONE },
  'GET /v2.1/os-simple-tenant-usage': { expect: ADMIN_ONLY },
  'GET /v2.1/os-simple-tenant-usage/:tenant_id': { expect: [200, 403, 200] },
  'GET /v2.1/os-console-auth-tokens/:token': { expect: [403, 403, 404] },

  'GET /v2.1/os-security-groups': { expect: ANYONE },
  'POST /v2.1/os-security-groups': { expect: ANYONE },
  'GET /v2.1/os-security-groups/:id': { expect: OWNED },
  'PUT /v2.1/os-security-groups/:id': { expect: OWNED },
  'DELETE /v2.1/os-security-groups/:id': { expect: [202, 404, 202], params: freshSecurityGroup },
  'POST /v2.1/os-security-group-rules': { expect: OWNED },
  'DELETE /v2.1/os-security-group-rules/:id': {
    expect: [202, 404, 202],
    params: freshSecurityGroupRule,
  },
  'GET /v2.1/os-floating-ips': { expect: ANYONE },
  'POST /v2.1/os-floating-ips': { expect: ANYONE },
  'GET /v2.1/os-floating-ips/:id': { expect: OWNED },
  'DELETE /v2.1/os-floating-ips/:id': { expect: [202, 404, 202], params: freshFloatingIp },
  'GET /v2.1/os-floating-ip-pools': { expect: ANYONE },
  'GET /v2.1/os-volumes': { expect: ANYONE },
  'GET /v2.1/os-volumes/detail': { expect: ANYONE },
  'POST /v2.1/os-volumes': { expect: ANYONE },
  'GET /v2.1/os-volumes/:id': { expect: OWNED },
  'DELETE /v2.1/os-volumes/:id': {
    expect: [202, 404, 202],
    params: async ({ cloud }) => [await availableVolume(cloud)],
  },
  'GET /v2.1/os-snapshots': { expect: ANYONE },
  'GET /v2.1/os-snapshots/detail': { expect: ANYONE },
  // The fixtures' volumes are rows no volume host made: nothing to snapshot.
  'POST /v2.1/os-snapshots': {
    expect: [400, 404, 400],
    body: (f, u) => ({ snapshot: { volume_id: f.spareVolumeId, display_name: `s-${u}` } }),
  },
  'GET /v2.1/os-snapshots/:id': { expect: OWNED },
  'DELETE /v2.1/os-snapshots/:id': {
    expect: [202, 404, 202],
    params: async ({ cloud }) => [await availableSnapshot(cloud)],
  },
  'GET /v2.1/os-networks': { expect: ANYONE },
  'GET /v2.1/os-networks/:id': { expect: OWNED },
  // nova-network's management: gone for everyone, before any policy.
  'POST /v2.1/os-networks': { expect: GONE },
  'POST /v2.1/os-networks/add': { expect: GONE },
  'DELETE /v2.1/os-networks/:id': { expect: GONE },
  'POST /v2.1/os-networks/:id/action': { expect: GONE },
  'GET /v2.1/os-tenant-networks': { expect: ANYONE },
  'GET /v2.1/os-tenant-networks/:id': { expect: OWNED },
  'POST /v2.1/os-tenant-networks': { expect: GONE },
  'DELETE /v2.1/os-tenant-networks/:id': { expect: GONE },

  'GET /v2.1/os-keypairs': { expect: ANYONE },
  'POST /v2.1/os-keypairs': { expect: ANYONE },
  'GET /v2.1/os-keypairs/:name': { expect: OWNED, version: '2.10', query: DEMO_USER },
  'DELETE /v2.1/os-keypairs/:name': {
    expect: [204, 404, 204],
    version: '2.10',
    query: DEMO_USER,
    params: freshKeypair,
  },

  'GET /image/v2/schemas/image': { expect: ANYONE },
  'GET /image/v2/schemas/images': { expect: ANYONE },
  'GET /image/v2/images': { expect: ANYONE },
  'POST /image/v2/images': { expect: [201, 201, 201] },
  'GET /image/v2/images/:id': { expect: OWNED },
  'PATCH /image/v2/images/:id': { expect: OWNED },
  'DELETE /image/v2/images/:id': {
    expect: [204, 404, 204],
    params: async ({ cloud }) => [await createImage(cloud, OWNER, 'doomed')],
  },
  'PUT /image/v2/images/:id/tags/:tag': { expect: [204, 404, 204] },
  'DELETE /image/v2/images/:id/tags/:tag': {
    expect: [204, 404, 204],
    reset: async ({ cloud, f }) => {
      await ok(
        cloud.request('PUT', `/image/v2/images/${f.imageId}/tags/${f.imageTag}`, { token: OWNER }),
        'put the tag back',
      );
    },
  },
  'PUT /image/v2/images/:id/file': {
    expect: [204, 404, 204],
    params: async ({ cloud }) => [await createImage(cloud, OWNER, 'empty', { queued: true })],
  },
  'GET /image/v2/images/:id/file': { expect: OWNED },
  'GET /image/v2/schemas/metadefs/namespace': { expect: ANYONE },
  'GET /image/v2/schemas/metadefs/namespaces': { expect: ANYONE },
  'GET /image/v2/metadefs/namespaces': { expect: ANYONE },
  // The catalog is empty: every namespace is unknown to everyone.
  'GET /image/v2/metadefs/namespaces/:namespace': { expect: [404, 404, 404] },
  'GET /image/v2/metadefs/resource_types': { expect: ANYONE },
};

const key = (ep: Endpoint) => `${ep.method} ${ep.path}`;

/** One request as `role`, any body (bytes included) with its endpoint's media type. */
async function call(
  cloud: TestCloud,
  ep: Endpoint,
  path: string,
  o: { token?: string; version?: string; body?: unknown },
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (o.token) headers['x-auth-token'] = o.token;
  if (o.version) headers['openstack-api-version'] = `compute ${o.version}`;
  let body: string | Uint8Array | undefined;
  if (o.body !== undefined) {
    headers['content-type'] = ep.contentType ?? 'application/json';
    body = Buffer.isBuffer(o.body) ? new Uint8Array(o.body) : JSON.stringify(o.body);
  }
  const r = await fetch(cloud.url + path, { method: ep.method, headers, body });
  return { status: r.status, text: await r.text() };
}

describeEachDatabase('project isolation and admin policy', (database) => {
  let cloud: TestCloud;
  let f: Fixtures;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
    f = await createFixtures(cloud);
  });
  after(() => cloud?.close());

  test('the endpoint list is every route the app mounts, and each has a policy row', () => {
    // The network and volume APIs' routes are listed and fuzzed apart (testing/api/*-endpoints.ts).
    const mounted = mountedRoutes(createApiApp(cloud.api.deps, noauth2)).filter(
      (r) => !/ \/(network|volume)(\/|$)/.test(r),
    );
    assert.deepEqual(mounted, ENDPOINTS.map(key).sort());
    assert.deepEqual(
      Object.keys(POLICY).sort(),
      ENDPOINTS.filter((ep) => !ep.public)
        .map(key)
        .sort(),
    );
  });

  test('without a token only version discovery answers', async () => {
    for (const ep of ENDPOINTS) {
      const path = realPath(ep.path, f);
      const body = ep.bodies?.(f, unique())[0];
      const r = await call(cloud, ep, path, { body });
      if (ep.public) {
        assert.ok([200, 300].includes(r.status), `${key(ep)}: ${r.status}`);
        continue;
      }
      assert.equal(r.status, 401, `${key(ep)}: ${r.text}`);
      const fault = JSON.parse(r.text);
      if (path.startsWith('/image')) assert.equal(fault.code, '401 Unauthorized', key(ep));
      else assert.equal(fault.unauthorized.code, 401, key(ep));
    }
  });

  for (const ep of ENDPOINTS.filter((e) => !e.public)) {
    test(`${key(ep)} as the owner, another project, an admin`, async () => {
      const c = POLICY[key(ep)];
      assert.ok(c, `no policy row for ${key(ep)}`);
      const got: number[] = [];
      const texts: string[] = [];
      for (const role of ROLES) {
        const setup = { cloud, f, role };
        await c.reset?.(setup);
        const values = c.params
          ? await c.params(setup)
          : pathParams(ep.path, f).map((p) => p.real[0]);
        let path = fillPath(ep.path, values.map(encodeURIComponent));
        if (c.query?.[role]) path += `?${c.query[role]}`;
        const body = c.body ? c.body(f, unique()) : ep.bodies?.(f, unique())[0];
        const r = await call(cloud, ep, path, { token: TOKENS[role], version: c.version, body });
        got.push(r.status);
        texts.push(`${role}: ${r.text.slice(0, 200)}`);
      }
      assert.deepEqual(got, c.expect, texts.join('\n'));
    });
  }

  /** The ids a list shows to `token`. */
  async function listed(path: string, token: string, version?: string): Promise<string[]> {
    const r = await cloud.request('GET', path, { token, version });
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
    const items = (r.body.servers ??
      r.body.server_groups ??
      r.body.images ??
      r.body.flavors ??
      r.body.keypairs?.map((k: { keypair: unknown }) => k.keypair)) as {
      id?: string;
      name?: string;
    }[];
    assert.ok(Array.isArray(items), `${path}: no list in ${JSON.stringify(r.body)}`);
    return items.map((i) => i.id ?? i.name ?? '');
  }

  test('server lists: own project only; admins see all with all_tenants', async () => {
    for (const path of ['/v2.1/servers', '/v2.1/servers/detail']) {
      assert.ok((await listed(path, OWNER)).includes(f.serverId), path);
      assert.ok(!(await listed(path, OTHER)).includes(f.serverId), path);
      assert.ok(!(await listed(path, ADMIN)).includes(f.serverId), `${path}: admin's own`);
      assert.ok((await listed(`${path}?all_tenants=1`, ADMIN)).includes(f.serverId), path);
      assert.ok(
        !(await listed(`${path}?all_tenants=1&project_id=other`, ADMIN)).includes(f.serverId),
        path,
      );
      const refused = await cloud.request('GET', `${path}?all_tenants=1`, { token: OTHER });
      assert.equal(refused.status, 403, path);
    }
  });

  test('server group lists: own project only; admins see all with all_projects', async () => {
    const path = '/v2.1/os-server-groups';
    assert.ok((await listed(path, OWNER)).includes(f.groupId));
    assert.ok(!(await listed(path, OTHER)).includes(f.groupId));
    // As Nova, a member's all_projects is ignored rather than refused.
    assert.ok(!(await listed(`${path}?all_projects=True`, OTHER)).includes(f.groupId));
    assert.ok(!(await listed(path, ADMIN)).includes(f.groupId));
    assert.ok((await listed(`${path}?all_projects=True`, ADMIN)).includes(f.groupId));
  });

  test("keypair lists: the caller's own; an admin names another user with user_id", async () => {
    const path = '/v2.1/os-keypairs';
    assert.ok((await listed(path, OWNER)).includes(f.keypairName));
    assert.ok(!(await listed(path, OTHER)).includes(f.keypairName));
    assert.ok(!(await listed(path, ADMIN)).includes(f.keypairName));
    assert.ok((await listed(`${path}?user_id=demo`, ADMIN, '2.10')).includes(f.keypairName));
    const refused = await cloud.request('GET', `${path}?user_id=demo`, {
      token: OTHER,
      version: '2.10',
    });
    assert.equal(refused.status, 403);
    // Before 2.10 user_id is no parameter: ignored, so a member lists their own.
    assert.ok(!(await listed(`${path}?user_id=demo`, OTHER)).includes(f.keypairName));
  });

  test("image lists: a project's private image is its own and admins'", async () => {
    for (const path of ['/v2.1/images', '/v2.1/images/detail', '/image/v2/images']) {
      assert.ok((await listed(path, OWNER)).includes(f.imageId), path);
      assert.ok(!(await listed(path, OTHER)).includes(f.imageId), path);
      assert.ok((await listed(path, ADMIN)).includes(f.imageId), path);
      // The operator's ownerless image is everyone's, as in Glance.
      assert.ok((await listed(path, OTHER)).includes(f.cloudImageId), path);
    }
  });

  test('flavor lists: private flavors for admins only', async () => {
    const id = `private-${unique()}`;
    await ok(
      cloud.request('POST', '/v2.1/flavors', {
        token: ADMIN,
        body: {
          flavor: { name: id, id, ram: 64, vcpus: 1, disk: 1, 'os-flavor-access:is_public': false },
        },
      }),
      'create private flavor',
    );
    for (const path of ['/v2.1/flavors', '/v2.1/flavors/detail']) {
      assert.ok(!(await listed(path, OWNER)).includes(id), path);
      assert.ok(!(await listed(`${path}?is_public=none`, OWNER)).includes(id), path);
      assert.ok((await listed(`${path}?is_public=none`, ADMIN)).includes(id), path);
    }
    assert.equal((await cloud.request('GET', `/v2.1/flavors/${id}`, { token: OWNER })).status, 404);
    assert.equal((await cloud.request('GET', `/v2.1/flavors/${id}`, { token: ADMIN })).status, 200);
  });

  test("another project's limits and quotas are an admin's to read", async () => {
    const theirs = await cloud.request('GET', '/v2.1/limits?tenant_id=demo', { token: OTHER });
    assert.equal(theirs.status, 403);
    const admin = await cloud.request('GET', '/v2.1/limits?tenant_id=demo', { token: ADMIN });
    assert.equal(admin.status, 200);
    assert.ok(admin.body.limits.absolute.totalInstancesUsed >= 1);
    const own = await cloud.request('GET', '/v2.1/limits', { token: 'carol:empty' });
    assert.equal(own.body.limits.absolute.totalInstancesUsed, 0, "not demo's usage");
    assert.equal(
      (await cloud.request('GET', '/v2.1/os-quota-sets/demo/detail', { token: OTHER })).status,
      403,
    );
  });

  test("a server cannot be built from another project's image, group or keypair", async () => {
    const build = (server: Record<string, unknown>, hints?: Record<string, unknown>) =>
      cloud.request('POST', '/v2.1/servers', {
        token: OTHER,
        body: {
          server: { name: 'thief', imageRef: f.cloudImageId, flavorRef: f.flavorId, ...server },
          ...(hints ? { 'os:scheduler_hints': hints } : {}),
        },
      });
    const image = await build({ imageRef: f.imageId });
    assert.equal(image.status, 400);
    assert.match(image.body.badRequest.message, /could not be found/);
    const group = await build({}, { group: f.groupId });
    assert.equal(group.status, 400);
    assert.match(group.body.badRequest.message, /could not be found/);
    const keypair = await build({ key_name: f.keypairName });
    assert.equal(keypair.status, 400);
    assert.equal(keypair.body.badRequest.message, 'Invalid key_name provided.');
  });
});
