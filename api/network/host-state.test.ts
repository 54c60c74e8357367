import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildHostState, type NetworkSnapshot } from './host-state';
import { dhcpDeviceId } from './ports';
import type { Body, Kind, Row } from './store';

let seq = 0;
function row(kind: Kind, id: string, body: Body, o: Partial<Row> = {}): Row {
  return {
    standard_attr_id: ++seq,
    kind,
    id,
    project_id: 'p1',
    parent_id: '',
    device_id: body.device_id ?? '',
    unique_key: null,
    body,
    tags: [],
    revision_number: 0,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...o,
  };
}

const port = (id: string, network: string, o: Body) =>
  row(
    'port',
    id,
    {
      name: '',
      mac_address: `fa:16:3e:00:00:${id.slice(-2)}`,
      device_id: '',
      device_owner: '',
      admin_state_up: true,
      port_security_enabled: true,
      security_groups: [],
      allowed_address_pairs: [],
      dns_name: '',
      'binding:host_id': '',
      ...o,
    },
    { parent_id: network },
  );

/**
 * Two hosts; net1 (vni 1001) spans both with a router to public, a
 * floating IP and a port forwarding on host-a's port; net2 lives on
 * host-b only, so host-a's document must not mention it.
 */
function topology(): NetworkSnapshot {
  const fixed = (subnet: string, ip: string) => [{ subnet_id: subnet, ip_address: ip }];
  return {
    revision: 7,
    publicNetworkId: 'pub',
    dnsDomain: 'berth.local',
    networks: [
      row(
        'network',
        'pub',
        { name: 'public', mtu: 1500, 'provider:segmentation_id': null, 'router:external': true },
        { project_id: 'admin' },
      ),
      row('network', 'net1', { name: 'one', mtu: 1450, 'provider:segmentation_id': 1001 }),
      row('network', 'net2', { name: 'two', mtu: 1450, 'provider:segmentation_id': 1002 }),
    ],
    subnets: [
      row(
        'subnet',
        'pubsub',
        {
          cidr: '172.24.4.0/24',
          gateway_ip: '172.24.4.1',
          dns_nameservers: [],
          host_routes: [],
          enable_dhcp: false,
          allocation_pools: [],
        },
        { parent_id: 'pub' },
      ),
      row(
        'subnet',
        'sub1',
        {
          cidr: '10.0.1.0/24',
          gateway_ip: '10.0.1.1',
          dns_nameservers: ['9.9.9.9'],
          host_routes: [{ destination: '10.9.0.0/16', nexthop: '10.0.1.254' }],
          enable_dhcp: true,
          allocation_pools: [{ start: '10.0.1.2', end: '10.0.1.254' }],
        },
        { parent_id: 'net1' },
      ),
      row(
        'subnet',
        'sub2',
        {
          cidr: '10.0.2.0/24',
          gateway_ip: '10.0.2.1',
          dns_nameservers: [],
          host_routes: [],
          enable_dhcp: true,
          allocation_pools: [],
        },
        { parent_id: 'net2' },
      ),
    ],
    ports: [
      port('pdhcp01', 'net1', {
        device_owner: 'network:dhcp',
        device_id: 'dhcpx-net1',
        fixed_ips: fixed('sub1', '10.0.1.2'),
        port_security_enabled: false,
      }),
      port('prtr002', 'net1', {
        device_owner: 'network:router_interface',
        device_id: 'r1',
        fixed_ips: fixed('sub1', '10.0.1.1'),
        port_security_enabled: false,
      }),
      port('pgw0003', 'pub', {
        device_owner: 'network:router_gateway',
        device_id: 'r1',
        fixed_ips: fixed('pubsub', '172.24.4.10'),
        port_security_enabled: false,
      }),
      port('pa00004', 'net1', {
        device_owner: 'compute:nova',
        device_id: 'vm-a',
        dns_name: 'vm-a',
        'binding:host_id': 'host-a',
        fixed_ips: fixed('sub1', '10.0.1.5'),
        security_groups: ['sg1'],
        allowed_address_pairs: [{ ip_address: '10.0.1.100', mac_address: 'fa:16:3e:00:00:04' }],
      }),
      port('pb00005', 'net1', {
        device_owner: 'compute:nova',
        device_id: 'vm-b',
        'binding:host_id': 'host-b',
        fixed_ips: fixed('sub1', '10.0.1.6'),
        security_groups: ['sg1'],
      }),
      port('pc00006', 'net2', {
        device_owner: 'compute:nova',
        device_id: 'vm-c',
        'binding:host_id': 'host-b',
        fixed_ips: fixed('sub2', '10.0.2.5'),
        security_groups: ['sg2'],
      }),
    ],
    securityGroups: [
      row('security_group', 'sg1', { name: 'default' }),
      row('security_group', 'sg2', { name: 'other' }),
    ],
    rules: [
      row(
        'security_group_rule',
        'r-in',
        {
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: null,
          port_range_min: null,
          port_range_max: null,
          remote_ip_prefix: null,
          remote_group_id: 'sg1',
        },
        { parent_id: 'sg1' },
      ),
      row(
        'security_group_rule',
        'r-out',
        {
          direction: 'egress',
          ethertype: 'IPv4',
          protocol: 'tcp',
          port_range_min: 80,
          port_range_max: 80,
          remote_ip_prefix: '0.0.0.0/0',
          remote_group_id: null,
        },
        { parent_id: 'sg1' },
      ),
    ],
    routers: [
      row('router', 'r1', {
        external_gateway_info: { network_id: 'pub', enable_snat: true },
        routes: [],
      }),
    ],
    floatingIps: [
      row('floatingip', 'fip1', {
        floating_ip_address: '172.24.4.20',
        port_id: 'pa00004',
        fixed_ip_address: '10.0.1.5',
        router_id: 'r1',
      }),
    ],
    portForwardings: [
      row(
        'port_forwarding',
        'pf1',
        {
          internal_port_id: 'pa00004',
          internal_ip_address: '10.0.1.5',
          internal_port: 22,
          external_port: 2222,
          protocol: 'tcp',
          router_id: 'r1',
        },
        { parent_id: 'fip1' },
      ),
    ],
    tunnelIps: new Map([
      ['host-a', '192.0.2.1'],
      ['host-b', '192.0.2.2'],
    ]),
  };
}

