/**
 * berth against Debian's real glance-api (Zed): images uploaded with the
 * unmodified `openstack` CLI to that Glance are booted through `berth api`
 * and `berth compute`, both configured with `[glance] api_servers` listing
 * a dead server first, a loopback proxy that can cut a download part-way,
 * and the Glance itself. A tampered image ends in ERROR with a checksum
 * fault and nothing cached; a cut download resumes with a Range request
 * Glance answers 206. GlanceImageService's snapshot upload (create, then
 * PUT the data) round-trips Nova's snapshot properties through it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test, type TestContext } from 'node:test';
import { apiClient } from '../testing/api/test-api';
import { GlanceImageService } from '../driver/image/glance-image-service';
import { LocalImageStore } from '../driver/image/local-image-store';
import { cleanUpNode, createVhost, stopProcess } from './compute-harness';
import { announcedUrl, spawnBerth, writeConfig } from './fixtures/berth-processes';
import { glanceMissing, LocalGlance } from './fixtures/glance';
import { OPENSTACK, runOsc } from './fixtures/osc';
import { imageTar, needsRoot, runName, tempStateDir, waitFor } from './harness';

const ADMIN = 'admin:admin';
const WORKLOAD = '/bin/sh -c "echo berth-glance-$(hostname); exec sleep 100000"';

const skip =
  needsRoot() ??
  glanceMissing() ??
  (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing: install python3-openstackclient`);

/**
 * Forwards HTTP to Glance; the first download of an image named by
 * `cut` ends after `cutAfter` bytes, as a dropped connection does.
 */
class CuttingProxy {
  url = '';
  cut = new Map<string, number>();
  readonly cutDone: string[] = [];
  private readonly server = http.createServer((req, res) => this.forward(req, res));

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse) {
    const target = new URL(req.url!, this.target);
    const id = /^\/v2\/images\/([^/]+)\/file$/.exec(req.url!)?.[1];
    const cutAfter = id && req.method === 'GET' ? this.cut.get(id) : undefined;
    const upstream = http.request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode!, up.headers);
        if (cutAfter === undefined) return up.pipe(res);
        this.cut.delete(id!);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= cutAfter) return;
          const part = chunk.subarray(0, cutAfter - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cutAfter) {
            this.cutDone.push(id!);
            up.destroy();
            res.socket?.destroy();
          }
        });
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}

