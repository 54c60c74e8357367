/**
 * Heat against berth, both real: Debian's heat-api and heat-engine (Zed)
 * build a stack of two servers in a server group on a network of their own
 * behind a router to berth's public network, a floating IP on the web
 * server and a volume attached to it, through the test's Keystone catalog;
 * the web server serves a page it wrote to the volume, the client fetches it
 * by the web server's fixed IP and prints it on its console, the outside
 * fetches it through the floating IP; `openstack stack delete` leaves
 * nothing of the stack in berth.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { createVhost, rabbitmqctl, stopProcess } from './compute-harness';
import { announcedUrl, writeConfig } from './fixtures/berth-processes';
import { heatMissing, KeystoneAdmin, startHeat, type Heat } from './fixtures/heat';
import { KEYSTONE_ADMIN_PASSWORD, keystoneMissing, LocalKeystone } from './fixtures/keystone';
import { killDnsmasqs, unmountPinned } from './fixtures/network-cloud';
import { OPENSTACK, type OscResult } from './fixtures/osc';
import {
  createTopology,
  hostBusybox,
  inNetns,
  OUTSIDE_DNS_IP,
  PUBLIC_CIDR,
  PUBLIC_GATEWAY,
  type Topology,
} from './fixtures/sim-hosts';
import { berthCli, imageTar, needsRoot, runName, tempStateDir, waitFor } from './harness';

const NOVA_PASSWORD = 'it-heat-nova-secret';
const DEMO_PASSWORD = 'it-heat-demo-secret';
const WEB_IP = '10.20.0.10';
const MOUNT_POINT = '/mnt/heat-data';
/** The web server writes its page onto the volume once it is mounted, then serves the volume. */
const WEB_COMMAND = [
  '/bin/sh',
  '-c',
  `until grep -q " ${MOUNT_POINT} " /proc/mounts; do sleep 1; done; ` +
    `echo "page from the volume of $(hostname)" > ${MOUNT_POINT}/index.html && ` +
    `exec httpd -f -v -p 80 -h ${MOUNT_POINT}`,
];
/** busybox 1.35's `wget -T` crashes: `timeout` bounds each attempt instead. */
const CLIENT_COMMAND = [
  '/bin/sh',
  '-c',
  `until timeout 5 wget -q -O /tmp/page http://${WEB_IP}/index.html; do sleep 1; done; ` +
    'echo "fetched: $(cat /tmp/page)"; exec sleep 2147483647',
];

/** The stack, as a HOT template (JSON is YAML). */
function template() {
  const server = (name: string, image: string, network: object) => ({
    type: 'OS::Nova::Server',
    depends_on: 'iface',
    properties: {
      name,
      image,
      flavor: 'heat.tiny',
      user_data_format: 'RAW',
      networks: [network],
      scheduler_hints: { group: { get_resource: 'group' } },
    },
  });
  return {
    heat_template_version: '2021-04-16',
    resources: {
      net: { type: 'OS::Neutron::Net', properties: { name: 'heat-net' } },
      subnet: {
        type: 'OS::Neutron::Subnet',
        properties: { network: { get_resource: 'net' }, cidr: '10.20.0.0/24' },
      },
      router: {
        type: 'OS::Neutron::Router',
        properties: { external_gateway_info: { network: 'public' } },
      },
      iface: {
        type: 'OS::Neutron::RouterInterface',
        properties: { router: { get_resource: 'router' }, subnet: { get_resource: 'subnet' } },
      },
      // One compute: both servers on it.
      group: { type: 'OS::Nova::ServerGroup', properties: { policies: ['affinity'] } },
      web_sg: {
        type: 'OS::Neutron::SecurityGroup',
        properties: {
          rules: [
            {
              direction: 'ingress',
              protocol: 'tcp',
              port_range_min: 80,
              port_range_max: 80,
              remote_ip_prefix: '0.0.0.0/0',
            },
          ],
        },
      },
      web_port: {
        type: 'OS::Neutron::Port',
        properties: {
          network: { get_resource: 'net' },
          fixed_ips: [{ subnet: { get_resource: 'subnet' }, ip_address: WEB_IP }],
          security_groups: ['default', { get_resource: 'web_sg' }],
        },
      },
      fip: { type: 'OS::Neutron::FloatingIP', properties: { floating_network: 'public' } },
      fip_assoc: {
        type: 'OS::Neutron::FloatingIPAssociation',
        depends_on: 'iface',
        properties: {
          floatingip_id: { get_resource: 'fip' },
          port_id: { get_resource: 'web_port' },
        },
      },
      web: server('heat-web', 'heat-web', { port: { get_resource: 'web_port' } }),
      client: server('heat-client', 'heat-client', { network: { get_resource: 'net' } }),
      // Named so that berth mounts it at /mnt/heat-data (the volume contract's default).
      data: { type: 'OS::Cinder::Volume', properties: { name: 'heat-data', size: 1 } },
      attach: {
        type: 'OS::Cinder::VolumeAttachment',
        properties: {
          instance_uuid: { get_resource: 'web' },
          volume_id: { get_resource: 'data' },
        },
      },
    },
    outputs: { fip: { value: { get_attr: ['fip', 'floating_ip_address'] } } },
  };
}

