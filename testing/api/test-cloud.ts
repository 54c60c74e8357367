/**
 * A whole cloud in one process for tests: `berth api` (real scheduler,
 * conductor and database, SQLite or PostgreSQL) and compute services on
 * FakeDrivers, all on one FakeTransport — Nova's functional-test shape.
 * Integration tests use the real broker and containers instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import winston from 'winston';
import { berthSchema, type BerthConfig } from '../../config/schema';
import { ComputeService } from '../../driver/compute/service';
import { FakeImageService } from '../driver/fake-image-service';
import type { ImageRecord } from '../../driver/image/image-service';
import { FakeDriver } from '../driver/fake-driver';
import { waitFor } from '../wait-for';
import { FakeTransport } from '../messaging/fake-transport';
import { ApiService } from '../../api/service';
import { withTestDatabase, type TestDatabaseKind } from './test-database';
import { apiClient, noauth2, type TestApi } from './test-api';
import { FakeInstanceNetwork } from './fake-instance-network';
import { FakeVolumeHost } from '../volume/fake-volume-host';

export interface TestCloud extends Omit<TestApi, 'deps' | 'instanceNetwork'> {
  /** the fake network service the cloud's API asks for ports */
  instanceNetwork: FakeInstanceNetwork;
  api: ApiService;
  computes: Map<string, { service: ComputeService; driver: FakeDriver }>;
  image: ImageRecord;
  /** polls GET /servers/{id} until its status is one of `statuses` */
  waitForStatus(id: string, statuses: string[], token?: string): Promise<Record<string, unknown>>;
  stopCompute(host: string): Promise<void>;
}

const TAR_BLOCK = (() => {
  // A one-entry tar header is enough for the fake store to call it an image.
  const b = Buffer.alloc(1024);
  b.write('rootfs/', 0);
  b.write('ustar', 257);
  return b;
})();

export async function startTestCloud(
  o: {
    hosts?: string[];
    /** default sqlite; the database is dropped on close */
    database?: TestDatabaseKind;
    /** instead of `database`: a URL of the caller's, left in place on close */
    connection?: string;
    config?: Partial<Record<keyof BerthConfig, Record<string, unknown>>>;
  } = {},
): Promise<TestCloud> {
  // berth api opens the database by its URL, as it would in production.
  const database =
    o.connection === undefined
      ? await withTestDatabase(o.database ?? 'sqlite')
      : { url: o.connection, drop: async () => undefined };
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cloud-'));
  const base = {
    ...o.config,
    DEFAULT: {
      state_path: state,
      host: 'api',
      report_interval: 1,
      ...o.config?.DEFAULT,
    },
    api: { listen: '127.0.0.1:0', ...o.config?.api },
    compute: { status_listen: '127.0.0.1:0' },
    database: { connection: database.url },
  };
  const configFor = (extra: Record<string, unknown>) =>
    berthSchema.validate({ ...base, DEFAULT: { ...base.DEFAULT, ...extra } }).value as BerthConfig;
  const log = winston.createLogger({ silent: true });
  const transport = new FakeTransport();
  const images = new FakeImageService();
  const created = await images.create({
    name: 'busybox',
    container_format: 'bare',
    disk_format: 'raw',
  } as never);
  const image = await images.upload(created.id, Readable.from([TAR_BLOCK]));
  const computes = new Map<string, { service: ComputeService; driver: FakeDriver }>();
  const instanceNetwork = new FakeInstanceNetwork();
  let api: ApiService | undefined;
  const stopAll = async () => {
    for (const { service } of computes.values()) await service.stop();
    computes.clear();
    await api?.stop();
    await database.drop();
    fs.rmSync(state, { recursive: true, force: true });
  };
  try {
    api = await ApiService.start({
      config: configFor({}),
      log,
      transport,
      images,
      auth: noauth2,
      instanceNetwork,
    });
    for (const host of o.hosts ?? ['node-1']) {
      const driver = new FakeDriver(undefined, images);
      const config = configFor({ host, state_path: path.join(state, host) });
      const service = await ComputeService.start({ config, log, transport, driver, images });
      computes.set(host, { service, driver });
    }
    // Computes are candidates once their first heartbeat is committed.
    const db = api.deps.db;
    await waitFor('the first heartbeat of every compute', async () => {
      const n = await db('compute_nodes').count({ n: '*' }).first();
      return Number(n?.n) >= computes.size;
    });
  } catch (err) {
    await stopAll();
    throw err;
  }

  const request = apiClient(api.url);

  return {
    api,
    computes,
    image,
    transport,
    instanceNetwork,
    url: api.url,
    request,
    waitForStatus(id, statuses, token) {
      return waitFor(
        `server ${id} ${statuses.join('/')}`,
        async () => {
          const r = await request('GET', `/v2.1/servers/${id}`, { token });
          if (r.status === 404 && statuses.includes('DELETED')) return {};
          if (r.status === 200 && statuses.includes(r.body.server.status)) return r.body.server;
          return undefined;
        },
        undefined,
        10,
      );
    },
    async stopCompute(host) {
      await computes.get(host)?.service.stop();
      computes.delete(host);
    },
    close: stopAll,
  };
}

/**
 * A test cloud whose compute node-1 also holds volumes (a FakeVolumeHost),
 * with demo's volume quota raised so that a suite is not limited by it.
 */
export async function startVolumeCloud(
  options: Parameters<typeof startTestCloud>[0],
): Promise<{ cloud: TestCloud; volumeHost: FakeVolumeHost }> {
  const cloud = await startTestCloud(options);
  const volumeHost = await new FakeVolumeHost('node-1').serve(cloud.transport);
  const quota = await cloud.request('PUT', '/volume/v3/os-quota-sets/demo', {
    body: { quota_set: { volumes: 50, gigabytes: 100 } },
    token: 'admin:admin',
  });
  if (quota.status !== 200) throw new Error(`volume quota not set: ${JSON.stringify(quota.body)}`);
  return { cloud, volumeHost };
}