async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('berth with a real Glance', { skip, concurrency: false }, () => {
  const tag = runName('glance');
  const dir = tempStateDir('glance');
  const stateDir = path.join(dir, 'compute');
  const node = { host: tag, stateDir, cgroupParent: tag, url: '' };
  const cloudsFile = path.join(dir, 'clouds.yaml');
  const glance = new LocalGlance(path.join(dir, 'glance'));
  let proxy: CuttingProxy;
  let api: ChildProcess | undefined;
  let compute: ChildProcess | undefined;
  let request: ReturnType<typeof apiClient>;

  before(
    async () => {
      const started = Date.now();
      await glance.start();
      console.log(`glance-api up in ${Date.now() - started} ms (db_sync included)`);
      proxy = await new CuttingProxy(glance.url).start();
      const dead = await deadUrl();
      node.url = createVhost(tag);
      const common = {
        host: tag,
        transport_url: node.url,
        report_interval: 2,
        service_down_time: 20,
        log_level: 'warn',
      };
      const apiConf = writeConfig(path.join(dir, 'api.conf'), {
        DEFAULT: { ...common, state_path: path.join(dir, 'api') },
        api: { listen: '127.0.0.1:0' },
        glance: { api_servers: `${dead},${glance.url}` },
      });
      const computeConf = writeConfig(path.join(dir, 'compute.conf'), {
        DEFAULT: { ...common, state_path: stateDir },
        compute: {
          status_listen: '127.0.0.1:0',
          cgroup_parent: tag,
          stop_timeout: 1,
          default_command: JSON.stringify(WORKLOAD),
        },
        glance: { api_servers: `${dead},${proxy.url},${glance.url}` },
      });
      api = spawnBerth('api', apiConf);
      const url = await announcedUrl(api, 'compute API');
      request = apiClient(url);
      compute = spawnBerth('compute', computeConf);
      await announcedUrl(compute, 'status API');
      fs.writeFileSync(
        cloudsFile,
        [
          'clouds:',
          '  berth:',
          '    auth_type: admin_token',
          '    auth:',
          `      endpoint: ${url}/v2.1`,
          `      token: ${ADMIN}`,
          `    compute_endpoint_override: ${url}/v2.1`,
          `    image_endpoint_override: ${glance.url}`,
          '',
        ].join('\n'),
      );
      await waitFor(
        'the compute node to report',
        async () => {
          const r = await request('GET', '/v2.1/os-hypervisors/detail', { token: ADMIN });
          return r.body.hypervisors?.some((h: { state: string }) => h.state === 'up');
        },
        30_000,
        100,
      );
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      const list = async () =>
        ((await request?.('GET', '/v2.1/servers?all_tenants=1', { token: ADMIN }))?.body.servers ??
          []) as { id: string }[];
      for (const s of await list().catch(() => []))
        await request('DELETE', `/v2.1/servers/${s.id}`, { token: ADMIN });
      await waitFor('servers deleted', async () => (await list()).length === 0, 30_000, 100).catch(
        () => undefined,
      );
      await stopProcess(compute);
      await stopProcess(api);
      await proxy?.close();
      await glance.stop();
      if (node.url) await cleanUpNode(node, tag);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  const osc = async (t: TestContext, args: string[]) => {
    const r = await runOsc(t, cloudsFile, [...args, '-f', 'json'], { cloud: 'berth' });
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}\n${glance.logTail(20)}`);
    return JSON.parse(r.stdout);
  };

  async function uploadImage(t: TestContext, name: string, file: string): Promise<string> {
    const image = await osc(t, [
      'image',
      'create',
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--public',
      '--file',
      file,
      name,
    ]);
    await waitFor('image active in Glance', async () => {
      const res = await fetch(`${glance.url}/v2/images/${image.id}`);
      return ((await res.json()) as { status: string }).status === 'active';
    });
    return image.id as string;
  }

  /** `server create --wait` fails on ERROR: create without it, then wait for a settled status. */
  async function boot(t: TestContext, name: string, image: string) {
    const server = await osc(t, [
      'server',
      'create',
      '--flavor',
      'b1.nano',
      '--image',
      image,
      name,
    ]);
    return waitFor(
      `server ${name} to settle`,
      async () => {
        const { body } = await request('GET', `/v2.1/servers/${server.id}`, { token: ADMIN });
        const s = body.server;
        return s && ['ACTIVE', 'ERROR'].includes(s.status) && s['OS-EXT-STS:task_state'] === null
          ? s
          : undefined;
      },
      60_000,
      100,
    );
  }

  async function consoleShows(t: TestContext, id: string, line: RegExp): Promise<void> {
    await waitFor(`console of ${id}`, async () => {
      const r = await runOsc(t, cloudsFile, ['console', 'log', 'show', id], { cloud: 'berth' });
      return r.code === 0 && line.test(r.stdout);
    });
  }

  const cached = () =>
    new LocalImageStore(path.join(stateDir, 'images')).list().then((l) => l.map((r) => r.id));

  test('a gzip rootfs tar uploaded with the openstack CLI boots; the dead server is passed over', async (t) => {
    const gz = path.join(dir, 'busybox.tar.gz');
    execFileSync('sh', ['-c', `gzip -c ${imageTar} > ${gz}`]);
    const id = await uploadImage(t, `${tag}-gz`, gz);
    const server = await osc(t, [
      'server',
      'create',
      '--flavor',
      'b1.nano',
      '--image',
      `${tag}-gz`,
      '--wait',
      `${tag}-gz-vm`,
    ]);
    assert.equal(server.status, 'ACTIVE');
    await consoleShows(t, server.id, /^berth-glance-/m);
    assert.ok((await cached()).includes(id));
  });

  test('a plain rootfs tar from Glance boots', async (t) => {
    const id = await uploadImage(t, `${tag}-plain`, imageTar);
    const server = await boot(t, `${tag}-plain-vm`, id);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));
    await consoleShows(t, server.id, /^berth-glance-/m);
  });

  test('a download cut part-way resumes with Range (Glance answers 206)', async (t) => {
    const id = await uploadImage(t, `${tag}-resume`, imageTar);
    const before = glance.rangedRequests().length;
    proxy.cut.set(id, 300_000);
    const server = await boot(t, `${tag}-resume-vm`, id);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));
    assert.deepEqual(proxy.cutDone, [id], 'the proxy cut the first download');
    const ranged = glance.rangedRequests().slice(before);
    assert.ok(
      ranged.some((l) => l.includes(`/v2/images/${id}/file`)),
      `no 206 for ${id} in Glance's log`,
    );
  });

  test("data tampered in Glance's store: ERROR with a checksum fault, nothing cached", async (t) => {
    const id = await uploadImage(t, `${tag}-tampered`, imageTar);
    const file = glance.dataFile(id);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 600] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const server = await boot(t, `${tag}-tampered-vm`, id);
    assert.equal(server.status, 'ERROR');
    assert.match(server.fault?.message ?? '', /checksum/);
    assert.ok(!(await cached()).includes(id), 'the tampered image is not in the compute store');
  });

  test("a snapshot record with Nova's properties round-trips through GlanceImageService", async () => {
    const service = new GlanceImageService({ endpoint: glance.url });
    const layers = JSON.stringify([
      { digest: `sha256:${'a'.repeat(64)}`, size: 1, mediaType: 'x', diffId: 'y' },
    ]);
    const created = await service.create({
      name: `${tag}-snap`,
      container_format: 'bare',
      disk_format: 'raw',
      properties: {
        image_type: 'snapshot',
        instance_uuid: randomUUID(),
        base_image_ref: randomUUID(),
        berth_layers: layers,
      },
      config: { cmd: ['/bin/sh'] },
    });
    assert.equal(created.status, 'queued');
    const data = fs.readFileSync(imageTar);
    const active = await service.upload(created.id, Readable.from([data]));
    assert.equal(active.status, 'active');
    assert.equal(active.size, data.length);
    const back = await service.show(created.id);
    assert.equal(back.properties.image_type, 'snapshot');
    assert.equal(back.properties.berth_layers, layers);
    assert.equal(back.properties.base_image_ref, created.properties.base_image_ref);
    assert.deepEqual(back.config, { cmd: ['/bin/sh'] });
    const got = await service.download(created.id);
    assert.ok(got && (await buffer(got.stream)).equals(data));
  });
});