/** Keystone, berth all-in-one with keystone auth on a simulated host, Heat; one demo user. */
class HeatCloud {
  readonly root = tempStateDir('heatcloud');
  readonly keystone = new LocalKeystone(
    fs.mkdirSync(path.join(this.root, 'keystone'), { recursive: true })!,
  );
  readonly host = runName('heathost');
  readonly vhost = runName('heatcloud');
  topo?: Topology;
  berth?: ChildProcess;
  heat?: Heat;
  url = '';
  private transportUrl = '';
  private readonly stateDir = path.join(this.root, 'node');
  private readonly clouds = path.join(this.root, 'clouds.yaml');

  async start(): Promise<void> {
    this.keystone.setUp();
    await this.keystone.start();
    const identity = {
      url: this.keystone.url,
      adminToken: await this.keystone.token('admin', KEYSTONE_ADMIN_PASSWORD, 'admin'),
    };
    const admin = new KeystoneAdmin(identity);
    const grant = async (project: string, user: string, password: string, role: string) => {
      const domain_id = 'default';
      const ids = [
        await admin.findOrCreate('projects', 'project', { name: project, domain_id }),
        await admin.findOrCreate('users', 'user', { name: user, domain_id, password }),
        await admin.findOrCreate('roles', 'role', { name: role }),
      ];
      await admin.call('PUT', `/projects/${ids[0]}/users/${ids[1]}/roles/${ids[2]}`);
    };
    await grant('service', 'nova', NOVA_PASSWORD, 'admin');
    await grant('service', 'nova', NOVA_PASSWORD, 'service');
    await grant('demo', 'demo', DEMO_PASSWORD, 'member');

    this.topo = await createTopology({ hosts: 1 });
    this.transportUrl = createVhost(this.vhost);
    await this.startBerth();
    await admin.addEndpoint('nova', 'compute', `${this.url}/v2.1`);
    await admin.addEndpoint('glance', 'image', `${this.url}/image`);
    await admin.addEndpoint('neutron', 'network', `${this.url}/network`);
    await admin.addEndpoint('cinderv3', 'volumev3', `${this.url}/volume/v3/%(project_id)s`);
    this.heat = await startHeat(identity);
    this.writeClouds();
  }

