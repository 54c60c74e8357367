/**
 * The control plane's bar: one `berth api` and three `berth compute`
 * processes (own hosts, state directories and cgroup parents) on a private
 * RabbitMQ vhost, booting real containers. Thirty servers spread over the
 * three, anti-affinity holds, a stopped compute is reported down while its
 * instances keep running and new servers avoid it; after the deletes
 * nothing is left on the host.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apiClient, type TestApi } from '../testing/api/test-api';
import { fromGlanceImage } from '../driver/image/glance-wire';
import type { ImageRecord } from '../driver/image/image-service';
import { LocalImageStore } from '../driver/image/local-image-store';
import { cgroupPids, detectCgroupLayout, planCgroups } from '../driver/runtime/cgroups';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { createVhost, rabbitmqctl, stopProcess } from './compute-harness';
import { announcedUrl, assertRunning, spawnBerth, writeConfig } from './fixtures/berth-processes';
import { uploadImageAndFlavor } from './fixtures/network-cloud';
import { needsRoot, tempStateDir, waitFor, runName } from './harness';

const REPORT_INTERVAL = 2;
/** service_down_time's default: two missed heartbeats. */
const DOWN_AFTER_MS = 2 * REPORT_INTERVAL * 1000;
const ADMIN = 'admin:admin';
const USER = 'demo:demo';
const COMMAND = 'sleep 3600';

interface Node {
  host: string;
  stateDir: string;
  cgroupParent: string;
  configFile: string;
  child?: ChildProcess;
}

interface Server {
  id: string;
  name: string;
  status: string;
  'OS-EXT-SRV-ATTR:host': string | null;
  fault?: { message: string };
}

function countByHost(servers: Server[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of servers) {
    const host = String(s['OS-EXT-SRV-ATTR:host']);
    counts[host] = (counts[host] ?? 0) + 1;
  }
  return counts;
}

function assertActive(servers: Server[]): void {
  const failed = servers.filter((s) => s.status !== 'ACTIVE');
  assert.deepEqual(
    failed.map((s) => `${s.name} ${s.status}: ${s.fault?.message ?? ''}`),
    [],
    'servers not ACTIVE',
  );
}

