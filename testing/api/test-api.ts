/**
 * An API wired for unit tests: a fresh database (in-memory SQLite, or a
 * throwaway PostgreSQL one), the fake transport and image service, a
 * listening server on an ephemeral port, and a small client that speaks
 * as a given project. `describeEachDatabase` runs a suite on both
 * databases.
 */
import type { AddressInfo } from 'node:net';
import { describe } from 'node:test';
import winston from 'winston';
import { berthSchema, type BerthConfig } from '../../config/schema';
import { FakeImageService } from '../driver/fake-image-service';
import { imagesFor } from '../../api/image/external-glance';
import type { ImageService } from '../../driver/image/image-service';
import { FakeTransport } from '../messaging/fake-transport';
import { createApiApp } from '../../api/app';
import type { Authenticator } from '../../api/auth/authenticator';
import { noauth2Credentials } from '../../api/auth/noauth2';
import { BuildCoordinator } from '../../api/conductor/build';
import { TransportComputeRpcAPI, type ComputeRpcAPI } from '../../api/compute-rpc';
import { postgresUnavailableSync, withTestDatabase, type TestDatabaseKind } from './test-database';
import type { ApiDeps } from '../../api/deps';
import type { GlanceImageService } from '../../driver/image/glance-image-service';
import { Superseded, type ScheduleRequest, type Scheduler } from '../../api/scheduler/scheduler';
import { ensurePublicNetwork } from '../../api/network/bootstrap';
import { InstancePorts } from '../../api/network/instance-ports';
import { NetworkService } from '../../api/network/network-service';
import { FakeInstanceNetwork } from './fake-instance-network';
import { TransportVolumeRpcAPI } from '../../api/volume/volume-rpc';
import { VolumeService } from '../../api/volume/volume-service';

export const DATABASE_KINDS: readonly TestDatabaseKind[] = ['sqlite', 'postgresql'];

/** Why suites on `kind` are skipped: PostgreSQL's, when its server does not answer. */
function skipOn(kind: TestDatabaseKind): string | undefined {
  return kind === 'postgresql' ? postgresUnavailableSync() : undefined;
}

/**
 * A drop-in for a file's `describe(title, …)`: the suite once per database
 * kind, which it passes on to startTestApi or startTestCloud. A broken
 * migration or query on PostgreSQL fails like any other; only an
 * unreachable server skips, saying so.
 */
export function describeEachDatabase(title: string, suite: (kind: TestDatabaseKind) => void): void {
  for (const kind of DATABASE_KINDS)
    describe(`${title} (${kind})`, { skip: skipOn(kind) }, () => suite(kind));
}

export const noauth2: Authenticator = { authenticate: async (t) => noauth2Credentials(t) };

export interface TestApi {
  deps: ApiDeps;
  transport: FakeTransport;
  /** the network service the API asks for ports */
  instanceNetwork: FakeInstanceNetwork | undefined;
  url: string;
  /** fetch as `token` (default "demo:demo"); `version` sets both microversion headers */
  request(
    method: string,
    path: string,
    o?: {
      body?: unknown;
      token?: string | null;
      version?: string;
      headers?: Record<string, string>;
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index response bodies freely
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** A TestApi-style `request` for an API at `url` (this process's, or a `berth api` child's). */
export function apiClient(url: string): TestApi['request'] {
  return async (method, path, r = {}) => {
    const headers: Record<string, string> = { accept: 'application/json', ...r.headers };
    if (r.token !== null) headers['x-auth-token'] = r.token ?? 'demo:demo';
    if (r.version) {
      headers['x-openstack-nova-api-version'] = r.version;
      headers['openstack-api-version'] = `compute ${r.version}`;
    }
    let body: string | undefined;
    if (r.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

export async function startTestApi(
  o: {
    config?: Partial<Record<keyof BerthConfig, Record<string, unknown>>>;
    images?: ImageService;
    /** an external Glance: image lookups go there as the caller, /image is not served */
    glance?: GlanceImageService;
    scheduler?: Scheduler;
    compute?: ComputeRpcAPI;
    instanceNetwork?: FakeInstanceNetwork;
    /** default sqlite; the database is dropped on close */
    database?: TestDatabaseKind;
    auth?: Authenticator;
  } = {},
): Promise<TestApi> {
  const { value: config } = berthSchema.validate({
    DEFAULT: { state_path: '/tmp/berth-api-test', host: 'api-test' },
    ...o.config,
  });
  const database = await withTestDatabase(o.database ?? 'sqlite');
  const transport = new FakeTransport();
  const log = winston.createLogger({ silent: true });
  const network = new NetworkService(database.db, config as BerthConfig, log);
  await ensurePublicNetwork(network);
  network.announceOn(transport);
  // A test that brings a fake network sees its calls; the others get the real service.
  const instanceNetwork = o.instanceNetwork;
  const parts = {
    instanceNetwork: instanceNetwork ?? new InstancePorts(network),
    config: config as BerthConfig,
    db: database.db,
    log,
    images: o.images ?? o.glance ?? new FakeImageService(),
    glance: o.glance,
    compute: o.compute ?? new TransportComputeRpcAPI(transport),
    scheduler: o.scheduler ?? {
      // Every instance goes to node-1, placed as the seam requires (in one transaction).
      selectAndClaim: async (req: ScheduleRequest) => {
        const placed = req.place
          ? await database.db.transaction((trx) => req.place!(trx, 'node-1'))
          : true;
        if (!placed) throw new Superseded(req.instanceUuid);
        return 'node-1';
      },
      release: async () => undefined,
    },
  };
  const volumes = new VolumeService(
    database.db,
    new TransportVolumeRpcAPI(transport),
    config as BerthConfig,
    log,
    (ctx) => imagesFor(parts, ctx),
  );
  const builds = new BuildCoordinator({ ...parts, volumes });
  const deps: ApiDeps = { ...parts, builds, network, volumes };
  const server = createApiApp(deps, o.auth ?? noauth2).listen(0, '127.0.0.1');
  try {
    await new Promise((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await database.drop();
    throw err;
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    deps,
    transport,
    instanceNetwork,
    url,
    request: apiClient(url),
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await deps.builds.drain();
      await deps.volumes.drain();
      await database.drop();
    },
  };
}
