// The images benchmark: what getting an image onto a host costs berth, next
// to skopeo (containers/image, what Podman and CRI-O pull with) on the same
// image from the same registry in the same run.
//
// - cold pull: a locally built ~200 MB image of 6 gzip layers (busybox plus
//   random data) from docker-registry on 127.0.0.1, berth's RegistryClient +
//   pullImage into a fresh BlobStore against `skopeo copy docker://… oci:DIR`
//   into a fresh directory, alternating who goes first;
// - warm boot: ContainerDriver.spawn of an image whose layers are cached, to
//   running, against the runtime alone starting the same layers;
// - 20 concurrent pulls of one uncached image into one host cache (what 20
//   builds on a host do at the blob level): total time and bytes the registry
//   served, against 20 concurrent skopeo copies;
// - snapshot of an instance with a 100 MB and a 1 GB writable layer: frozen
//   and total ms of the driver's snapshot, against pausing the workload for a
//   whole tar of its writable layer (docker commit's default --pause).
//
// A scenario whose parts are not in this tree (the registry client, the
// driver's snapshot) says so instead of measuring; one that fails says why.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'winston';
import { createLogger } from '../common/log';
import { UndoStack } from '../common/undo-stack';
import { berthSchema } from '../config/schema';
import { BlobStore } from '../driver/image/cache/blob-store';
import type { ImageService } from '../driver/image/image-service';
import { LocalImageStore } from '../driver/image/local-image-store';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { containerPaths } from '../driver/runtime/spec';
import { ContainerDriver } from '../driver/virt/container-driver';
import type { ImageMeta, InstanceSpec } from '../nova/instance-object';
import { type BuiltImage, buildOciLayout } from './fixtures/oci-layout';
import { type BenchRegistry, registryMissing, startRegistry } from './fixtures/registry';
import { hostLeftovers, mountsUnder } from './leftovers';
import { ratio, summarize, type Summary } from './stats';

export interface ImagesOptions {
  /** timed cold pulls per side, and warm boots */
  repetitions: number;
  /** pulls (and skopeo copies) at once in the crowd scenario */
  concurrent: number;
  /** MiB of random data in the image, spread over `layers` layers */
  imageMb: number;
  layers: number;
  /** MiB of the writable layers snapshotted */
  snapshotMb: number[];
  /** berth's parallel blob downloads; [registry] max_concurrent_downloads's default when absent */
  downloads?: number;
  /** the scenarios to run (all when absent): cold-pull, concurrent, warm-boot, snapshot */
  scenarios?: Set<string>;
  signal: AbortSignal;
}

export const IMAGE_SCENARIOS = ['cold-pull', 'concurrent', 'warm-boot', 'snapshot'];

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
const BUILD = path.resolve(__dirname, '..', '..', 'build', 'images');
const BASE_TAR = path.join(BUILD, 'busybox.tar');
const CGROUP_PARENT = 'berth-bench-images';
const REPO = 'bench/images';
const TAG = 'v1';
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; echo booted; while :; do sleep 1 & wait $!; done'];
const SKOPEO = 'skopeo';

interface Side {
  samples: number[];
  summary?: Summary;
}

interface Crowd {
  pulls: number;
  totalMs: number;
  bytesFetched: number;
  /** the most GETs any one blob got */
  maxGetsPerBlob: number;
}

interface Snapshot {
  writableMb: number;
  frozenMs: number;
  totalMs: number;
  /** the peer: paused for a whole tar of the writable layer */
  pauseTarMs?: number;
}

interface Report {
  imageBytes?: number;
  /** berth's parallel blob downloads */
  downloads?: number;
  layers?: number;
  coldPull: Map<string, Side>;
  warmBoot: Map<string, Side>;
  warmImage?: string;
  crowd: Map<string, Crowd>;
  snapshots: Snapshot[];
  unavailable: Record<string, string>;
  failed: Record<string, string>;
}

// ---- the registry client, loaded by name ----

interface PullClient {
  resolve(ref: unknown): Promise<unknown>;
  /** its keep-alive sockets, closed once a pull is done */
  close?(): void;
}
interface RegistryModules {
  /** berth's parallel blob downloads, as the client is made */
  downloads: number;
  client(log: Logger, insecure: string): PullClient;
  pull(client: PullClient, ref: unknown, blobs: BlobStore): Promise<unknown>;
  reference(text: string): unknown;
}

