/**
 * Debian's python3-openstackclient, unmodified, against a real `berth api`
 * for the network commands that need no compute: networks, subnets,
 * ports, routers, security groups, floating IPs and port forwardings,
 * created, listed, shown and deleted through the embedded Neutron API
 * (`network_endpoint_override: <api>/network`), plus the errors OSC
 * reports for a network still in use.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createVhost, stopProcess } from './compute-harness';
import { announcedUrl, spawnBerth, writeConfig } from './fixtures/berth-processes';
import { needsRoot, runName, tempStateDir } from './harness';
import {
  ingressRuleArgs,
  OPENSTACK,
  type OscResult,
  runOsc,
  writeCloudsYaml,
} from './fixtures/osc';

const skip =
  needsRoot() ??
  (fs.existsSync(OPENSTACK)
    ? undefined
    : `${OPENSTACK} missing: install Debian's python3-openstackclient`);

describe('python-openstackclient network commands against berth api', { skip }, () => {
  const vhost = runName('napi');
  const dir = tempStateDir('napi');
  const cloudsFile = path.join(dir, 'clouds.yaml');
  let berth: ChildProcess | undefined;

  function osc(t: TestContext, args: string[], cloud = 'demo'): Promise<OscResult> {
    return runOsc(t, cloudsFile, args, { cloud });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the client's output, read by the test
  async function json(t: TestContext, args: string[], cloud?: string): Promise<any> {
    const r = await osc(t, [...args, '-f', 'json'], cloud);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  async function ok(t: TestContext, args: string[], cloud?: string): Promise<string> {
    const r = await osc(t, args, cloud);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    const transport = createVhost(vhost);
    const config = writeConfig(path.join(dir, 'berth.conf'), {
      DEFAULT: {
        host: vhost,
        transport_url: transport,
        state_path: path.join(dir, 'state'),
        log_level: 'warn',
      },
      api: { listen: '127.0.0.1:0' },
    });
    berth = spawnBerth('api', config);
    const url = await announcedUrl(berth, 'compute API');
    writeCloudsYaml(cloudsFile, url, { demo: 'demo:demo', admin: 'admin:admin' }, ['network']);
  });

  after(async () => {
    await stopProcess(berth);
    execFileSync('rabbitmqctl', ['-q', 'delete_vhost', vhost]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('networks, subnets, ports, routers, security groups, floating IPs and port forwardings', async (t) => {
    const extensions = await json(t, ['extension', 'list', '--network']);
    assert.ok(extensions.some((e: { Alias: string }) => e.Alias === 'router'));

    const net = await json(t, ['network', 'create', 'osc-net']);
    assert.equal(net.mtu, 1450);
    assert.equal((await json(t, ['network', 'show', 'osc-net'])).id, net.id);
    const names = (await json(t, ['network', 'list'])).map((n: { Name: string }) => n.Name);
    assert.deepEqual(names.sort(), ['osc-net', 'public']);
    const external = await json(t, ['network', 'list', '--external']);
    assert.deepEqual(
      external.map((n: { Name: string }) => n.Name),
      ['public'],
    );

    const subnet = await json(t, [
      'subnet',
      'create',
      '--network',
      'osc-net',
      '--subnet-range',
      '10.10.0.0/24',
      '--dns-nameserver',
      '192.0.2.53',
      '--gateway',
      '10.10.0.1',
      'osc-subnet',
    ]);
    assert.equal(subnet.cidr, '10.10.0.0/24');
    assert.equal((await json(t, ['subnet', 'show', 'osc-subnet'])).id, subnet.id);
    assert.equal((await json(t, ['subnet', 'list', '--network', 'osc-net'])).length, 1);
    const overlap = await osc(t, [
      'subnet',
      'create',
      '--network',
      'osc-net',
      '--subnet-range',
      '10.10.0.0/25',
      'clash',
    ]);
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /overlaps with another subnet/);

    const port = await json(t, [
      'port',
      'create',
      '--network',
      'osc-net',
      '--fixed-ip',
      'subnet=osc-subnet,ip-address=10.10.0.50',
      'osc-port',
    ]);
    assert.match(JSON.stringify(port.fixed_ips), /10\.10\.0\.50/);
    const listed = await json(t, [
      'port',
      'list',
      '--network',
      'osc-net',
      '--fixed-ip',
      'ip-address=10.10.0.50',
    ]);
    assert.deepEqual(
      listed.map((p: { ID: string }) => p.ID),
      [port.id],
    );
    assert.equal((await json(t, ['port', 'show', 'osc-port'])).id, port.id);

    const groups = await json(t, ['security', 'group', 'list']);
    assert.deepEqual(
      groups.map((g: { Name: string }) => g.Name),
      ['default'],
    );
    const rule = await json(t, ingressRuleArgs('tcp', 22, 'default'));
    assert.equal(rule.port_range_min, 22);
    const dup = await osc(t, ingressRuleArgs('tcp', 22, 'default'));
    assert.equal(dup.code, 1);
    await ok(t, ['security', 'group', 'rule', 'delete', rule.id]);

    await json(t, ['router', 'create', 'osc-router']);
    await ok(t, ['router', 'add', 'subnet', 'osc-router', 'osc-subnet']);
    await ok(t, ['router', 'set', '--external-gateway', 'public', 'osc-router']);
    const router = await json(t, ['router', 'show', 'osc-router']);
    assert.match(JSON.stringify(router.external_gateway_info), /172\.24\.4\./);

    const fip = await json(t, ['floating', 'ip', 'create', 'public']);
    await ok(t, ['floating', 'ip', 'set', '--port', 'osc-port', fip.floating_ip_address]);
    const associated = await json(t, ['floating', 'ip', 'show', fip.id]);
    assert.equal(associated.port_id, port.id);
    assert.equal(associated.fixed_ip_address, '10.10.0.50');
    await ok(t, ['floating', 'ip', 'unset', '--port', fip.id]);

    const pfFip = await json(t, [
      'floating',
      'ip',
      'create',
      '--description',
      'for port forwarding',
      'public',
    ]);
    const pf = await json(t, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'create',
      '--internal-ip-address',
      '10.10.0.50',
      '--port',
      'osc-port',
      '--internal-protocol-port',
      '22',
      '--external-protocol-port',
      '2222',
      '--protocol',
      'tcp',
      '--description',
      'ssh',
      pfFip.id,
    ]);
    assert.equal(pf.external_port, 2222);
    assert.equal(
      (await json(t, ['floating', 'ip', 'port', 'forwarding', 'list', pfFip.id])).length,
      1,
    );
    assert.equal(
      (await json(t, ['floating', 'ip', 'port', 'forwarding', 'show', pfFip.id, pf.id]))
        .internal_port,
      22,
    );
    await ok(t, ['floating', 'ip', 'port', 'forwarding', 'delete', pfFip.id, pf.id]);

    const inUse = await osc(t, ['network', 'delete', 'osc-net']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /ports still in use/);

    await ok(t, ['floating', 'ip', 'delete', fip.id, pfFip.id]);
    await ok(t, ['router', 'unset', '--external-gateway', 'osc-router']);
    await ok(t, ['router', 'remove', 'subnet', 'osc-router', 'osc-subnet']);
    await ok(t, ['router', 'delete', 'osc-router']);
    await ok(t, ['port', 'delete', 'osc-port']);
    await ok(t, ['subnet', 'delete', 'osc-subnet']);
    await ok(t, ['network', 'delete', 'osc-net']);
    assert.deepEqual(
      (await json(t, ['network', 'list'])).map((n: { Name: string }) => n.Name),
      ['public'],
    );
    assert.equal((await osc(t, ['network', 'show', 'osc-net'])).code, 1);
  });
});
