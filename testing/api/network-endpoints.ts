/**
 * Every route of the embedded network API (/network), for the property
 * test (api/fuzz.test.ts): method, express path, valid bodies, and the
 * real rows of a test cloud that path parameters can name. Kept apart
 * from endpoints.ts, whose list is the compute and image APIs' with a
 * policy row each; `mountedRoutes` checks this list against the app.
 */
import type { Endpoint, Fixtures, Method } from './endpoints';
import type { TestCloud } from './test-cloud';

export interface NetworkFixtures {
  publicNetworkId: string;
  networkId: string;
  subnetId: string;
  portId: string;
  portIp: string;
  securityGroupId: string;
  ruleId: string;
  routerId: string;
  floatingIpId: string;
  portForwardingId: string;
  tag: string;
}

const OWNER = 'demo:demo';
const ADMIN = 'admin:admin';

/** A distinct /24 (and port) per unique string, so created subnets and rules do not collide. */
function serial(unique: string): number {
  return Number(unique.split('-').pop()) || 0;
}
const cidrOf = (u: string) =>
  `10.${100 + (serial(u) % 100)}.${Math.floor(serial(u) / 100) % 256}.0/24`;
const portOf = (u: string) => 1024 + (serial(u) % 60000);

type Bodies = (nf: NetworkFixtures, unique: string) => unknown[];

interface NetworkEndpoint {
  method: Method;
  path: string;
  public?: true;
  bodies?: Bodies;
}

const V = '/network/v2.0';

function crud(path: string, post: Bodies, put: Bodies, taggable = true): NetworkEndpoint[] {
  const one = `${V}/${path}/:id`;
  const out: NetworkEndpoint[] = [
    { method: 'GET', path: `${V}/${path}` },
    { method: 'POST', path: `${V}/${path}`, bodies: post },
    { method: 'GET', path: one },
    { method: 'PUT', path: one, bodies: put },
    { method: 'DELETE', path: one },
  ];
  if (taggable)
    out.push(
      { method: 'GET', path: `${one}/tags` },
      { method: 'PUT', path: `${one}/tags`, bodies: () => [{ tags: ['a', 'b'] }, { tags: [] }] },
      { method: 'DELETE', path: `${one}/tags` },
      { method: 'GET', path: `${one}/tags/:tag` },
      { method: 'PUT', path: `${one}/tags/:tag` },
      { method: 'DELETE', path: `${one}/tags/:tag` },
    );
  return out;
}