/**
 * The registry helper's driver/image/registry, required by name so that
 * this benchmark builds (and measures skopeo) on a tree without it.
 */
function loadRegistry(downloads: number | undefined): RegistryModules | string {
  try {
    /* eslint-disable @typescript-eslint/no-require-imports -- optional until the registry client is on main */
    const c = require('../driver/image/registry/registry-client');
    const p = require('../driver/image/registry/pull');
    const r = require('../driver/image/registry/reference');
    /* eslint-enable @typescript-eslint/no-require-imports */
    if (
      typeof c.RegistryClient !== 'function' ||
      typeof p.pullImage !== 'function' ||
      typeof r.parseReference !== 'function'
    )
      return 'driver/image/registry lacks RegistryClient, pullImage or parseReference';
    const defaults = (berthSchema.validate({}).value as { registry?: Record<string, unknown> })
      .registry;
    const configured = defaults?.max_concurrent_downloads;
    const limit = downloads ?? (typeof configured === 'number' ? configured : 3);
    return {
      downloads: limit,
      client: (log, insecure) =>
        new c.RegistryClient({
          insecureRegistries: [insecure],
          maxConcurrentDownloads: limit,
          log,
        }),
      pull: (client, ref, blobs) => p.pullImage(client, ref, blobs),
      reference: (text) => r.parseReference(text),
    };
  } catch {
    return 'driver/image/registry is not built in this tree';
  }
}

async function skopeoMissing(): Promise<string | undefined> {
  return execFileAsync(SKOPEO, ['--version']).then(
    () => undefined,
    () => 'skopeo not installed (Debian package skopeo)',
  );
}

function skopeo(args: string[]): Promise<unknown> {
  // --insecure-policy: the host's signature policy is not what is measured.
  return execFileAsync(SKOPEO, ['--insecure-policy', ...args], { maxBuffer: 16 * MIB });
}

const elapsed = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

async function timed(f: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await f();
  return elapsed(start);
}

// ---- the benchmark ----

export async function imagesBenchmark(opts: ImagesOptions): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the images benchmark must run as root');
  await access(BASE_TAR).catch(() => {
    throw new Error(`test image missing (${BASE_TAR}); run scripts/build.sh`);
  });
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-images-'));
  const log = createLogger({ level: 'error', json: false });
  const cleanup = new UndoStack(log);
  const report: Report = {
    coldPull: new Map(),
    warmBoot: new Map(),
    crowd: new Map(),
    snapshots: [],
    unavailable: {},
    failed: {},
  };
  const wanted = (name: string) => !opts.scenarios || opts.scenarios.has(name);
  const attempt = async (scenario: string, f: () => Promise<void>) => {
    opts.signal.throwIfAborted();
    try {
      await f();
    } catch (err) {
      if (opts.signal.aborted) throw err;
      report.failed[scenario] = err instanceof Error ? err.message : String(err);
    }
  };
  const left: string[] = [];
  try {
    const registryModules = loadRegistry(opts.downloads);
    const noRegistry = (await registryMissing()) ?? (await skopeoMissing());
    let registry: BenchRegistry | undefined;
    let image: BuiltImage | undefined;
    const registryScenarios = wanted('cold-pull') || wanted('concurrent');
    if (noRegistry) report.unavailable['registry scenarios'] = noRegistry;
    else if (registryScenarios || wanted('warm-boot'))
      await attempt('image build and push', async () => {
        image = await buildImage(work, opts);
        report.imageBytes = image.totalBytes;
        report.layers = image.layers.length;
        if (!registryScenarios) return;
        const started = await startRegistry(path.join(work, 'registry'));
        cleanup.push('stop docker-registry', () => started.stop());
        registry = started;
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          `oci:${image.dir}:${TAG}`,
          `docker://${registry.host}/${REPO}:${TAG}`,
        ]);
      });
    if (typeof registryModules === 'string') report.unavailable['berth pull'] = registryModules;
    else report.downloads = registryModules.downloads;
    if (registry && image) {
      const [r, i] = [registry, image];
      if (wanted('cold-pull'))
        await attempt('cold pull', () => coldPull(report, r, registryModules, work, log, opts));
      if (wanted('concurrent'))
        await attempt('concurrent pulls', () =>
          crowdPull(report, r, i, registryModules, work, log, opts),
        );
    }
    if (wanted('warm-boot') || wanted('snapshot')) {
      const host = await DriverHost.open(path.join(work, 'state'), cleanup);
      if (wanted('warm-boot'))
        await attempt('warm boot', () => warmBoot(report, host, image, work, opts));
      if (wanted('snapshot')) await attempt('snapshot', () => snapshots(report, host, opts));
    }
  } finally {
    await cleanup.rollback();
    left.push(
      ...(await hostLeftovers(path.join(work, 'state'), (c) => c.startsWith(CGROUP_PARENT))),
      ...(await mountsUnder(work)),
    );
    await rm(work, { recursive: true, force: true });
    for (const what of left) console.error(`images: left behind: ${what}`);
  }
  printReport(report, opts);
  if (left.length > 0) throw new Error('the images benchmark did not clean up after itself');
  if (Object.keys(report.failed).length > 0) process.exitCode = 1;
}