describe('one berth api, three berth computes', { skip: needsRoot() }, () => {
  const vhost = runName('multi');
  const root = tempStateDir('multi');
  const nodes: Node[] = ['a', 'b', 'c'].map((name) => {
    const tag = runName(`multi-${name}`);
    return {
      host: tag,
      stateDir: path.join(root, name),
      cgroupParent: tag,
      configFile: path.join(root, `compute-${name}.conf`),
    };
  });
  const victim = nodes[2];
  let transportUrl: string;
  let api: ChildProcess | undefined;
  let url: string;
  let request: TestApi['request'];
  let imageId: string;
  let image: ImageRecord;
  let flavorId: string;

  const processesRunning = () => {
    if (api) assertRunning(api, 'berth api');
    for (const n of nodes) if (n.child) assertRunning(n.child, `berth compute ${n.host}`);
  };

  async function servers(query = ''): Promise<Server[]> {
    const r = await request('GET', `/v2.1/servers/detail?all_tenants=1${query}`, { token: ADMIN });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.servers as Server[];
  }

  /** Every server named `prefix…` once none is in BUILD any more. */
  function settled(prefix: string, count: number, timeoutMs = 40000): Promise<Server[]> {
    return waitFor(
      `${count} servers ${prefix}* built`,
      async () => {
        processesRunning();
        const list = await servers(`&name=${encodeURIComponent(`^${prefix}`)}`);
        return list.length === count && list.every((s) => s.status !== 'BUILD') ? list : undefined;
      },
      timeoutMs,
    );
  }

  async function createServers(name: string, extra: Record<string, unknown> = {}) {
    const r = await request('POST', '/v2.1/servers', {
      token: USER,
      body: { server: { name, imageRef: imageId, flavorRef: flavorId, ...extra } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.server.id as string;
  }

  async function serviceStates(): Promise<Record<string, string>> {
    const r = await request('GET', '/v2.1/os-services?binary=nova-compute', { token: ADMIN });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return Object.fromEntries(
      (r.body.services as { host: string; state: string }[]).map((s) => [s.host, s.state]),
    );
  }

  async function startNode(node: Node): Promise<void> {
    node.child = spawnBerth('compute', node.configFile);
    await waitFor(
      `${node.host} up`,
      async () => {
        processesRunning();
        return (await serviceStates())[node.host] === 'up';
      },
      20000,
    );
  }

  before(async () => {
    transportUrl = createVhost(vhost);
    const common = {
      transport_url: transportUrl,
      report_interval: REPORT_INTERVAL,
      log_level: 'warn',
    };
    const apiConfig = writeConfig(path.join(root, 'api.conf'), {
      // Three hosts of this machine's CPUs must take 30 one-vCPU servers with room to spare.
      DEFAULT: {
        ...common,
        host: runName('multi-api'),
        state_path: path.join(root, 'api'),
        cpu_allocation_ratio: 32,
      },
      api: { listen: '127.0.0.1:0' },
      quota: { instances: -1, cores: -1, ram: -1 },
    });
    api = spawnBerth('api', apiConfig);
    // The computes' [glance] api_servers names the port the kernel gave the api.
    url = await announcedUrl(api, 'compute API');
    request = apiClient(url);
    for (const node of nodes)
      writeConfig(node.configFile, {
        DEFAULT: { ...common, host: node.host, state_path: node.stateDir },
        compute: {
          status_listen: '127.0.0.1:0',
          cgroup_parent: node.cgroupParent,
          stop_timeout: 1,
        },
        glance: { api_servers: `${url}/image` },
      });

    ({ imageId, flavorId } = await uploadImageAndFlavor(request, url, {
      image: 'busybox',
      flavor: `it.${vhost}`,
      properties: { os_command_line: COMMAND },
    }));
    const shown = await request('GET', `/image/v2/images/${imageId}`, { token: ADMIN });
    image = fromGlanceImage(shown.body);
    assert.deepEqual([image.status, image.properties.os_command_line], ['active', COMMAND]);

    await Promise.all(nodes.map((n) => startNode(n)));
  });

  after(async () => {
    // Whatever a failed test left: processes, containers and their monitors, the vhost, files.
    for (const n of nodes) await stopProcess(n.child);
    await stopProcess(api);
    await Promise.all(nodes.filter(leftBehind).map((n) => shutDownMonitor(n)));
    rabbitmqctl('delete_vhost', vhost);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('30 servers spread evenly over three hosts, all reported up', async (t) => {
    const started = Date.now();
    // One request: its instances are scheduled one after another, each
    // seeing the claims of those before it.
    await createServers('spread', { min_count: 30, max_count: 30 });
    const built = await settled('spread-', 30);
    t.diagnostic(`30 servers ACTIVE in ${Date.now() - started} ms`);
    assertActive(built);
    // Equal hosts weigh by free RAM and vCPUs, so each claim goes to the
    // least-loaded host (ties by name): round robin.
    assert.deepEqual(countByHost(built), Object.fromEntries(nodes.map((n) => [n.host, 10])));
    // Each host fetched the image from the API's image endpoint into its own store.
    for (const n of nodes) {
      const cached = await new LocalImageStore(path.join(n.stateDir, 'images')).show(imageId);
      assert.equal(cached.os_hash_value, image.os_hash_value, n.host);
    }

    const hypervisors = await waitFor('running_vms reported', async () => {
      const r = await request('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
      const list = r.body.hypervisors as {
        hypervisor_hostname: string;
        state: string;
        status: string;
        running_vms: number;
      }[];
      return list.every((h) => h.running_vms === 10) ? list : undefined;
    });
    assert.deepEqual(
      hypervisors.map((h) => [h.hypervisor_hostname, h.state, h.status]).sort(),
      nodes.map((n) => [n.host, 'up', 'enabled']),
    );
  });

  test('anti-affinity: three members on three hosts, a fourth finds no valid host', async () => {
    const group = await request('POST', '/v2.1/os-server-groups', {
      token: USER,
      version: '2.64',
      body: { server_group: { name: 'apart', policy: 'anti-affinity' } },
    });
    assert.equal(group.status, 200, JSON.stringify(group.body));
    const hints = { 'os:scheduler_hints': { group: group.body.server_group.id } };
    const create = (name: string) =>
      request('POST', '/v2.1/servers', {
        token: USER,
        body: { server: { name, imageRef: imageId, flavorRef: flavorId }, ...hints },
      });
    // Sent together, so the claims (not only the filters) have to keep them apart.
    const replies = await Promise.all(['apart-1', 'apart-2', 'apart-3'].map(create));
    assert.deepEqual(
      replies.map((r) => r.status),
      [202, 202, 202],
    );
    const members = await settled('apart-', 3);
    assertActive(members);
    assert.equal(new Set(members.map((s) => s['OS-EXT-SRV-ATTR:host'])).size, 3);

    assert.equal((await create('fourth')).status, 202);
    const [fourth] = await settled('fourth', 1);
    assert.equal(fourth.status, 'ERROR');
    assert.match(fourth.fault?.message ?? '', /No valid host was found/);
    assert.equal(fourth['OS-EXT-SRV-ATTR:host'], null);
  });

  test('a stopped compute is reported down, keeps its instances, and new servers avoid it', async (t) => {
    const onVictim = await servers(`&host=${victim.host}`);
    assert.equal(onVictim.length, 11);

    const stopping = Date.now();
    await stopProcess(victim.child);
    victim.child = undefined;
    t.diagnostic(`${victim.host} stopped in ${Date.now() - stopping} ms`);
    await waitFor(
      `${victim.host} reported down`,
      async () => (await serviceStates())[victim.host] === 'down',
      DOWN_AFTER_MS + 10000,
    );
    const downAfter = Date.now() - stopping;
    t.diagnostic(`${victim.host} down ${downAfter} ms after SIGTERM`);
    assert.ok(
      // the slack is what polling may lag on a busy host, not a pace
      downAfter <= DOWN_AFTER_MS + 3000,
      `down only after ${downAfter} ms (service_down_time ${DOWN_AFTER_MS} ms)`,
    );
    const states = await serviceStates();
    for (const n of nodes) assert.equal(states[n.host], n === victim ? 'down' : 'up', n.host);
    const hypervisors = await request('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
    const down = hypervisors.body.hypervisors.find(
      (h: { hypervisor_hostname: string }) => h.hypervisor_hostname === victim.host,
    );
    assert.equal(down.state, 'down');

    // The service stopped; its instances did not.
    const still = await servers(`&host=${victim.host}`);
    assert.deepEqual(
      still.map((s) => [s.id, s.status]).sort(),
      onVictim.map((s) => [s.id, 'ACTIVE']).sort(),
    );
    const layout = detectCgroupLayout();
    for (const s of still)
      assert.ok(
        cgroupPids(planCgroups(layout, victim.cgroupParent, s.id, {})).length > 0,
        `${s.name}'s container is not running`,
      );

    await createServers('after', { min_count: 4, max_count: 4 });
    const later = await settled('after-', 4);
    assertActive(later);
    const counts = countByHost(later);
    assert.deepEqual(counts, { [nodes[0].host]: 2, [nodes[1].host]: 2 });
  });

  test('servers on a down host are deleted at once; the host removes them when it is back', async () => {
    const onDown = await servers(`&host=${victim.host}`);
    assert.ok(onDown.length > 0);
    for (const s of onDown) {
      const r = await request('DELETE', `/v2.1/servers/${s.id}`, { token: USER });
      assert.equal(r.status, 204);
      assert.equal((await request('GET', `/v2.1/servers/${s.id}`, { token: USER })).status, 404);
    }
    // The containers still run on the stopped host until it comes back.
    assert.equal(fs.readdirSync(path.join(victim.stateDir, 'containers')).length, onDown.length);
    await startNode(victim);
    await waitFor(
      'the returning host removes the instances deleted while it was away',
      async () => fs.readdirSync(path.join(victim.stateDir, 'containers')).length === 0,
      20000,
    );
  });

  test('deleting every server leaves no container, cgroup, mount or monitor behind', async (t) => {
    const deleting = Date.now();
    const all = await servers();
    // The stopped host's 11 went in the test before.
    assert.equal(all.length, 30 + 3 + 1 + 4 - 11);
    for (const s of all) {
      const r = await request('DELETE', `/v2.1/servers/${s.id}`, { token: USER });
      assert.equal(r.status, 204, `${s.name}: ${JSON.stringify(r.body)}`);
    }
    for (const s of all)
      await waitFor(
        `${s.name} gone`,
        async () => {
          processesRunning();
          return (await request('GET', `/v2.1/servers/${s.id}`, { token: USER })).status === 404;
        },
        30000,
      );
    t.diagnostic(`${all.length} servers deleted in ${Date.now() - deleting} ms`);
    const hypervisors = await waitFor('running_vms back to 0', async () => {
      const r = await request('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
      const list = r.body.hypervisors as { running_vms: number }[];
      return list.every((h) => h.running_vms === 0) ? list : undefined;
    });
    assert.equal(hypervisors.length, 3);

    for (const n of nodes) await stopProcess(n.child);
    await stopProcess(api);
    const layout = detectCgroupLayout();
    const hierarchies = [
      ...new Set([...layout.v1.values(), ...(layout.v2 ? [layout.v2.mount] : [])]),
    ];
    for (const n of nodes) {
      assert.deepEqual(fs.readdirSync(path.join(n.stateDir, 'containers')), [], n.host);
      for (const mount of hierarchies) {
        const parent = path.join(mount, n.cgroupParent);
        const children = fs.existsSync(parent)
          ? fs.readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory())
          : [];
        assert.deepEqual(
          children.map((d) => d.name),
          [],
          `cgroups left under ${parent}`,
        );
      }
    }
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((line) => line.includes(root));
    assert.deepEqual(mounts, []);

    // Containers outlive their compute by design: their monitors stay until told to go.
    await Promise.all(nodes.map((n) => shutDownMonitor(n)));
    await waitFor('monitors gone', () => monitorsOf(root).length === 0);
    for (const mount of hierarchies)
      for (const n of nodes)
        assert.ok(
          !fs.existsSync(path.join(mount, n.cgroupParent)),
          `${n.cgroupParent} in ${mount}`,
        );
  });
});

/** A node whose monitor still runs, or whose containers are still on disk. */
function leftBehind(node: Node): boolean {
  const containers = path.join(node.stateDir, 'containers');
  return (
    monitorsOf(node.stateDir).length > 0 ||
    (fs.existsSync(containers) && fs.readdirSync(containers).length > 0)
  );
}

/** Kills whatever the node's monitor still runs, and the monitor. */
async function shutDownMonitor(node: Node): Promise<void> {
  const rt = await ContainerRuntime.open({
    stateDir: node.stateDir,
    cgroupParent: node.cgroupParent,
  });
  await rt.shutdown();
}

/** pids of berth-monitor processes serving a state directory under `root`. */
function monitorsOf(root: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('berth-monitor') && cmdline.includes(root)) pids.push(Number(entry));
  }
  return pids;
}