const NETWORK_ROUTES: NetworkEndpoint[] = [
  { method: 'GET', path: '/network', public: true },
  { method: 'GET', path: `${V}/` },
  { method: 'GET', path: `${V}/extensions` },
  { method: 'GET', path: `${V}/extensions/:alias` },
  { method: 'GET', path: `${V}/availability_zones` },
  { method: 'GET', path: `${V}/agents` },
  { method: 'GET', path: `${V}/network-ip-availabilities` },
  { method: 'GET', path: `${V}/network-ip-availabilities/:id` },
  ...crud(
    'networks',
    (_nf, u) => [
      { network: { name: `n-${u}`, admin_state_up: true } },
      {
        network: {
          name: `n-${u}`,
          shared: false,
          mtu: 1400,
          port_security_enabled: true,
          description: 'fuzz',
        },
      },
    ],
    () => [{ network: { name: 'renamed', description: 'd', mtu: 1450 } }],
  ),
  ...crud(
    'subnets',
    (nf, u) => [
      { subnet: { network_id: nf.networkId, ip_version: 4, cidr: cidrOf(u) } },
      {
        subnet: {
          name: `s-${u}`,
          network_id: nf.networkId,
          ip_version: 4,
          cidr: cidrOf(u),
          gateway_ip: null,
          enable_dhcp: false,
          dns_nameservers: ['9.9.9.9'],
          host_routes: [
            { destination: '10.250.0.0/16', nexthop: cidrOf(u).replace(/0\/24$/, '9') },
          ],
        },
      },
    ],
    () => [{ subnet: { name: 'renamed', dns_nameservers: ['9.9.9.9'], enable_dhcp: true } }],
  ),
  ...crud(
    'ports',
    (nf, u) => [
      { port: { network_id: nf.networkId, name: `p-${u}` } },
      {
        port: {
          network_id: nf.networkId,
          fixed_ips: [{ subnet_id: nf.subnetId }],
          security_groups: [nf.securityGroupId],
          allowed_address_pairs: [{ ip_address: '10.0.0.9' }],
          dns_name: 'fuzz',
          device_id: u,
          device_owner: 'compute:nova',
        },
      },
    ],
    (nf) => [
      { port: { name: 'renamed', admin_state_up: false } },
      { port: { security_groups: [nf.securityGroupId], 'binding:host_id': 'node-1' } },
    ],
  ),
  ...crud(
    'security-groups',
    (_nf, u) => [{ security_group: { name: `sg-${u}`, description: 'fuzz' } }],
    () => [{ security_group: { description: 'changed' } }],
  ),
  ...crud(
    'security-group-rules',
    (nf, u) => [
      {
        security_group_rule: {
          security_group_id: nf.securityGroupId,
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 'tcp',
          port_range_min: portOf(u),
          port_range_max: portOf(u),
          remote_ip_prefix: '0.0.0.0/0',
        },
      },
      {
        security_group_rule: {
          security_group_id: nf.securityGroupId,
          direction: 'egress',
          protocol: 'icmp',
          remote_group_id: nf.securityGroupId,
        },
      },
    ],
    () => [{ security_group_rule: { description: 'changed' } }],
    false,
  ),
  ...crud(
    'routers',
    (nf, u) => [
      { router: { name: `r-${u}` } },
      { router: { name: `r-${u}`, external_gateway_info: { network_id: nf.publicNetworkId } } },
    ],
    (nf) => [
      { router: { name: 'renamed', routes: [] } },
      { router: { external_gateway_info: { network_id: nf.publicNetworkId } } },
    ],
  ),
  {
    method: 'PUT',
    path: `${V}/routers/:id/add_router_interface`,
    bodies: (nf) => [{ subnet_id: nf.subnetId }, { port_id: nf.portId }],
  },
  {
    method: 'PUT',
    path: `${V}/routers/:id/remove_router_interface`,
    bodies: (nf) => [{ subnet_id: nf.subnetId }],
  },
  ...crud(
    'floatingips',
    (nf) => [
      { floatingip: { floating_network_id: nf.publicNetworkId } },
      {
        floatingip: {
          floating_network_id: nf.publicNetworkId,
          port_id: nf.portId,
          description: 'fuzz',
        },
      },
    ],
    (nf) => [
      { floatingip: { port_id: null } },
      { floatingip: { port_id: nf.portId, fixed_ip_address: nf.portIp } },
    ],
  ),
  { method: 'GET', path: `${V}/floatingips/:id/port_forwardings` },
  {
    method: 'POST',
    path: `${V}/floatingips/:id/port_forwardings`,
    bodies: (nf, u) => [
      {
        port_forwarding: {
          internal_port_id: nf.portId,
          internal_ip_address: nf.portIp,
          internal_port: portOf(u),
          external_port: portOf(u),
          protocol: 'tcp',
          description: 'fuzz',
        },
      },
    ],
  },
  { method: 'GET', path: `${V}/floatingips/:id/port_forwardings/:pf` },
  {
    method: 'PUT',
    path: `${V}/floatingips/:id/port_forwardings/:pf`,
    bodies: () => [{ port_forwarding: { description: 'changed' } }],
  },
  { method: 'DELETE', path: `${V}/floatingips/:id/port_forwardings/:pf` },
  { method: 'GET', path: `${V}/quotas` },
  { method: 'GET', path: `${V}/quotas/:project` },
  { method: 'GET', path: `${V}/quotas/:project/details` },
  { method: 'GET', path: `${V}/quotas/:project/default` },
  {
    method: 'PUT',
    path: `${V}/quotas/:project`,
    bodies: () => [{ quota: { network: 90, port: '200' } }],
  },
  { method: 'DELETE', path: `${V}/quotas/:project` },
];

/** The network routes as the fuzz test's endpoints, their bodies reading `nf` as it is at each run. */
export function networkEndpoints(nf: NetworkFixtures): Endpoint[] {
  return NETWORK_ROUTES.map((e) => ({
    method: e.method,
    path: e.path,
    ...(e.public ? { public: true as const } : {}),
    ...(e.bodies ? { bodies: (_f: Fixtures, u: string) => e.bodies!(nf, u) } : {}),
  }));
}

const REAL: Record<string, (nf: NetworkFixtures) => string[]> = {
  networks: (nf) => [nf.networkId, nf.publicNetworkId],
  subnets: (nf) => [nf.subnetId],
  ports: (nf) => [nf.portId],
  'security-groups': (nf) => [nf.securityGroupId],
  'security-group-rules': (nf) => [nf.ruleId],
  routers: (nf) => [nf.routerId],
  floatingips: (nf) => [nf.floatingIpId],
  'network-ip-availabilities': (nf) => [nf.networkId],
  quotas: () => ['demo', 'other', 'admin'],
  extensions: () => ['router', 'port-security', 'Availability Zone'],
};

/** The real values of each parameter of a network path: `:id` by its collection, the others by name. */
export function networkPathParams(
  path: string,
  nf: NetworkFixtures,
): { name: string; real: string[] }[] {
  const collection = /^\/network\/v2\.0\/([^/]+)/.exec(path)?.[1] ?? '';
  return [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => {
    const name = m[1];
    if (name === 'tag') return { name, real: [nf.tag] };
    if (name === 'pf') return { name, real: [nf.portForwardingId] };
    const real = REAL[collection];
    if (!real) throw new Error(`no real values for ${path}`);
    return { name, real: real(nf) };
  });
}

type Request = TestCloud['request'];

const body = async (r: ReturnType<Request>, what: string) => {
  const res = await r;
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};

async function exists(req: Request, path: string, id: string | undefined): Promise<boolean> {
  return !!id && (await req('GET', `${V}/${path}/${id}`, { token: OWNER })).status === 200;
}