describe('host network state', () => {
  it('gives host-a its network, every port of it, groups, router, floating IP and port forwarding', () => {
    const s = buildHostState(topology(), 'host-a');
    const netPort = (id: string, ip: string, o: Record<string, unknown>) => ({
      id,
      networkId: 'net1',
      mac: `fa:16:3e:00:00:${id.slice(-2)}`,
      fixedIps: [{ subnetId: 'sub1', ip }],
      host: null,
      tunnelIp: null,
      deviceId: '',
      deviceOwner: '',
      dnsName: `host-${ip.replace(/\./g, '-')}`,
      adminStateUp: true,
      portSecurityEnabled: true,
      securityGroupIds: [],
      allowedAddressPairs: [],
      ...o,
    });
    assert.deepEqual(s, {
      revision: 7,
      host: 'host-a',
      public: { networkId: 'pub', cidr: '172.24.4.0/24', gatewayIp: '172.24.4.1', mtu: 1500 },
      dns: { domain: 'berth.local' },
      networks: [
        {
          id: 'net1',
          name: 'one',
          projectId: 'p1',
          mtu: 1450,
          vni: 1001,
          subnets: [
            {
              id: 'sub1',
              cidr: '10.0.1.0/24',
              gatewayIp: '10.0.1.1',
              dnsNameservers: ['9.9.9.9'],
              hostRoutes: [{ destination: '10.9.0.0/16', nexthop: '10.0.1.254' }],
              enableDhcp: true,
              allocationPools: [{ start: '10.0.1.2', end: '10.0.1.254' }],
            },
          ],
          dhcpPort: {
            id: 'pdhcp01',
            mac: 'fa:16:3e:00:00:01',
            ips: [{ subnetId: 'sub1', ip: '10.0.1.2' }],
          },
        },
      ],
      ports: [
        netPort('pdhcp01', '10.0.1.2', {
          deviceId: 'dhcpx-net1',
          deviceOwner: 'network:dhcp',
          portSecurityEnabled: false,
        }),
        netPort('prtr002', '10.0.1.1', {
          deviceId: 'r1',
          deviceOwner: 'network:router_interface',
          portSecurityEnabled: false,
        }),
        netPort('pa00004', '10.0.1.5', {
          host: 'host-a',
          tunnelIp: '192.0.2.1',
          deviceId: 'vm-a',
          deviceOwner: 'compute:nova',
          dnsName: 'vm-a',
          securityGroupIds: ['sg1'],
          allowedAddressPairs: [{ ipAddress: '10.0.1.100', macAddress: 'fa:16:3e:00:00:04' }],
        }),
        netPort('pb00005', '10.0.1.6', {
          host: 'host-b',
          tunnelIp: '192.0.2.2',
          deviceId: 'vm-b',
          deviceOwner: 'compute:nova',
          securityGroupIds: ['sg1'],
        }),
      ],
      securityGroups: [
        {
          id: 'sg1',
          rules: [
            {
              id: 'r-in',
              direction: 'ingress',
              ethertype: 'IPv4',
              protocol: null,
              portRangeMin: null,
              portRangeMax: null,
              remoteIpPrefix: null,
              remoteGroupId: 'sg1',
            },
            {
              id: 'r-out',
              direction: 'egress',
              ethertype: 'IPv4',
              protocol: 'tcp',
              portRangeMin: 80,
              portRangeMax: 80,
              remoteIpPrefix: '0.0.0.0/0',
              remoteGroupId: null,
            },
          ],
          memberIps: ['10.0.1.5', '10.0.1.100', '10.0.1.6'],
        },
      ],
      routers: [
        {
          id: 'r1',
          externalGateway: { networkId: 'pub', ip: '172.24.4.10', enableSnat: true },
          interfaces: [
            {
              portId: 'prtr002',
              networkId: 'net1',
              subnetId: 'sub1',
              ip: '10.0.1.1',
              prefixLen: 24,
              mac: 'fa:16:3e:00:00:02',
            },
          ],
          routes: [],
        },
      ],
      floatingIps: [
        { id: 'fip1', ip: '172.24.4.20', portId: 'pa00004', fixedIp: '10.0.1.5', routerId: 'r1' },
      ],
      portForwardings: [
        {
          id: 'pf1',
          floatingIpId: 'fip1',
          externalIp: '172.24.4.20',
          externalPort: 2222,
          internalIp: '10.0.1.5',
          internalPort: 22,
          internalPortId: 'pa00004',
          protocol: 'tcp',
          routerId: 'r1',
        },
      ],
    });
  });

  it('gives host-b both networks, and a host without ports an empty document', () => {
    const b = buildHostState(topology(), 'host-b');
    assert.deepEqual(
      b.networks.map((n) => n.id),
      ['net1', 'net2'],
    );
    assert.deepEqual(
      b.securityGroups.map((g) => g.id),
      ['sg1', 'sg2'],
    );
    assert.deepEqual(b.floatingIps, []);
    assert.deepEqual(b.portForwardings, []);
    const none = buildHostState(topology(), 'host-z');
    assert.deepEqual(
      [none.networks, none.ports, none.routers, none.securityGroups],
      [[], [], [], []],
    );
    assert.equal(none.public.cidr, '172.24.4.0/24');
  });
});

describe('DHCP port device_id', () => {
  it('is Neutron’s dhcp<uuid5(NAMESPACE_DNS, host)>-<network id>', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') == 886313e1-3b8a-5372-9b90-0c9aee199e5d
    assert.equal(dhcpDeviceId('python.org', 'net'), 'dhcp886313e1-3b8a-5372-9b90-0c9aee199e5d-net');
  });
});