  private async startBerth(): Promise<void> {
    const sim = this.topo!.hosts[0];
    const conf = writeConfig(path.join(this.root, 'berth.conf'), {
      DEFAULT: {
        transport_url: this.transportUrl,
        host: this.host,
        state_path: this.stateDir,
        my_ip: sim.ip,
        log_level: 'info',
      },
      compute: { status_listen: '127.0.0.1:0', cgroup_parent: this.host, stop_timeout: 1 },
      api: { listen: '127.0.0.1:0', auth_strategy: 'keystone' },
      keystone_authtoken: {
        www_authenticate_uri: this.keystone.url,
        auth_url: this.keystone.url,
        username: 'nova',
        password: NOVA_PASSWORD,
        project_name: 'service',
      },
      quota: { instances: -1, cores: -1, ram: -1 },
      network: {
        public_cidr: PUBLIC_CIDR,
        public_gateway: PUBLIC_GATEWAY,
        dns_servers: OUTSIDE_DNS_IP,
        device_prefix: this.topo!.devicePrefix,
        host_netns: sim.netns,
      },
    });
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')),
    );
    this.berth = spawn(process.execPath, [berthCli, 'all-in-one', '--config', conf], {
      stdio: ['ignore', 'pipe', fs.openSync(path.join(this.root, 'berth.log'), 'a')],
      env,
    });
    this.url = await announcedUrl(this.berth, 'compute API');
  }

  private writeClouds(): void {
    const cloud = (name: string, user: string, password: string) => [
      `  ${name}:`,
      '    auth:',
      `      auth_url: ${this.keystone.url}`,
      `      username: ${user}`,
      `      password: ${password}`,
      `      project_name: ${name}`,
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    identity_api_version: 3',
    ];
    fs.writeFileSync(
      this.clouds,
      [
        'clouds:',
        ...cloud('admin', 'admin', KEYSTONE_ADMIN_PASSWORD),
        ...cloud('demo', 'demo', DEMO_PASSWORD),
        '',
      ].join('\n'),
    );
  }

  async osc(t: TestContext, cloud: string, args: string[]): Promise<OscResult> {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(OS_|PYTHON)/.test(k)),
    );
    const child = spawn(OPENSTACK, ['--os-cloud', cloud, ...args], {
      env: { ...env, OS_CLIENT_CONFIG_FILE: this.clouds },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    t.diagnostic(`rc=${code} openstack ${args.join(' ')}`);
    return { code, stdout, stderr };
  }

  async ok(t: TestContext, cloud: string, args: string[]): Promise<string> {
    const r = await this.osc(t, cloud, args);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the client's output
  async json(t: TestContext, cloud: string, args: string[]): Promise<any> {
    return JSON.parse(await this.ok(t, cloud, [...args, '-f', 'json']));
  }

  async close(): Promise<void> {
    await this.heat?.close().catch(() => undefined);
    await stopProcess(this.berth);
    // Instances outlive berth by design: their monitors go with the runtime's shutdown.
    if (fs.existsSync(path.join(this.stateDir, 'containers')))
      await (
        await ContainerRuntime.open({ stateDir: this.stateDir, cgroupParent: this.host })
      )
        .shutdown()
        .catch(() => undefined);
    await killDnsmasqs([{ stateDir: this.stateDir }]);
    await this.topo?.close();
    unmountPinned(this.root);
    await this.keystone.stop().catch(() => undefined);
    if (this.transportUrl) rabbitmqctl('delete_vhost', this.vhost);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

describe('Heat with berth', { skip: needsRoot() ?? keystoneMissing() ?? heatMissing() }, () => {
  let cloud: HeatCloud;
  before(
    async () => {
      cloud = new HeatCloud();
      await cloud.start();
    },
    { timeout: 300_000 },
  );
  after(async () => cloud?.close(), { timeout: 120_000 });

  test(
    'a stack of servers, network, router, floating IP, volume and server group works and goes away',
    { timeout: 900_000 },
    async (t) => {
      const image = (name: string, command: string[]) =>
        cloud.ok(t, 'admin', [
          'image', 'create', '--public', '--disk-format', 'raw', '--container-format', 'bare',
          '--file', imageTar, '--property', `os_command_line=${JSON.stringify(command)}`, name,
        ]); // prettier-ignore
      await image('heat-web', WEB_COMMAND);
      await image('heat-client', CLIENT_COMMAND);
      await cloud.ok(t, 'admin', [
        'flavor', 'create', '--public', '--ram', '64', '--vcpus', '1', '--disk', '0', 'heat.tiny',
      ]); // prettier-ignore
      const templateFile = path.join(cloud.root, 'stack.yaml');
      fs.writeFileSync(templateFile, JSON.stringify(template(), null, 1));

      const created = await cloud.osc(t, 'demo', [
        'stack', 'create', '--wait', '-t', templateFile, 'heat-bar',
      ]); // prettier-ignore
      const stack = await cloud.json(t, 'demo', ['stack', 'show', 'heat-bar']);
      if (stack.stack_status !== 'CREATE_COMPLETE') {
        const events = await cloud.osc(t, 'demo', ['stack', 'event', 'list', 'heat-bar']);
        t.diagnostic(cloud.heat!.engineLog(20_000));
        assert.fail(
          `stack ${stack.stack_status}: ${stack.stack_status_reason}\n${created.stderr}\n${events.stdout}`,
        );
      }
      const resources = await cloud.json(t, 'demo', ['stack', 'resource', 'list', 'heat-bar']);
      const physical = (name: string) =>
        resources.find((r: { resource_name: string }) => r.resource_name === name)
          .physical_resource_id as string;

      const clientId = physical('client');
      await waitFor(
        'the client to print the page from the volume',
        async () =>
          (await cloud.ok(t, 'demo', ['console', 'log', 'show', clientId])).includes(
            'fetched: page from the volume of heat-web',
          ),
        60_000,
        1000,
      );
      const fip = (await cloud.json(t, 'demo', ['stack', 'output', 'show', 'heat-bar', 'fip']))
        .output_value as string;
      const outside = await inNetns(cloud.topo!.outside.netns, [
        hostBusybox, 'timeout', '5', hostBusybox, 'wget', '-q', '-O', '-', `http://${fip}/index.html`,
      ]); // prettier-ignore
      assert.equal(outside.stdout.trim(), 'page from the volume of heat-web', outside.stderr);
      const group = await cloud.json(t, 'demo', ['server', 'group', 'show', physical('group')]);
      assert.deepEqual([...group.members].sort(), [physical('web'), clientId].sort());
      const volume = await cloud.json(t, 'demo', ['volume', 'show', physical('data')]);
      assert.equal(volume.status, 'in-use');

      await cloud.ok(t, 'demo', ['stack', 'delete', '--yes', '--wait', 'heat-bar']);
      const left = async (args: string[]) =>
        (await cloud.json(t, 'admin', args)) as { ID: string; Name: string }[];
      assert.deepEqual(await left(['server', 'list', '--all-projects']), []);
      assert.deepEqual(await left(['server', 'group', 'list', '--all-projects']), []);
      assert.deepEqual(await left(['volume', 'list', '--all-projects']), []);
      assert.deepEqual(await left(['floating', 'ip', 'list']), []);
      assert.deepEqual(await left(['router', 'list']), []);
      const networks = await left(['network', 'list']);
      assert.deepEqual(
        networks.map((n) => n.Name),
        ['public'],
      );
      // What is left lies on the public network (its subnet, the ports of its own).
      const publicId = networks[0].ID;
      const subnets = await cloud.json(t, 'admin', ['subnet', 'list']);
      assert.deepEqual(
        subnets.filter((s: { Network: string }) => s.Network !== publicId),
        [],
      );
      const ports = await cloud.json(t, 'admin', ['port', 'list', '--long']);
      assert.deepEqual(
        ports.filter((p: { 'Network ID'?: string }) => p['Network ID'] !== publicId),
        [],
      );
    },
  );
});