async function buildImage(work: string, opts: ImagesOptions): Promise<BuiltImage> {
  // Unequal layers, as real images have: the first data layer is the largest.
  const weights = Array.from({ length: opts.layers }, (_, i) => opts.layers - i);
  const sum = weights.reduce((a, b) => a + b, 0);
  const layerBytes = weights.map((w) => Math.max(1, Math.round((opts.imageMb * w) / sum)) * MIB);
  return buildOciLayout(work, { baseTar: BASE_TAR, layerBytes, cmd: IDLE, tag: TAG });
}

// ---- cold pull ----

async function coldPull(
  report: Report,
  registry: BenchRegistry,
  modules: RegistryModules | string,
  work: string,
  log: Logger,
  opts: ImagesOptions,
): Promise<void> {
  const source = `${registry.host}/${REPO}:${TAG}`;
  const sides: [string, (dest: string) => Promise<unknown>][] = [
    [
      'skopeo copy',
      (dest) =>
        skopeo(['copy', '--src-tls-verify=false', `docker://${source}`, `oci:${dest}:${TAG}`]),
    ],
  ];
  if (typeof modules !== 'string')
    sides.unshift([
      'berth pullImage',
      async (dest) => {
        // A client per pull, as skopeo is a process per copy: no connection outlives its pull.
        const client = modules.client(log, registry.host);
        try {
          await modules.pull(client, modules.reference(source), new BlobStore(dest));
        } finally {
          client.close?.();
        }
      },
    ]);
  for (const [label] of sides) report.coldPull.set(label, { samples: [] });
  // One untimed round first: the registry's files are then in the page cache for both sides.
  for (let rep = -1; rep < opts.repetitions; rep++) {
    // Alternating who goes first, so that neither always meets a warmer host.
    const order = rep % 2 === 0 ? sides : [...sides].reverse();
    for (const [label, pull] of order) {
      opts.signal.throwIfAborted();
      const dest = await mkdtemp(path.join(work, 'pull-'));
      try {
        const ms = await timed(() => pull(path.join(dest, 'store')));
        if (rep >= 0) report.coldPull.get(label)!.samples.push(ms);
      } finally {
        await rm(dest, { recursive: true, force: true });
      }
    }
  }
}

// ---- many pulls of one uncached image at once ----