/**
 * Makes (or brings back) demo's network fixtures: a network with a
 * subnet and a port, a security group with a rule, a router with that
 * subnet and a gateway on public, a floating IP with a port forwarding to
 * the port, a tag on the network; demo's network quotas at their defaults.
 */
export async function ensureNetworkFixtures(req: Request, nf: NetworkFixtures): Promise<void> {
  await req('DELETE', `${V}/quotas/demo`, { token: ADMIN });
  // Looked up once: an admin's fuzzed PUT may rename it.
  if (!nf.publicNetworkId) {
    const pub = await body(
      req('GET', `${V}/networks?name=public`, { token: OWNER }),
      'find public',
    );
    nf.publicNetworkId = pub.networks[0].id;
  }
  nf.tag = 'fixture';
  if (!(await exists(req, 'networks', nf.networkId)))
    nf.networkId = (
      await body(
        req('POST', `${V}/networks`, { body: { network: { name: 'fixture' } } }),
        'network',
      )
    ).network.id;
  if (!(await exists(req, 'subnets', nf.subnetId))) {
    const subnets = (
      await body(req('GET', `${V}/subnets?network_id=${nf.networkId}`, {}), 'subnets')
    ).subnets;
    nf.subnetId = subnets.length
      ? subnets[0].id
      : (
          await body(
            req('POST', `${V}/subnets`, {
              body: { subnet: { network_id: nf.networkId, ip_version: 4, cidr: '10.99.0.0/24' } },
            }),
            'subnet',
          )
        ).subnet.id;
  }
  const shownPort = nf.portId && (await req('GET', `${V}/ports/${nf.portId}`, { token: OWNER }));
  const port =
    shownPort && shownPort.status === 200 && shownPort.body.port.fixed_ips.length
      ? shownPort.body.port
      : undefined;
  if (!port) {
    const made = (
      await body(
        req('POST', `${V}/ports`, {
          body: { port: { network_id: nf.networkId, fixed_ips: [{ subnet_id: nf.subnetId }] } },
        }),
        'port',
      )
    ).port;
    nf.portId = made.id;
    nf.portIp = made.fixed_ips[0].ip_address;
  } else nf.portIp = port.fixed_ips[0].ip_address;
  if (!(await exists(req, 'security-groups', nf.securityGroupId)))
    nf.securityGroupId = (
      await body(
        req('POST', `${V}/security-groups`, { body: { security_group: { name: 'fixture' } } }),
        'group',
      )
    ).security_group.id;
  if (!(await exists(req, 'security-group-rules', nf.ruleId))) {
    const rules = (
      await body(
        req('GET', `${V}/security-group-rules?security_group_id=${nf.securityGroupId}`, {}),
        'rules',
      )
    ).security_group_rules;
    nf.ruleId = rules.length
      ? rules[0].id
      : (
          await body(
            req('POST', `${V}/security-group-rules`, {
              body: {
                security_group_rule: { security_group_id: nf.securityGroupId, direction: 'egress' },
              },
            }),
            'rule',
          )
        ).security_group_rule.id;
  }
  if (!(await exists(req, 'routers', nf.routerId)))
    nf.routerId = (
      await body(req('POST', `${V}/routers`, { body: { router: { name: 'fixture' } } }), 'router')
    ).router.id;
  await req('PUT', `${V}/routers/${nf.routerId}`, {
    body: { router: { external_gateway_info: { network_id: nf.publicNetworkId } } },
  });
  // 400 when the subnet already has it: that is the state wanted.
  await req('PUT', `${V}/routers/${nf.routerId}/add_router_interface`, {
    body: { subnet_id: nf.subnetId },
  });
  if (!(await exists(req, 'floatingips', nf.floatingIpId)))
    nf.floatingIpId = (
      await body(
        req('POST', `${V}/floatingips`, {
          body: { floatingip: { floating_network_id: nf.publicNetworkId } },
        }),
        'fip',
      )
    ).floatingip.id;
  await req('PUT', `${V}/floatingips/${nf.floatingIpId}`, {
    body: { floatingip: { port_id: null } },
  });
  const pf =
    nf.portForwardingId &&
    (await req(
      'GET',
      `${V}/floatingips/${nf.floatingIpId}/port_forwardings/${nf.portForwardingId}`,
      {},
    ));
  if (!pf || pf.status !== 200) {
    const pfs = (
      await body(req('GET', `${V}/floatingips/${nf.floatingIpId}/port_forwardings`, {}), 'pfs')
    ).port_forwardings;
    nf.portForwardingId = pfs.length
      ? pfs[0].id
      : (
          await body(
            req('POST', `${V}/floatingips/${nf.floatingIpId}/port_forwardings`, {
              body: {
                port_forwarding: {
                  internal_port_id: nf.portId,
                  internal_ip_address: nf.portIp,
                  internal_port: 22,
                  external_port: 1022,
                  protocol: 'tcp',
                },
              },
            }),
            'port forwarding',
          )
        ).port_forwarding.id;
  }
  await req('PUT', `${V}/networks/${nf.networkId}/tags/${nf.tag}`, {});
}
