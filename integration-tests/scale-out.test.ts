/**
 * The control plane scaled out: three `berth api` processes started
 * together on one new PostgreSQL database and one RabbitMQ vhost, and
 * three `berth compute` processes booting real containers. 300 servers are
 * created, each through an API picked at random; half way, the API holding
 * the conductor lease is killed with SIGKILL right after it accepted a
 * burst. Every server ends ACTIVE with exactly one container, no host is
 * claimed past its capacity, and the lease, with the dead API's unplaced
 * builds, is taken over by a live one.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import knex, { type Knex } from 'knex';
import { knexConfig } from '../api/db/connection';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { emptyPostgresDatabase, postgresUnavailableSync } from '../testing/api/test-database';
import { apiClient, type TestApi } from '../testing/api/test-api';
import { createVhost, rabbitmqctl, stopProcess } from './compute-harness';
import { announcedUrl, assertRunning, spawnBerth, writeConfig } from './fixtures/berth-processes';
import { uploadImageAndFlavor } from './fixtures/network-cloud';
import { needsRoot, runName, tempStateDir, waitFor } from './harness';

const ADMIN = 'admin:admin';
const USER = 'demo:demo';
const SERVERS = 300;
const IN_FLIGHT = 10;
/** accepted by the victim just before it dies, so that some are still unplaced */
const BURST = 10;
const REPORT_INTERVAL = 1;
const SERVICE_DOWN_TIME = 3;
/** vCPUs a host may take: its cores times this; three hosts of two cores take the 310 with a little room */
const CPU_RATIO = 55;

interface Api {
  host: string;
  child?: ChildProcess;
  killed?: boolean;
  url?: string;
  request?: TestApi['request'];
}

interface Node {
  host: string;
  stateDir: string;
  cgroupParent: string;
}

const skip = needsRoot() ?? postgresUnavailableSync();