async function crowdPull(
  report: Report,
  registry: BenchRegistry,
  image: BuiltImage,
  modules: RegistryModules | string,
  work: string,
  log: Logger,
  opts: ImagesOptions,
): Promise<void> {
  const source = `${registry.host}/${REPO}:${TAG}`;
  const dir = await mkdtemp(path.join(work, 'crowd-'));
  try {
    if (typeof modules !== 'string') {
      // One client and one store, as one compute host has.
      const client = modules.client(log, registry.host);
      const blobs = new BlobStore(path.join(dir, 'berth'));
      const ref = modules.reference(source);
      const mark = registry.requests.length;
      const totalMs = await timed(() =>
        Promise.all(
          Array.from({ length: opts.concurrent }, () => modules.pull(client, ref, blobs)),
        ),
      );
      report.crowd.set('berth, one host cache', crowdResult(registry, mark, totalMs, opts));
      const missing = image.layers.filter((l) => !registry.blobFetches(mark).gets.has(l.digest));
      if (missing.length) throw new Error(`berth never fetched ${missing.map((l) => l.digest)}`);
    }
    opts.signal.throwIfAborted();
    const mark = registry.requests.length;
    const totalMs = await timed(() =>
      Promise.all(
        Array.from({ length: opts.concurrent }, (_, i) =>
          skopeo([
            'copy',
            '--src-tls-verify=false',
            `docker://${source}`,
            `oci:${path.join(dir, `skopeo-${i}`)}:${TAG}`,
          ]),
        ),
      ),
    );
    report.crowd.set('skopeo copy, one directory each', crowdResult(registry, mark, totalMs, opts));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function crowdResult(
  registry: BenchRegistry,
  mark: number,
  totalMs: number,
  opts: ImagesOptions,
): Crowd {
  const { bytes, gets } = registry.blobFetches(mark);
  return {
    pulls: opts.concurrent,
    totalMs,
    bytesFetched: bytes,
    maxGetsPerBlob: Math.max(0, ...gets.values()),
  };
}

// ---- the compute side: a ContainerDriver on a state directory of the benchmark's ----

class DriverHost {
  runtime?: ContainerRuntime;
  private constructor(
    readonly stateDir: string,
    readonly images: LocalImageStore,
    readonly driver: ContainerDriver,
  ) {}

  static async open(stateDir: string, cleanup: UndoStack): Promise<DriverHost> {
    await mkdir(stateDir, { recursive: true });
    const images = new LocalImageStore(path.join(stateDir, 'images'));
    const compute = berthSchema.validate({
      compute: { stop_timeout: 5, cgroup_parent: CGROUP_PARENT },
    }).value!.compute;
    let host: DriverHost | undefined = undefined;
    const driver = new ContainerDriver({
      images,
      statePath: stateDir,
      compute,
      logger: createLogger({ level: 'error', json: false }),
      openRuntime: async () =>
        (host!.runtime = await ContainerRuntime.open({ stateDir, cgroupParent: CGROUP_PARENT })),
    });
    host = new DriverHost(stateDir, images, driver);
    await driver.initHost('bench-images');
    cleanup.push('stop the runtime', async () => {
      for (const uuid of await driver.listInstanceUuids())
        await driver.destroy(instanceSpec('', uuid)).catch(() => undefined);
      await driver.cleanupHost();
      const rt = await ContainerRuntime.open({ stateDir, cgroupParent: CGROUP_PARENT });
      await rt.shutdown();
    });
    return host;
  }
}

function instanceSpec(imageRef: string, uuid: string = randomUUID()): InstanceSpec {
  return { uuid, name: 'bench', vcpus: 1, memoryMb: 256, rootGb: 0, imageRef, networkInfo: [] };
}

/** The image's lower directories, through whichever seam this tree has (prepare or layers). */
async function layersOf(images: ImageService, id: string): Promise<string[]> {
  const seam = images as unknown as {
    prepare?: (ref: string) => Promise<{ layers: string[] }>;
    layers?: (ref: string) => Promise<string[]>;
  };
  if (seam.prepare) return (await seam.prepare(id)).layers;
  return seam.layers!(id);
}

/**
 * The bench image as an OCI layout archive when this tree's image store
 * reads those (a 6-layer image), else the busybox rootfs tar.
 */
async function bootImage(
  host: DriverHost,
  image: BuiltImage | undefined,
  work: string,
  report: Report,
): Promise<ImageMeta> {
  if (image) {
    const archive = path.join(work, 'image.oci.tar');
    await execFileAsync('tar', ['-C', image.dir, '-cf', archive, '.']);
    try {
      const record = await host.images.import('bench-layers', archive, { command: IDLE });
      // A store that knows only rootfs tars takes the archive as one, without a /bin/sh.
      if (await hasShell(await layersOf(host.images, record.id))) {
        report.warmImage = `the ${report.layers}-layer bench image (OCI layout archive)`;
        return { id: record.id, name: record.name, properties: {} };
      }
      await host.images.delete(record.id);
      report.warmImage = 'busybox rootfs tar (the image store took the OCI archive for a rootfs)';
    } catch (err) {
      report.warmImage = `busybox rootfs tar (the image store refused an OCI archive: ${(err as Error).message})`;
    } finally {
      await rm(archive, { force: true });
    }
  } else report.warmImage = 'busybox rootfs tar';
  const record = await host.images.import('bench-busybox', BASE_TAR, { command: IDLE });
  return { id: record.id, name: record.name, properties: {} };
}

async function hasShell(layers: string[]): Promise<boolean> {
  for (const layer of layers)
    if (
      await lstat(path.join(layer, 'bin', 'sh')).then(
        () => true,
        () => false,
      )
    )
      return true;
  return false;
}

// ---- warm boot ----

async function warmBoot(
  report: Report,
  host: DriverHost,
  image: BuiltImage | undefined,
  work: string,
  opts: ImagesOptions,
): Promise<void> {
  const meta = await bootImage(host, image, work, report);
  const driver = host.driver;
  const spawnSide: Side = { samples: [] };
  const runtimeSide: Side = { samples: [] };
  report.warmBoot.set('berth driver spawn (cached layers)', spawnSide);
  report.warmBoot.set('runtime alone (same layers)', runtimeSide);
  const layers = await layersOf(host.images, meta.id);
  // The first of each is untimed: it faults in code paths and unpacks what is not cached yet.
  for (let rep = -1; rep < opts.repetitions; rep++) {
    opts.signal.throwIfAborted();
    const instance = instanceSpec(meta.id);
    const ms = await timed(() => driver.spawn(instance, meta));
    await driver.destroy(instance);
    const rt = host.runtime!;
    const id = `bench-${randomUUID().slice(0, 8)}`;
    const raw = await timed(() =>
      rt.run({
        id,
        layers,
        command: IDLE,
        limits: { memoryBytes: 256 * MIB, cpus: 1, cpuShares: 1024, pids: 4096 },
        network: { mode: 'none' },
        consoleLog: { maxBytes: MIB, backups: 1 },
      }),
    );
    await rt.stop(id, 0);
    await rt.delete(id);
    if (rep >= 0) {
      spawnSide.samples.push(ms);
      runtimeSide.samples.push(raw);
    }
  }
}

// ---- snapshot ----

interface SnapshotCapable {
  snapshot(
    instance: InstanceSpec,
    imageId: string,
    updateTaskState: (state: string, expected: string) => Promise<void>,
  ): Promise<{ frozenMs: number; size: number }>;
}

async function snapshots(report: Report, host: DriverHost, opts: ImagesOptions): Promise<void> {
  const driver = host.driver as unknown as Partial<SnapshotCapable>;
  if (typeof driver.snapshot !== 'function') {
    report.unavailable.snapshot = 'ContainerDriver has no snapshot() in this tree';
    return;
  }
  const base = await host.images.import('bench-snapshot-base', BASE_TAR, { command: IDLE });
  const meta = { id: base.id, name: base.name, properties: {} };
  for (const mb of opts.snapshotMb) {
    opts.signal.throwIfAborted();
    const instance = instanceSpec(base.id);
    await host.driver.spawn(instance, meta);
    try {
      const rt = host.runtime!;
      const fill = await rt.exec(instance.uuid, [
        'sh',
        '-c',
        `dd if=/dev/urandom of=/srv-data.bin bs=1M count=${mb} 2>&1 && sync`,
      ]);
      if (fill.code !== 0) throw new Error(`filling the writable layer failed: ${fill.stdout}`);
      const pauseTarMs = await pauseAndTar(rt, host.stateDir, instance.uuid);
      const target = await host.images.create({
        name: `bench-snapshot-${mb}`,
        container_format: 'bare',
        disk_format: 'raw',
      });
      try {
        const start = process.hrtime.bigint();
        const { frozenMs } = await driver.snapshot(instance, target.id, async () => undefined);
        report.snapshots.push({ writableMb: mb, frozenMs, totalMs: elapsed(start), pauseTarMs });
      } finally {
        await host.images.delete(target.id).catch(() => undefined);
      }
    } finally {
      await host.driver.destroy(instance);
    }
  }
}

/** docker commit's way: the workload frozen while its whole writable layer is read into a tar. */
async function pauseAndTar(rt: ContainerRuntime, stateDir: string, uuid: string): Promise<number> {
  const upper = containerPaths(stateDir, uuid).upper;
  const tarFile = path.join(stateDir, `${uuid}.tar`);
  try {
    return await timed(async () => {
      await rt.pause(uuid);
      try {
        await execFileAsync('tar', ['--numeric-owner', '-C', upper, '-cf', tarFile, '.']);
      } finally {
        await rt.unpause(uuid);
      }
    });
  } finally {
    await rm(tarFile, { force: true });
  }
}

// ---- the report ----

function printReport(r: Report, opts: ImagesOptions): void {
  const cell = (n: number) => n.toFixed(1).padStart(10);
  for (const sides of [r.coldPull, r.warmBoot])
    for (const side of sides.values())
      if (side.samples.length) side.summary = summarize(side.samples);
  const ratios: Record<string, Summary> = {};
  const berthPull = r.coldPull.get('berth pullImage')?.summary;
  const skopeoPull = r.coldPull.get('skopeo copy')?.summary;
  if (berthPull && skopeoPull) ratios['cold pull berth/skopeo'] = ratio(berthPull, skopeoPull);
  const spawn = r.warmBoot.get('berth driver spawn (cached layers)')?.summary;
  const raw = r.warmBoot.get('runtime alone (same layers)')?.summary;
  if (spawn && raw) ratios['warm boot driver/runtime alone'] = ratio(spawn, raw);

  const mb = (bytes: number) => (bytes / MIB).toFixed(1);
  if (r.imageBytes)
    console.log(
      `image: ${mb(r.imageBytes)} MiB in ${r.layers} gzip layers, from docker-registry on 127.0.0.1`,
    );
  const table = (title: string, sides: Map<string, Side>) => {
    if (![...sides.values()].some((s) => s.summary)) return;
    console.log(`\n${title}`);
    console.log(`${'side'.padEnd(40)}${'median'.padStart(10)}${'p95'.padStart(10)}`);
    for (const [label, s] of sides)
      if (s.summary)
        console.log(`${label.padEnd(40)}${cell(s.summary.median)}${cell(s.summary.p95)}`);
  };
  const limit = r.downloads ? `, berth ${r.downloads} blobs at a time` : '';
  table(`cold pull into a fresh store (ms, ${opts.repetitions} each${limit})`, r.coldPull);
  table(
    `warm boot to running, from ${r.warmImage ?? 'cache'} (ms, ${opts.repetitions} each)`,
    r.warmBoot,
  );
  if (r.crowd.size) {
    console.log(`\n${opts.concurrent} concurrent pulls of one uncached image`);
    console.log(
      `${'side'.padEnd(40)}${'total ms'.padStart(10)}${'MiB fetched'.padStart(13)}${'max GETs/blob'.padStart(15)}`,
    );
    for (const [label, c] of r.crowd)
      console.log(
        `${label.padEnd(40)}${cell(c.totalMs)}${mb(c.bytesFetched).padStart(13)}${String(c.maxGetsPerBlob).padStart(15)}`,
      );
  }
  if (r.snapshots.length) {
    console.log('\nsnapshot of a running instance (ms)');
    console.log(
      `${'writable layer'.padEnd(20)}${'frozen'.padStart(10)}${'total'.padStart(10)}${'pause+tar (docker commit)'.padStart(28)}`,
    );
    for (const s of r.snapshots)
      console.log(
        `${`${s.writableMb} MiB`.padEnd(20)}${cell(s.frozenMs)}${cell(s.totalMs)}${(s.pauseTarMs === undefined ? '-' : s.pauseTarMs.toFixed(1)).padStart(28)}`,
      );
  }
  console.log('');
  for (const [what, why] of Object.entries(r.unavailable))
    console.log(`${what}: unavailable (${why})`);
  for (const [what, why] of Object.entries(r.failed)) console.log(`${what}: FAILED (${why})`);
  for (const [label, q] of Object.entries(ratios))
    console.log(`${label.padEnd(40)}${q.median.toFixed(2).padStart(10)} (p95 ${q.p95.toFixed(2)})`);

  const round = (n: number, d = 1) => Number(n.toFixed(d));
  const rounded = (s: Summary, d = 1) => ({ median: round(s.median, d), p95: round(s.p95, d) });
  const sides = (m: Map<string, Side>) =>
    Object.fromEntries([...m].flatMap(([k, s]) => (s.summary ? [[k, rounded(s.summary)]] : [])));
  console.log(
    JSON.stringify({
      benchmark: 'images',
      repetitions: opts.repetitions,
      imageBytes: r.imageBytes,
      layers: r.layers,
      downloads: r.downloads,
      coldPullMs: sides(r.coldPull),
      warmBootMs: sides(r.warmBoot),
      warmImage: r.warmImage,
      concurrentPulls: Object.fromEntries(
        [...r.crowd].map(([k, c]) => [k, { ...c, totalMs: round(c.totalMs) }]),
      ),
      snapshots: r.snapshots.map((s) => ({
        writableMb: s.writableMb,
        frozenMs: round(s.frozenMs, 2),
        totalMs: round(s.totalMs),
        pauseTarMs: s.pauseTarMs === undefined ? undefined : round(s.pauseTarMs),
      })),
      ratios: Object.fromEntries(Object.entries(ratios).map(([k, q]) => [k, rounded(q, 3)])),
      unavailable: r.unavailable,
      failed: r.failed,
    }),
  );
}
