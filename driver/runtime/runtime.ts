/**
 * The container runtime as the compute service uses it: containers are
 * created and owned by the host's berth-monitor, so they keep running when
 * this process exits; a new process re-adopts them from the state
 * directory. Each operation reads the same way: look up, guard, act,
 * persist.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'winston';
import { replaceFileSync } from '../../common/atomic-file';
import {
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '../../common/errors';
import { monitorBinary } from '../../native';
import {
  type CgroupLayout,
  type CgroupPlan,
  cgroupPids,
  detectCgroupLayout,
  isFrozen,
  planCgroups,
  readStats,
  removeCgroups,
  removeParents,
  setFrozen,
  type CgroupStats,
  type Limits,
} from './cgroups';
import {
  type ExitStatus,
  growDisk,
  makeContainerDir,
  seedRootFiles,
  prepareStateDir,
  readExitFile,
  readPidFile,
} from './container-dir';
import { DiskTemplates } from './disk-templates';
import { discardDisk, ReadyDisks, unmountDisk } from './ready-disks';
import { type InteractiveExec, startInteractiveExec } from './interactive-exec';
import { type ExitEvent, MonitorClient, MonitorError } from './monitor-client';
import { decodeFault, type Verb } from './monitor-protocol';
import { nativeError } from './native-errors';
import {
  type ContainerConfig,
  type ContainerPaths,
  containerPaths,
  encodeExecSpec,
  encodeSpawnSpec,
  type ExecOptions,
  validateConfig,
  type VolumeMount,
} from './spec';

export type { ExitStatus };

export type ContainerState = 'created' | 'running' | 'paused' | 'exited';

export interface ContainerInfo {
  id: string;
  state: ContainerState;
  pid?: number;
  exit?: ExitStatus;
  config: ContainerConfig;
}

interface Persisted {
  config: ContainerConfig;
  plan: CgroupPlan;
}

interface Entry extends Persisted {
  paths: ContainerPaths;
  pid?: number;
  /** a spawn is in flight: its exit event may arrive before its reply is processed */
  starting?: boolean;
  exit?: ExitStatus;
  waiters: ((status: ExitStatus) => void)[];
}

export interface RuntimeOptions {
  stateDir: string;
  /** parent cgroup name under each hierarchy */
  cgroupParent?: string;
  /** the host's cgroup layout; detected when absent (tests pass a reduced one) */
  cgroupLayout?: CgroupLayout;
  logger?: Logger;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const EXEC_OUTPUT_CAP = 1 << 20;

export type ExitListener = (id: string, status: ExitStatus) => void;

export class ContainerRuntime {
  private readonly entries = new Map<string, Entry>();
  private readonly exitListeners: ExitListener[] = [];
  /**
   * Exits the monitor announces while adopt() rebuilds the table, replayed
   * once it is built: a container that dies between the monitor's list
   * reply and its entry being made would otherwise look alive forever.
   */
  private exitsDuringAdopt: ExitEvent[] | undefined = [];
  private discarded = 0;
  private emptying: Promise<void> = Promise.resolve();
  private monitor!: MonitorClient;
  /** set while a lost monitor connection is being replaced; requests wait for it */
  private reconnecting: Promise<void> | undefined;
  private closing = false;
  private readonly diskTemplates: DiskTemplates;
  private readonly readyDisks: ReadyDisks;

  private constructor(
    readonly stateDir: string,
    private readonly cgroupParent: string,
    private readonly layout: CgroupLayout,
    monitor: MonitorClient,
    private readonly log?: Logger,
  ) {
    this.diskTemplates = new DiskTemplates(stateDir);
    this.readyDisks = new ReadyDisks(path.join(stateDir, 'ready-disks'), this.diskTemplates, log);
    this.attach(monitor);
  }

  private attach(monitor: MonitorClient): void {
    this.monitor = monitor;
    monitor.on('exit', (ev) => this.onMonitorExit(ev));
    monitor.once('close', () => {
      if (!this.closing) this.reconnecting ??= this.reconnect();
    });
  }