describe('three berth api on one PostgreSQL, three computes', { skip }, () => {
  const vhost = runName('scale');
  const root = tempStateDir('scale');
  const apis: Api[] = [1, 2, 3].map((n) => ({ host: runName(`scale-api${n}`) }));
  const nodes: Node[] = ['a', 'b', 'c'].map((name) => ({
    host: runName(`scale-${name}`),
    stateDir: path.join(root, name),
    cgroupParent: runName(`scale-${name}`),
  }));
  const computes: ChildProcess[] = [];
  let database: { url: string; drop(): Promise<void> } | undefined;
  let db: Knex;
  let imageId: string;
  let flavorId: string;

  const live = () => apis.filter((a) => !a.killed);
  const processesRunning = () => {
    for (const a of live()) assertRunning(a.child!, `berth api ${a.host}`);
    for (const c of computes) assertRunning(c, 'berth compute');
  };

  before(async () => {
    database = await emptyPostgresDatabase();
    db = knex(knexConfig(database.url));
    const transportUrl = createVhost(vhost);
    const common = {
      transport_url: transportUrl,
      report_interval: REPORT_INTERVAL,
      service_down_time: SERVICE_DOWN_TIME,
      log_level: 'warn',
    };
    // Started together on an empty database: they migrate and seed one at a time.
    for (const api of apis) {
      const config = writeConfig(path.join(root, `${api.host}.conf`), {
        // One state_path: the host's image store, which the embedded Glance serves, is shared.
        DEFAULT: {
          ...common,
          host: api.host,
          state_path: path.join(root, 'api'),
          cpu_allocation_ratio: CPU_RATIO,
        },
        database: { connection: database.url },
        api: { listen: '127.0.0.1:0' },
        quota: { instances: -1, cores: -1, ram: -1 },
      });
      api.child = spawnBerth('api', config);
    }
    for (const api of apis) {
      api.url = await announcedUrl(api.child!, 'compute API');
      api.request = apiClient(api.url);
    }
    const glance = apis.map((a) => `${a.url}/image`).join(',');
    for (const node of nodes) {
      const config = writeConfig(path.join(root, `${node.host}.conf`), {
        DEFAULT: { ...common, host: node.host, state_path: node.stateDir },
        compute: {
          status_listen: '127.0.0.1:0',
          cgroup_parent: node.cgroupParent,
          stop_timeout: 1,
        },
        glance: { api_servers: glance },
      });
      computes.push(spawnBerth('compute', config));
    }

    const request = apis[0].request!;
    ({ imageId, flavorId } = await uploadImageAndFlavor(request, apis[0].url!, {
      image: 'busybox',
      flavor: `it.${vhost}`,
      properties: { os_command_line: 'sleep 3600' },
    }));
    await waitFor(
      'three computes up',
      async () => {
        processesRunning();
        const r = await request('GET', '/v2.1/os-services?binary=nova-compute', { token: ADMIN });
        const up = (r.body.services as { host: string; state: string }[]).filter(
          (s) => nodes.some((n) => n.host === s.host) && s.state === 'up',
        );
        return up.length === 3;
      },
      30000,
    );
  });

  after(async () => {
    for (const c of computes) await stopProcess(c);
    for (const a of apis) await stopProcess(a.child);
    // Containers outlive their compute by design: their monitors end them.
    for (const n of nodes) {
      if (!fs.existsSync(path.join(n.stateDir, 'containers'))) continue;
      const rt = await ContainerRuntime.open({
        stateDir: n.stateDir,
        cgroupParent: n.cgroupParent,
      });
      await rt.shutdown();
    }
    await db?.destroy();
    await database?.drop();
    rabbitmqctl('delete_vhost', vhost);
    fs.rmSync(root, { recursive: true, force: true });
  });

  interface ServerView {
    id: string;
    status: string;
    fault?: { message: string };
  }

  /** Every server, once none is in BUILD and there are at least `count`. */
  function settled(request: TestApi['request'], count: number): Promise<ServerView[]> {
    return waitFor(
      'every server out of BUILD',
      async () => {
        processesRunning();
        const r = await request('GET', '/v2.1/servers/detail?all_tenants=1&limit=1000', {
          token: ADMIN,
        });
        const list = r.body.servers as ServerView[];
        return list.length >= count && list.every((s) => s.status !== 'BUILD') ? list : undefined;
      },
      120000,
    );
  }

  /** POST /servers through `api`, or through a live one when `api` is gone; the new server's id. */
  async function create(name: string, api: Api): Promise<string> {
    for (let target = api; ; target = live()[Math.floor(Math.random() * live().length)]) {
      try {
        const r = await target.request!('POST', '/v2.1/servers', {
          token: USER,
          body: { server: { name, imageRef: imageId, flavorRef: flavorId } },
        });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        return r.body.server.id as string;
      } catch (err) {
        // The victim died with the request open: the client tries another API.
        if (!target.killed) throw err;
      }
    }
  }

  test('300 servers through random APIs, one killed half way: each ACTIVE once, no host over capacity', async (t) => {
    const started = Date.now();
    const accepted = new Map<string, string>();
    let next = 0;
    let victim: Api | undefined;
    let unplacedAtKill: string[] = [];
    const worker = async () => {
      while (next < SERVERS) {
        const i = next++;
        if (i === SERVERS / 2 && !victim) {
          victim = await killLeaseHolder();
          continue;
        }
        const pick = live()[Math.floor(Math.random() * live().length)];
        accepted.set(await create(`so-${i}`, pick), pick.host);
      }
    };
    /** A burst through the lease holder, then SIGKILL the moment its 202s are back. */
    const killLeaseHolder = async (): Promise<Api> => {
      const lease = await db('leases').where({ name: 'conductor' }).first();
      const holder = apis.find((a) => lease.holder.startsWith(`${a.host}:`))!;
      const burst = await Promise.all(
        Array.from({ length: BURST }, (_, k) => create(`so-burst-${k}`, holder)),
      );
      holder.killed = true;
      holder.child!.kill('SIGKILL');
      burst.forEach((id) => accepted.set(id, holder.host));
      unplacedAtKill = await db('instances').whereIn('uuid', burst).whereNull('host').pluck('uuid');
      return holder;
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker()));
    assert.ok(victim, 'no API was killed');
    t.diagnostic(
      `${accepted.size} accepted in ${Date.now() - started} ms; ${victim.host} killed with ` +
        `${unplacedAtKill.length} of its burst of ${BURST} not yet placed`,
    );

    const request = live()[0].request!;
    const servers = await settled(request, accepted.size).catch(async (err: Error) => {
      const stuck = await db('instances')
        .where({ deleted: false })
        .whereNot({ vm_state: 'active' })
        .select('uuid', 'vm_state', 'task_state', 'host', 'updated_at');
      throw new Error(`${err.message}: ${JSON.stringify(stuck)}`);
    });
    t.diagnostic(`all settled ${Date.now() - started} ms after the first POST`);
    // A POST the victim committed but never answered is a server too: it must be ACTIVE as well.
    assert.deepEqual(
      servers
        .filter((s) => s.status !== 'ACTIVE')
        .map((s) => `${s.id} ${s.status} ${s.fault?.message}`),
      [],
    );
    for (const id of accepted.keys())
      assert.ok(
        servers.some((s) => s.id === id),
        `${id} missing`,
      );

    // Exactly once: one container per server, on the host the database names.
    const placed = new Map<string, string>();
    for (const n of nodes)
      for (const id of fs.readdirSync(path.join(n.stateDir, 'containers'))) {
        assert.equal(placed.get(id), undefined, `${id} has containers on two hosts`);
        placed.set(id, n.host);
      }
    assert.equal(placed.size, servers.length);
    const rows = await db('instances').where({ deleted: false }).select('uuid', 'host');
    for (const row of rows) assert.equal(placed.get(row.uuid), row.host, row.uuid);

    // No host past its capacity, and each instance claimed once.
    const cores = (
      await db('compute_nodes').whereIn(
        'host',
        nodes.map((n) => n.host),
      )
    ).map((c: { host: string; vcpus: number }) => [c.host, c.vcpus] as const);
    const allocations = await db('allocations').select('instance_uuid', 'host', 'vcpus');
    assert.equal(new Set(allocations.map((a) => a.instance_uuid)).size, allocations.length);
    assert.equal(allocations.length, servers.length);
    for (const [host, vcpus] of cores) {
      const used = allocations.filter((a) => a.host === host).reduce((n, a) => n + a.vcpus, 0);
      assert.ok(used <= vcpus * CPU_RATIO, `${host}: ${used} vCPUs of ${vcpus * CPU_RATIO}`);
    }

    // The conductor lease is a live API's now.
    const lease = await db('leases').where({ name: 'conductor' }).first();
    assert.ok(
      live().some((a) => lease.holder.startsWith(`${a.host}:`)),
      `lease held by ${lease.holder}`,
    );
  });
});
