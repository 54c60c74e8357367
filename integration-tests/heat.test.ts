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
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { heatMissing, startHeat, type Heat } from './fixtures/heat';
import { keystoneMissing } from './fixtures/keystone';
import { type OscResult, runOsc } from './fixtures/osc';
import { hostBusybox, inNetns } from './fixtures/sim-hosts';
import { startToolchainCloud, type ToolchainCloud } from './fixtures/toolchain-cloud';
import { imageTar, needsRoot, tempStateDir, waitFor } from './harness';

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

/** The toolchain cloud (Keystone, berth all-in-one on a simulated host) and Heat in front of it. */
class HeatCloud {
  readonly root = tempStateDir('heatcloud');
  tc?: ToolchainCloud;
  heat?: Heat;
  private readonly clouds = path.join(this.root, 'clouds.yaml');

  async start(): Promise<void> {
    this.tc = await startToolchainCloud({ DEFAULT: { log_level: 'info' } });
    this.heat = await startHeat({ url: this.tc.keystoneUrl, adminToken: await this.tc.token() });
    this.tc.writeCloudsYaml(this.clouds);
  }

  osc(t: TestContext, cloud: string, args: string[]): Promise<OscResult> {
    return runOsc(t, this.clouds, args, { cloud, timeoutMs: 600_000 });
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
    await this.tc?.close();
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
      const outside = await inNetns(cloud.tc!.outsideNetns, [
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