  /**
   * The monitor went away (it crashed and its keeper restarts it, or it was
   * killed): connect to its successor, starting one if need be, and
   * re-adopt, so that exits that happened meanwhile reach the listeners.
   */
  private async reconnect(): Promise<void> {
    this.log?.warn('berth-monitor connection lost; reconnecting', { stateDir: this.stateDir });
    this.exitsDuringAdopt = [];
    for (let delay = 10; !this.closing; delay = Math.min(delay * 2, 2000)) {
      try {
        this.attach(await MonitorClient.connect(this.stateDir));
        await this.adopt();
        this.log?.info('berth-monitor reconnected', { containers: this.entries.size });
        break;
      } catch (err) {
        this.log?.error('berth-monitor reconnect failed', { err, retryInMs: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    this.reconnecting = undefined;
  }

  /**
   * A monitor request that survives the connection being replaced: it
   * waits for the new one, and idempotent verbs are sent again once.
   */
  private async call(verb: Verb, args?: Buffer): Promise<string[]> {
    if (this.reconnecting) await this.reconnecting;
    try {
      return await this.monitor.request(verb, args);
    } catch (err) {
      if (!(err instanceof UnavailableError) || verb === 'spawn' || this.closing) throw err;
      if (this.reconnecting) await this.reconnecting;
      return this.monitor.request(verb, args);
    }
  }

  static async open(opts: RuntimeOptions): Promise<ContainerRuntime> {
    const stateDir = path.resolve(opts.stateDir);
    prepareStateDir(stateDir);
    // Whatever an earlier process had not finished removing.
    fs.rmSync(path.join(stateDir, 'trash'), { recursive: true, force: true });
    fs.mkdirSync(path.join(stateDir, 'trash'), { mode: 0o700 });
    const monitor = await MonitorClient.connect(stateDir);
    const layout = opts.cgroupLayout ?? detectCgroupLayout();
    const rt = new ContainerRuntime(
      stateDir,
      opts.cgroupParent ?? 'berth',
      layout,
      monitor,
      opts.logger,
    );
    await rt.load();
    await rt.adopt();
    return rt;
  }

  /**
   * Formats the root disk templates of these sizes in the background, one
   * after another, so that builds of them find one ready (a failure is
   * logged: such a build formats its own, or fails with the reason).
   */
  prepareRootDisks(sizes: number[]): void {
    void (async () => {
      for (const bytes of sizes) {
        await this.diskTemplates.get(bytes).catch((err: Error) => {
          this.log?.warn('root disk template not made', { bytes, error: err.message });
        });
      }
    })();
  }

  /** Persists a container's definition; nothing runs yet. */
  async create(config: ContainerConfig): Promise<ContainerInfo> {
    validateConfig(config);
    checkLayers(config.layers);
    if (this.entries.has(config.id))
      throw new ConflictError(`container ${config.id} already exists`);
    const paths = containerPaths(this.stateDir, config.id, config);
    const plan = planCgroups(this.layout, this.cgroupParent, config.id, config.limits);
    const disk = config.rootDiskBytes
      ? await this.readyDisks.take(config.rootDiskBytes)
      : undefined;
    // Checked again: another create of this id may have run while the disk was made.
    if (this.entries.has(config.id)) {
      if (disk) discardDisk(disk);
      throw new ConflictError(`container ${config.id} already exists`);
    }
    makeContainerDir(paths, config, disk);
    const entry: Entry = { config, plan, paths, waiters: [] };
    this.entries.set(config.id, entry);
    try {
      replaceFileSync(paths.config, JSON.stringify({ config, plan } satisfies Persisted));
    } catch (err) {
      this.entries.delete(config.id);
      fs.rmSync(paths.dir, { recursive: true, force: true });
      throw err;
    }
    return this.info(entry);
  }

  /**
   * New limits, and a root disk grown to `rootDiskBytes` (never shrunk), for
   * a container that is not running; its next start runs under them. A
   * container made without a root disk keeps its unlimited writable layer.
   */
  async reconfigure(id: string, change: { limits: Limits; rootDiskBytes?: number }): Promise<void> {
    const e = this.get(id);
    if (e.pid !== undefined && !e.exit) throw new ConflictError(`container ${id} is running`);
    const config = { ...e.config, limits: change.limits };
    if (config.rootDiskBytes && (change.rootDiskBytes ?? 0) > config.rootDiskBytes) {
      growDisk(e.paths, change.rootDiskBytes!);
      config.rootDiskBytes = change.rootDiskBytes;
    }
    validateConfig(config);
    const plan = planCgroups(this.layout, this.cgroupParent, id, config.limits);
    removeCgroups(e.plan);
    replaceFileSync(e.paths.config, JSON.stringify({ config, plan } satisfies Persisted));
    Object.assign(e, { config, plan });
  }

  /** The container's overlay upper directory: what its workload has written over the image. */
  writableLayer(id: string): string {
    return this.get(id).paths.upper;
  }

  /** Writes files into a created container's writable layer, before its first start. */
  seedFiles(id: string, files: Record<string, string>): void {
    const e = this.get(id);
    if (e.pid !== undefined) throw new ConflictError(`container ${id} has already started`);
    seedRootFiles(e.paths, e.config, files);
  }

  /**
   * Starts (or restarts, keeping its writable layer) a created or exited
   * container, with `volumes` mounted before its workload starts.
   */
  async start(id: string, volumes: readonly VolumeMount[] = []): Promise<ContainerInfo> {
    const e = this.get(id);
    if (e.pid !== undefined && !e.exit)
      throw new ConflictError(`container ${id} is already running`);
    for (const f of [e.paths.exitFile, e.paths.pidFile]) fs.rmSync(f, { force: true });
    e.exit = undefined;
    e.starting = true;
    try {
      const [pid] = await this.call('spawn', encodeSpawnSpec(e.config, e.plan, e.paths, volumes));
      e.pid = Number(pid);
    } catch (err) {
      if (err instanceof MonitorError) throw nativeError(`container ${id}`, err.nativeFault);
      // The monitor died with the spawn in flight: the re-adoption says
      // whether it started (its keeper holds it) or not.
      if (err instanceof UnavailableError && this.reconnecting) await this.reconnecting;
      if (e.pid === undefined || e.exit) throw err;
    } finally {
      e.starting = false;
    }
    this.log?.debug('container started', { container: id, pid: e.pid });
    return this.info(e);
  }

  async run(config: ContainerConfig): Promise<ContainerInfo> {
    await this.create(config);
    try {
      return await this.start(config.id);
    } catch (err) {
      await this.delete(config.id);
      throw err;
    }
  }

  /**
   * Calls `listener` each time a workload this process watches ends: on its
   * own, by a signal or by a stop. Exits that happened while no berth
   * process was connected are not replayed; `info` reports them.
   */
  onExit(listener: ExitListener): void {
    this.exitListeners.push(listener);
  }

  /** Resolves when the container's workload has exited (at once if it already has). */
  wait(id: string): Promise<ExitStatus> {
    const e = this.get(id);
    if (e.exit) return Promise.resolve(e.exit);
    if (e.pid === undefined)
      return Promise.reject(new ConflictError(`container ${id} was never started`));
    return new Promise((resolve) => e.waiters.push(resolve));
  }

  async kill(id: string, signal: NodeJS.Signals | number = 'SIGKILL'): Promise<void> {
    const e = this.running(id);
    const signo = typeof signal === 'number' ? signal : signalNumber(signal);
    await this.call('kill', Buffer.from(`${id}\0${signo}\0`)).catch((err: Error) => {
      if (!e.exit) throw err; // it exited in between: nothing left to signal
    });
    // A v1-frozen task cannot act on SIGKILL until thawed.
    if (signo === 9 && e.plan.freezer?.version === 1 && isFrozen(e.plan))
      await setFrozen(e.plan, false);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves with the exit status. */
  async stop(id: string, graceMs = 10000): Promise<ExitStatus> {
    const e = this.get(id);
    if (e.pid === undefined) throw new ConflictError(`container ${id} was never started`);
    if (e.exit) return e.exit;
    const exited = this.wait(id);
    if (graceMs > 0 && !isFrozen(e.plan)) {
      await this.kill(id, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>(
        (r) => (timer = setTimeout(() => r(undefined), graceMs)),
      );
      const done = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (done) return done;
    }
    if (!e.exit) await this.kill(id, 'SIGKILL');
    return exited;
  }

  async pause(id: string): Promise<void> {
    const e = this.running(id);
    if (isFrozen(e.plan)) throw new ConflictError(`container ${id} is already paused`);
    await setFrozen(e.plan, true);
  }

  async unpause(id: string): Promise<void> {
    const e = this.running(id);
    if (!isFrozen(e.plan)) throw new ConflictError(`container ${id} is not paused`);
    await setFrozen(e.plan, false);
  }

  /** Runs a process inside the running container (its namespaces, cgroups and restrictions). */
  exec(id: string, command: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const e = this.running(id);
    if (!command.length) throw new InvalidArgumentError('exec: no command');
    if (isFrozen(e.plan)) throw new ConflictError(`container ${id} is paused`);
    const spec = encodeExecSpec(e.config, e.plan, e.pid!, command, opts);
    return new Promise((resolve, reject) => {
      // fd 3 carries the spec in, fd 4 a setup failure out (apart from the workload's stderr).
      const child = spawn(monitorBinary, ['exec'], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      });
      const out = { stdout: '', stderr: '', failure: '' };
      const collect = (key: keyof typeof out) => (d: Buffer) => {
        if (out[key].length < EXEC_OUTPUT_CAP) out[key] += d.toString();
      };
      child.stdout!.on('data', collect('stdout'));
      child.stderr!.on('data', collect('stderr'));
      (child.stdio[4] as NodeJS.ReadableStream).on('data', collect('failure'));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (out.failure)
          return reject(nativeError(`container ${id}: exec`, decodeFault(out.failure.split('\0'))));
        resolve({
          code: code ?? 128 + signalNumber(signal!),
          stdout: out.stdout,
          stderr: out.stderr,
        });
      });
      (child.stdio[3] as NodeJS.WritableStream).end(spec);
    });
  }

  /** Binds a host mount into the running container's mount namespace, at once. */
  mountInto(id: string, volume: VolumeMount): Promise<void> {
    const e = this.running(id);
    return runMountHelper(`container ${id}: mount ${volume.target}`, [
      'mount-into',
      String(e.pid),
      volume.source,
      volume.target,
      volume.readOnly ? 'ro' : 'rw',
      e.config.userNamespace ? 'userns' : 'host',
    ]);
  }

  /** Lazily unmounts `target` inside the running container (EINVAL: nothing is mounted there). */
  umountFrom(id: string, target: string): Promise<void> {
    const e = this.running(id);
    return runMountHelper(`container ${id}: unmount ${target}`, [
      'umount-from',
      String(e.pid),
      target,
      e.config.userNamespace ? 'userns' : 'host',
    ]);
  }

  /** Like exec, on a new terminal of the process's own (see interactive-exec.ts). */
  execInteractive(id: string, command: string[], opts: ExecOptions = {}): InteractiveExec {
    const e = this.running(id);
    if (!command.length) throw new InvalidArgumentError('exec: no command');
    if (isFrozen(e.plan)) throw new ConflictError(`container ${id} is paused`);
    return startInteractiveExec(
      encodeExecSpec(e.config, e.plan, e.pid!, command, opts),
      `container ${id}`,
    );
  }

  info(idOrEntry: string | Entry): ContainerInfo {
    const e = typeof idOrEntry === 'string' ? this.get(idOrEntry) : idOrEntry;
    let state: ContainerState = 'created';
    if (e.exit) state = 'exited';
    else if (e.pid !== undefined) state = isFrozen(e.plan) ? 'paused' : 'running';
    return {
      id: e.config.id,
      state,
      pid: e.exit ? undefined : e.pid,
      exit: e.exit,
      config: e.config,
    };
  }

  list(): ContainerInfo[] {
    return [...this.entries.values()].map((e) => this.info(e));
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  stats(id: string): CgroupStats {
    return readStats(this.get(id).plan);
  }

  consoleLogPath(id: string): string {
    return this.get(id).paths.consoleLog;
  }

  /** The console log's last `maxBytes` bytes, across the rotated backups. */
  async consoleOutput(id: string, maxBytes = 64 << 10): Promise<string> {
    const e = this.get(id);
    const files = [e.paths.consoleLog];
    for (let i = 1; i <= e.config.consoleLog.backups; i++) files.push(`${e.paths.consoleLog}.${i}`);
    let text = '';
    for (const f of files) {
      if (text.length >= maxBytes) break;
      const chunk = await fs.promises.readFile(f, 'utf8').catch(() => '');
      text = chunk + text;
    }
    return text.slice(-maxBytes);
  }

  /** Removes a container that is not running: its writable layer, logs and cgroups. */
  async delete(id: string): Promise<void> {
    const e = this.get(id);
    if (e.pid !== undefined && !e.exit) throw new ConflictError(`container ${id} is running`);
    removeCgroups(e.plan);
    if (e.config.rootDiskBytes) unmountDisk(e.paths.disk);
    this.discard(e.paths.dir);
    this.entries.delete(id);
  }

  /**
   * Moves a directory out of the way at once (one rename) and removes it in
   * the background: a recursive removal costs more than the rest of a
   * container's teardown, and nothing waits on it except shutdown().
   */
  private discard(dir: string): void {
    const trash = path.join(
      this.stateDir,
      'trash',
      `${path.basename(dir)}-${process.pid}-${this.discarded++}`,
    );
    try {
      fs.renameSync(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.emptying = this.emptying.then(() =>
      fs.promises.rm(trash, { recursive: true, force: true }),
    );
  }

  /** Disconnects; containers keep running under the monitor. */
  async close(): Promise<void> {
    this.closing = true;
    this.readyDisks.close();
    await this.reconnecting;
    this.monitor.close();
    await this.emptying;
  }

  /** Kills every container of this state directory and stops the monitor (tests, `berth run`). */
  async shutdown(): Promise<void> {
    if (this.reconnecting) await this.reconnecting;
    this.closing = true;
    this.readyDisks.close();
    await this.monitor.shutdown();
    this.monitor.close();
    for (const id of [...this.entries.keys()]) {
      const e = this.entries.get(id)!;
      e.exit ??= { code: 137, signal: 9, oomKilled: false, finishedAt: Date.now() };
      await this.delete(id);
    }
    removeParents(this.layout, this.cgroupParent);
    await this.emptying;
  }

  private get(id: string): Entry {
    const e = this.entries.get(id);
    if (!e) throw new NotFoundError(`container ${id} not found`);
    return e;
  }

  private running(id: string): Entry {
    const e = this.get(id);
    if (e.pid === undefined || e.exit) throw new ConflictError(`container ${id} is not running`);
    return e;
  }

  private onMonitorExit(ev: ExitEvent): void {
    if (this.exitsDuringAdopt) {
      this.exitsDuringAdopt.push(ev);
      return;
    }
    const e = this.entries.get(ev.id);
    if (!e || (e.pid !== ev.pid && !e.starting)) return;
    e.pid = ev.pid;
    this.settle(e, {
      code: ev.code,
      signal: ev.signal,
      oomKilled: ev.oomKilled,
      finishedAt: Date.now(),
    });
  }

  private settle(e: Entry, status: ExitStatus): void {
    e.exit = status;
    this.log?.debug('container exited', { container: e.config.id, ...status });
    for (const w of e.waiters.splice(0)) w(status);
    for (const listener of this.exitListeners) {
      // A listener's bug must not break the monitor connection that delivered the exit.
      try {
        listener(e.config.id, status);
      } catch (err) {
        this.log?.error('exit listener failed', { container: e.config.id, err });
      }
    }
  }

  /**
   * Brings the table (loaded from the state directory) in line with the
   * monitor: running containers are those it lists (the list is always
   * whole: the protocol has no size limit); an exit that happened while no
   * berth process was connected is in the container's exit file.
   */
  private async adopt(): Promise<void> {
    const running = new Map<string, number>();
    const fields = await this.monitor.request('list');
    for (let i = 0; i + 1 < fields.length; i += 2) running.set(fields[i], Number(fields[i + 1]));
    for (const e of this.entries.values()) this.reconcile(e, running);
    const early = this.exitsDuringAdopt ?? [];
    this.exitsDuringAdopt = undefined;
    for (const ev of early) this.onMonitorExit(ev);
  }

  private async load(): Promise<void> {
    const root = path.join(this.stateDir, 'containers');
    for (const id of await fs.promises.readdir(root)) {
      const paths = containerPaths(this.stateDir, id);
      let persisted: Persisted;
      try {
        persisted = JSON.parse(await fs.promises.readFile(paths.config, 'utf8')) as Persisted;
      } catch {
        // A create interrupted before its config was written: nothing ran yet.
        unmountDisk(containerPaths(this.stateDir, id, { rootDiskBytes: 1 }).disk);
        this.discard(path.join(root, id));
        continue;
      }
      this.entries.set(id, {
        ...persisted,
        paths: containerPaths(this.stateDir, id, persisted.config),
        waiters: [],
      });
    }
  }

  private reconcile(e: Entry, running: Map<string, number>): void {
    const id = e.config.id;
    const listed = running.get(id);
    if (listed !== undefined) {
      if (!e.exit) e.pid = listed;
      return;
    }
    if (e.exit || e.starting) return;
    const exit = readExitFile(e.paths.exitFile);
    const pid = e.pid ?? readPidFile(e.paths.pidFile);
    if (exit) {
      e.pid = pid;
      // Settled, not just set: a process that was connected before learns of it.
      this.settle(e, exit);
    } else if (pid !== undefined) {
      // Started, yet neither its monitor nor the keeper knows it: both
      // died (or the host rebooted). Whatever is left of it in its cgroups
      // has no console and no one to record its end.
      const left = cgroupPids(e.plan);
      for (const p of left) process.kill(p, 'SIGKILL');
      removeCgroups(e.plan);
      e.pid = pid;
      const status = { code: 137, signal: 9, oomKilled: false, finishedAt: Date.now() };
      replaceFileSync(e.paths.exitFile, `137 9 0 ${status.finishedAt}\n`);
      this.log?.warn('container outlived its monitor and keeper; killed', {
        container: id,
        pids: left,
      });
      this.settle(e, status);
    }
  }
}

function checkLayers(layers: string[]): void {
  for (const layer of layers) {
    if (!fs.statSync(layer, { throwIfNoEntry: false })?.isDirectory())
      throw new NotFoundError(`root filesystem layer ${layer}: no such directory`);
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const n = os.constants.signals[sig];
  if (n === undefined) throw new InvalidArgumentError(`unknown signal ${sig}`);
  return n;
}

/** berth-monitor mount-into / umount-from: a fault comes back on fd 4. */
function runMountHelper(context: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(monitorBinary, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ignore', 'pipe'],
    });
    let failure = '';
    let stderr = '';
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (d: Buffer) => (failure += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (failure) return reject(nativeError(context, decodeFault(failure.split('\0'))));
      if (code !== 0)
        return reject(new InternalError(`${context}: berth-monitor exited ${code}: ${stderr}`));
      resolve();
    });
  });
}
