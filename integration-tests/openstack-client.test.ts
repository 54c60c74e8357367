/**
 * Debian's python3-openstackclient, unmodified, against `berth all-in-one`:
 * images, flavors, hypervisors, services and server groups, then the
 * server lifecycle at the default microversion and at 2.latest (novaclient
 * sends 2.92 without asking), while the test checks on the host that each
 * instance really is a container: its process, its cgroup, its freezer.
 * The four lanes run at once: most of an `openstack` command is Python
 * starting up, and `--wait` sleeps five seconds between polls.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { apiClient } from '../testing/api/test-api';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { cleanUpNode, createVhost, stopProcess } from './compute-harness';
import { announcedUrl } from './fixtures/berth-processes';
import {
  berthCli,
  imageTar,
  needsRoot,
  processAlive,
  tempStateDir,
  waitFor,
  runName,
} from './harness';
import { OPENSTACK, type OscResult, runOsc, writeCloudsYaml } from './fixtures/osc';

const ADMIN = 'admin:admin';
const IMAGE = 'osc-busybox';
/** The container prints this line with its hostname, then sleeps as PID 1. */
const WORKLOAD = '/bin/sh -c "echo berth-osc-$(hostname); exec sleep 100000"';

const skip =
  needsRoot() ??
  (fs.existsSync(OPENSTACK)
    ? undefined
    : `${OPENSTACK} missing: install Debian's python3-openstackclient`);

describe('python-openstackclient against berth all-in-one', { skip, concurrency: true }, () => {
  const tag = runName('osc');
  const host = tag;
  const cgroupParent = tag;
  const vhost = tag;
  const dir = tempStateDir('osc');
  const stateDir = path.join(dir, 'state');
  const cloudsFile = path.join(dir, 'clouds.yaml');
  const node = { host, stateDir, cgroupParent, url: '' };
  let berth: ChildProcess | undefined;
  let api: ReturnType<typeof apiClient>;
  // The first lane uploads the image the server lanes boot from; they wait for its id.
  let imageUploaded!: (id: string) => void;
  let imageFailed!: (err: unknown) => void;
  const imageId = new Promise<string>((resolve, reject) => {
    imageUploaded = resolve;
    imageFailed = reject;
  });
  imageId.catch(() => undefined);

  /** `openstack --os-cloud CLOUD [--os-compute-api-version V] ARGS`, with nothing from our environment. */
  function osc(
    t: TestContext,
    args: string[],
    o: { cloud?: string; version?: string } = {},
  ): Promise<OscResult> {
    return runOsc(t, cloudsFile, args, { ...o, cloud: o.cloud ?? 'berth' });
  }

  /** Success, and silence on stderr: novaclient warns there, e.g. of a microversion not echoed. */
  function assertOk(r: OscResult, args: string[]): void {
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', `openstack ${args.join(' ')}`);
  }

  /** The command's `-f json` output; it must succeed. */
  async function oscJson(
    t: TestContext,
    args: string[],
    o: { cloud?: string; version?: string } = {},
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the client's output, read by the test
  ): Promise<any> {
    const r = await osc(t, [...args, '-f', 'json'], o);
    assertOk(r, args);
    return JSON.parse(r.stdout);
  }

  async function oscOk(t: TestContext, args: string[], version?: string): Promise<string> {
    const r = await osc(t, args, { version });
    assertOk(r, args);
    return r.stdout;
  }

  /** Waits, through the API, until the server settles in `status`. */
  async function settled(id: string, status: string): Promise<void> {
    await waitFor(
      `server ${id} ${status}`,
      async () => {
        const { body } = await api('GET', `/v2.1/servers/${id}`, { token: ADMIN });
        return body.server?.status === status && body.server['OS-EXT-STS:task_state'] === null;
      },
      30_000,
      100,
    );
  }

  /** The instance's PID 1 on the host: alive, in the instance's own cgroup, running the workload. */
  function workloadPid(id: string): number {
    const pid = Number(
      fs.readFileSync(path.join(stateDir, 'containers', id, 'pid'), 'utf8').trim(),
    );
    assert.ok(processAlive(pid), `instance ${id}: process ${pid} is not running`);
    assert.match(
      fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'),
      new RegExp(`:/${cgroupParent}/${id}$`, 'm'),
    );
    assert.equal(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\x00100000\x00');
    return pid;
  }

  function frozen(id: string): boolean {
    const layout = detectCgroupLayout();
    if (layout.v2) {
      const events = path.join(layout.v2.mount, cgroupParent, id, 'cgroup.events');
      return /^frozen 1$/m.test(fs.readFileSync(events, 'utf8'));
    }
    const state = path.join(layout.v1.get('freezer')!, cgroupParent, id, 'freezer.state');
    return fs.readFileSync(state, 'utf8').trim() === 'FROZEN';
  }

  before(
    async () => {
      node.url = createVhost(vhost);
      const config = path.join(dir, 'berth.conf');
      fs.writeFileSync(
        config,
        [
          '[DEFAULT]',
          `host = ${host}`,
          `transport_url = ${node.url}`,
          `state_path = ${stateDir}`,
          'report_interval = 2',
          // Not two intervals: a busy test host must not see the compute go down between commands.
          'service_down_time = 20',
          'log_level = warn',
          '[compute]',
          'status_listen = 127.0.0.1:0',
          `cgroup_parent = ${cgroupParent}`,
          'stop_timeout = 1',
          // Quoted whole: unquoted, the ";" would start an INI comment.
          `default_command = ${JSON.stringify(WORKLOAD)}`,
          '[api]',
          'listen = 127.0.0.1:0',
          '',
        ].join('\n'),
      );
      const child = spawn(process.execPath, [berthCli, 'all-in-one', '--config', config], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      berth = child;
      const url = await announcedUrl(child, 'compute API');
      writeCloudsYaml(cloudsFile, url, { berth: ADMIN, demo: 'demo:demo' }, ['image']);
      api = apiClient(url);
      // The scheduler places servers only on a compute that has reported in.
      await waitFor(
        'the compute node to report',
        async () => {
          const r = await api('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
          return r.body.hypervisors?.some((h: { state: string }) => h.state === 'up');
        },
        30_000,
        100,
      );
    },
    { timeout: 60_000 },
  );

  /** Servers a failed test left, deleted through the API so that the compute removes them. */
  async function deleteLeftoverServers(): Promise<void> {
    const list = async () =>
      (await api('GET', '/v2.1/servers?all_tenants=1', { token: ADMIN })).body.servers as {
        id: string;
      }[];
    for (const s of await list()) await api('DELETE', `/v2.1/servers/${s.id}`, { token: ADMIN });
    await waitFor('servers deleted', async () => (await list()).length === 0, 30_000, 100);
  }

  after(
    async () => {
      // Whatever is still there after this (or when berth never came up), the runtime sweep removes.
      await deleteLeftoverServers().catch(() => undefined);
      await stopProcess(berth);
      if (node.url) await cleanUpNode(node, vhost);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  async function uploadImage(t: TestContext): Promise<string> {
    const image = await oscJson(t, [
      'image',
      'create',
      '--file',
      imageTar,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      IMAGE,
    ]);
    assert.equal(image.name, IMAGE);
    assert.equal(image.disk_format, 'raw');
    assert.equal(image.container_format, 'bare');
    return image.id as string;
  }

  test('image create --file, then the compute resources at the default microversion', async (t) => {
    let id: string;
    try {
      id = await uploadImage(t);
    } catch (err) {
      imageFailed(err);
      throw err;
    }
    imageUploaded(id);
    const images = await oscJson(t, ['image', 'list']);
    assert.deepEqual(
      images.filter((i: { Name: string }) => i.Name === IMAGE),
      [{ ID: id, Name: IMAGE, Status: 'active' }],
    );

    const flavors = await oscJson(t, ['flavor', 'list']);
    assert.deepEqual(
      flavors.find((f: { Name: string }) => f.Name === 'm1.tiny'),
      { ID: '1', Name: 'm1.tiny', RAM: 512, Disk: 1, Ephemeral: 0, VCPUs: 1, 'Is Public': true },
    );
    assert.ok(flavors.some((f: { Name: string }) => f.Name === 'm1.small'));
    const flavor = await oscJson(t, ['flavor', 'show', 'm1.small']);
    assert.equal(flavor.id, '2');
    assert.equal(flavor.ram, 2048);
    assert.equal(flavor['os-flavor-access:is_public'], true);

    const hypervisors = await oscJson(t, ['hypervisor', 'list']);
    assert.equal(hypervisors.length, 1);
    assert.equal(hypervisors[0].ID, 1);
    assert.equal(hypervisors[0]['Hypervisor Hostname'], host);
    assert.equal(hypervisors[0].State, 'up');
    const shown = await oscJson(t, ['hypervisor', 'show', host]);
    assert.equal(shown.id, 1);
    assert.equal(shown.state, 'up');
    assert.equal(shown.status, 'enabled');
    assert.equal(shown.service_host, host);
    assert.deepEqual(shown.aggregates, []);
    assert.ok(shown.vcpus > 0 && shown.memory_mb > 0, JSON.stringify(shown));
    // Parsed by the client out of the host's `uptime` line.
    assert.ok(shown.uptime && shown.load_average, JSON.stringify(shown));
    const stats = await oscJson(t, ['hypervisor', 'stats', 'show']);
    assert.equal(stats.count, 1);
    assert.equal(stats.vcpus, shown.vcpus);
    assert.equal(stats.memory_mb, shown.memory_mb);

    const services = await oscJson(t, ['compute', 'service', 'list']);
    const compute = services.find((s: { Binary: string }) => s.Binary === 'nova-compute');
    assert.ok(compute, JSON.stringify(services));
    assert.equal(compute.Host, host);
    assert.equal(compute.Zone, 'nova');
    assert.equal(compute.Status, 'enabled');
    assert.equal(compute.State, 'up');

    const group = await oscJson(t, [
      'server',
      'group',
      'create',
      '--policy',
      'anti-affinity',
      'osc-spread',
    ]);
    assert.equal(group.name, 'osc-spread');
    assert.equal(group.policy, 'anti-affinity');
    assert.deepEqual(group.members, []);
  });

  test('hypervisors and services at 2.latest: uuids and uptime', async (t) => {
    const latest = { version: '2.latest' };
    const [hv] = await oscJson(t, ['hypervisor', 'list'], latest);
    assert.match(String(hv.ID), /^[0-9a-f-]{36}$/);
    assert.equal(hv.State, 'up');
    const shown = await oscJson(t, ['hypervisor', 'show', hv.ID], latest);
    assert.equal(shown.hypervisor_hostname, host);
    assert.equal(shown.vcpus, undefined);
    assert.ok(shown.uptime && shown.load_average, JSON.stringify(shown));
    const [service] = await oscJson(t, ['compute', 'service', 'list'], latest);
    assert.match(service.ID, /^[0-9a-f-]{36}$/);
    assert.equal(service.State, 'up');
  });

  /** Create, inspect, stop/start/reboot/pause/unpause/suspend/resume and delete one server. */
  async function lifecycle(t: TestContext, name: string, version?: string) {
    const latest = version === '2.latest';
    let group: string | undefined;
    if (latest) {
      const g = await oscJson(
        t,
        ['server', 'group', 'create', '--policy', 'affinity', `${name}-group`],
        { version },
      );
      assert.equal(g.policy, 'affinity');
      group = g.id as string;
    }
    const image = await imageId;
    const created = await oscJson(
      t,
      [
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        IMAGE,
        // From 2.37 a server must say which networks it wants.
        ...(latest ? ['--nic', 'none', '--hint', `group=${group}`] : []),
        '--wait',
        name,
      ],
      { version },
    );
    const id = created.id as string;
    assert.equal(created.status, 'ACTIVE');
    assert.equal(created['OS-EXT-STS:power_state'], 1);
    assert.equal(created['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(created.image, `${IMAGE} (${image})`);
    if (latest) assert.equal(created.flavor.original_name, 'm1.tiny');
    else assert.equal(created.flavor, 'm1.tiny (1)');
    let pid = workloadPid(id);

    const listed = await oscJson(t, ['server', 'list'], { version });
    assert.deepEqual(
      listed.find((s: { ID: string }) => s.ID === id),
      { ID: id, Name: name, Status: 'ACTIVE', Networks: {}, Image: IMAGE, Flavor: 'm1.tiny' },
    );
    const shown = await oscJson(t, ['server', 'show', name], { version });
    assert.equal(shown.id, id);
    assert.equal(shown['OS-EXT-STS:vm_state'], 'active');
    if (latest) {
      assert.deepEqual(shown.server_groups, [group]);
      assert.equal(shown.host_status, 'UP');
      assert.equal(shown['OS-EXT-SRV-ATTR:hostname'], name);
    }

    const show = (status: string, powerState: number) =>
      oscJson(t, ['server', 'show', id], { version }).then((s) => {
        assert.equal(s.status, status);
        assert.equal(s['OS-EXT-STS:power_state'], powerState);
        assert.equal(s['OS-EXT-STS:task_state'], null);
      });

    await oscOk(t, ['server', 'stop', name], version);
    await settled(id, 'SHUTOFF');
    await show('SHUTOFF', 4);
    assert.ok(!processAlive(pid), 'the workload still runs after stop');

    await oscOk(t, ['server', 'start', name], version);
    await settled(id, 'ACTIVE');
    const started = workloadPid(id);
    assert.notEqual(started, pid);

    // Without --wait, which polls every five seconds.
    await oscOk(t, ['server', 'reboot', name], version);
    await settled(id, 'ACTIVE');
    pid = workloadPid(id);
    assert.notEqual(pid, started);

    await oscOk(t, ['server', 'pause', name], version);
    await settled(id, 'PAUSED');
    await show('PAUSED', 3);
    assert.ok(frozen(id), 'paused but not frozen');
    await oscOk(t, ['server', 'unpause', name], version);
    await settled(id, 'ACTIVE');
    assert.ok(!frozen(id), 'unpaused but still frozen');

    await oscOk(t, ['server', 'suspend', name], version);
    await settled(id, 'SUSPENDED');
    await show('SUSPENDED', 7);
    assert.ok(frozen(id), 'suspended but not frozen');
    await oscOk(t, ['server', 'resume', name], version);
    await settled(id, 'ACTIVE');
    assert.ok(!frozen(id), 'resumed but still frozen');
    // Thawed, not restarted.
    assert.equal(workloadPid(id), pid);

    // One line per boot: create, start, reboot.
    const consoleLog = await oscOk(t, ['console', 'log', 'show', name], version);
    const boots = consoleLog.split('\n').filter((l) => l === `berth-osc-${name}`);
    assert.equal(boots.length, 3, consoleLog);

    await oscOk(t, ['server', 'delete', '--wait', name], version);
    assert.equal((await api('GET', `/v2.1/servers/${id}`, { token: ADMIN })).status, 404);
    await waitFor('the workload to end', () => !processAlive(pid));
    await waitFor(
      'the container to be removed',
      () => !fs.existsSync(path.join(stateDir, 'containers', id)),
    );
  }

  test('server lifecycle at the default microversion (2.1)', (t) => lifecycle(t, 'osc-v21'));

  test('server lifecycle at 2.latest (novaclient sends 2.92)', (t) =>
    lifecycle(t, 'osc-latest', '2.latest'));

  test("a member token: no hypervisors, and the admin project's server is not there", async (t) => {
    const denied = await osc(t, ['hypervisor', 'list'], { cloud: 'demo' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /os_compute_api:os-hypervisors:list-detail .*\(HTTP 403\)/);

    const created = await api('POST', '/v2.1/servers', {
      token: ADMIN,
      body: { server: { name: 'osc-admin-only', imageRef: await imageId, flavorRef: '1' } },
    });
    assert.equal(created.status, 202);
    const id = created.body.server.id as string;
    try {
      const servers = await oscJson(t, ['server', 'list'], { cloud: 'demo' });
      assert.deepEqual(servers, []);
      const hidden = await osc(t, ['server', 'show', id], { cloud: 'demo' });
      assert.equal(hidden.code, 1);
      assert.match(hidden.stderr, /No server with a name or ID of '.*' exists/);
    } finally {
      await settled(id, 'ACTIVE').catch(() => undefined);
      await api('DELETE', `/v2.1/servers/${id}`, { token: ADMIN });
    }
  });
});
