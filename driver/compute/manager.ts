/**
 * The ComputeManager: Nova's compute RPC methods (with Nova's names and
 * arguments) mapped onto a ComputeDriver. Each operation reads the same
 * way: take the instance's turn, refresh, guard, mark the task, act,
 * persist, report. Operations on one instance run one at a time in arrival
 * order; different instances run concurrently.
 */
import type { Logger } from 'winston';
import type { SerialConsoleEndpoint } from './serial-console';
import type { Endpoint, Incoming, RequestContext, Transport } from '../../messaging/transport';
import { forInstance } from '../../common/log';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { ComputeDriver, FlavorSize, UpdateTaskState } from '../virt/driver';
import { rotateBackups } from '../image/backup-rotation';
import type { ImageService } from '../image/image-service';
import { diagnosticsObject } from '../../nova/diagnostics-object';
import { PowerState } from '../../nova/power-state';
import { forEachLimit } from '../../common/for-each-limit';
import { KeyedLocks } from '../../common/keyed-locks';
import { ConductorAPI } from './conductor';
import { novaTailLog } from './console-tail';
import {
  AttachInterfaceNotSupported,
  InstanceInvalidState,
  InstanceNotFound,
} from '../../nova/exceptions';
import {
  ATTACH_INTERFACE,
  ATTACH_VOLUME,
  CONFIRM_RESIZE,
  CONSOLE_OUTPUT,
  DETACH_INTERFACE,
  DETACH_VOLUME,
  DIAGNOSTICS,
  type GuardedAction,
  REBUILD,
  RESIZE,
  REVERT_RESIZE,
  SHELVE,
  SHELVE_OFFLOAD,
  SNAPSHOT,
  TERMINATE,
  type Transition,
  TRANSITIONS,
} from '../../nova/actions';
import {
  infoCachePrimitive,
  type InstanceSpec,
  parseImage,
  parseInstance,
} from '../../nova/instance-object';
import type { Vif } from '../../nova/network-model';
import type { ManagedInstance, InstanceRecords } from './instance-records';
import { InstanceNotifier } from './notifications';
import { TaskState, VmState } from '../../nova/states';
import { connectionOf, connectionsOf, rootVolumeOf } from '../volume/bdm';
import { checkId } from '../volume/volume-service';

export const COMPUTE_RPC_VERSION = '6.1';

export interface ManagerOptions {
  driver: ComputeDriver;
  transport: Transport;
  store: InstanceRecords;
  host: string;
  log: Logger;
  /** seconds a clean shutdown may take before the workload is killed */
  stopTimeout: number;
  /** where a failed snapshot's image record is deleted (Nova's delete_image_on_error) */
  images?: ImageService;
  /** called with each operation's name, outcome and duration (metrics) */
  observe?: (method: string, ok: boolean, seconds: number) => void;
  /** the serial console endpoint; without it get_serial_console is refused */
  serialConsole?: SerialConsoleEndpoint;
}

type Args = Record<string, unknown>;

function powerToVmState(state: PowerState): VmState {
  switch (state) {
    case PowerState.RUNNING:
      return VmState.ACTIVE;
    case PowerState.PAUSED:
      return VmState.PAUSED;
    case PowerState.SUSPENDED:
      return VmState.SUSPENDED;
    default:
      return VmState.STOPPED;
  }
}

export class ComputeManager {
  private readonly locks = new KeyedLocks();
  /** set once the first reconcile has reported every instance */
  private announced = false;
  private readonly conductor: ConductorAPI;
  private readonly notifier: InstanceNotifier;

  constructor(private readonly o: ManagerOptions) {
    this.conductor = new ConductorAPI(o.transport, o.log);
    this.notifier = new InstanceNotifier(o.transport, o.host, o.log);
    o.driver.onLifecycleEvent((ev) => {
      void this.inTurn(ev.uuid, () => this.workloadStopped(ev.uuid, ev.state, ev.reason));
    });
  }

  endpoints(): Endpoint[] {
    const m =
      (fn: (args: Args, incoming: Incoming) => Promise<unknown>, name: string) =>
      async (args: Args, incoming: Incoming) => {
        const started = process.hrtime.bigint();
        let ok = false;
        try {
          const result = await fn.call(this, args, incoming);
          ok = true;
          return result;
        } finally {
          this.o.observe?.(name, ok, Number(process.hrtime.bigint() - started) / 1e9);
        }
      };
    const methods = {
      build_and_run_instance: this.buildAndRunInstance,
      terminate_instance: this.terminateInstance,
      reboot_instance: this.rebootInstance,
      stop_instance: this.stopInstance,
      start_instance: this.startInstance,
      pause_instance: this.pauseInstance,
      unpause_instance: this.unpauseInstance,
      suspend_instance: this.suspendInstance,
      resume_instance: this.resumeInstance,
      snapshot_instance: this.snapshotInstance,
      backup_instance: this.backupInstance,
      shelve_instance: this.shelveInstance,
      shelve_offload_instance: this.shelveOffloadInstance,
      unshelve_instance: this.unshelveInstance,
      rebuild_instance: this.rebuildInstance,
      resize_instance: this.resizeInstance,
      confirm_resize: this.confirmResize,
      revert_resize: this.revertResize,
      attach_interface: this.attachInterface,
      detach_interface: this.detachInterface,
      attach_volume: this.attachVolume,
      detach_volume: this.detachVolume,
      get_console_output: this.getConsoleOutput,
      get_serial_console: this.getSerialConsole,
      validate_console_port: this.validateConsolePort,
      get_instance_diagnostics: this.getInstanceDiagnostics,
      get_diagnostics: this.getInstanceDiagnostics,
      get_host_uptime: this.getHostUptime,
      cache_images: this.cacheImages,
    };
    return [
      {
        version: COMPUTE_RPC_VERSION,
        methods: Object.fromEntries(
          Object.entries(methods).map(([name, fn]) => [name, m(fn, name)]),
        ),
      },
      {
        version: '1.1',
        namespace: 'baseapi',
        methods: { ping: async (args: Args) => ({ service: 'nova-compute', arg: args.arg }) },
      },
    ];
  }

  /** Runs `fn` after every earlier operation on this instance has finished. */
  private inTurn<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(uuid, fn);
  }

  private logFor(uuid: string, context: RequestContext): Logger {
    return forInstance(this.o.log, uuid, context.request_id);
  }

  /**
   * The record here and the conductor's, written side by side: a crash
   * between the two is mended by the reconcile at start, which finishes
   * an interrupted task from the record here and reports every instance.
   */
  private async persist(
    r: ManagedInstance,
    expected: TaskState | TaskState[] | undefined,
    context: RequestContext,
  ): Promise<void> {
    const [, reported] = await Promise.all([
      this.o.store.save(r),
      this.conductor.saveInstance(r, expected, context),
    ]);
    await this.removeIfGone(r, reported, context);
  }

  /** Deleted by the control plane while this host could not be reached (Nova's local delete). */
  private async removeIfGone(
    r: ManagedInstance,
    reported: Awaited<ReturnType<ConductorAPI['saveInstance']>>,
    context: RequestContext,
  ): Promise<boolean> {
    if (reported !== 'gone') return false;
    await this.o.driver.destroy(r.spec);
    this.o.store.remove(r.uuid);
    this.logFor(r.uuid, context).warn('instance was deleted while this host was away: removed');
    return true;
  }

  private record(uuid: string): ManagedInstance {
    const r = this.o.store.get(uuid);
    if (!r) throw new InstanceNotFound(uuid);
    return r;
  }

  private guard(r: ManagedInstance, action: GuardedAction): void {
    if (r.task_state !== null || !action.allowed.includes(r.vm_state))
      throw new InstanceInvalidState(r.uuid, r.task_state ?? r.vm_state, action.method);
  }

  private async refreshPower(r: ManagedInstance): Promise<void> {
    try {
      r.power_state = (await this.o.driver.getInfo(r.spec)).state;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      r.power_state = PowerState.NOSTATE;
    }
  }

  // ---- build and delete ----

  private buildAndRunInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const image = parseImage(args.image, instance.spec.imageRef);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const log = this.logFor(instance.uuid, context);
      const existing = this.o.store.get(instance.uuid);
      if (existing && existing.vm_state !== VmState.ERROR) {
        // A redelivered or repeated build: the instance is already ours.
        log.info('build for an existing instance ignored', { vm_state: existing.vm_state });
        return;
      }
      const r: ManagedInstance = {
        uuid: instance.uuid,
        vm_state: VmState.BUILDING,
        task_state: TaskState.SPAWNING,
        power_state: PowerState.NOSTATE,
        spec: instance.spec,
        image,
        data: { ...instance.data, host: this.o.host, node: this.o.host },
        updated_at: '',
      };
      // Durable here before anything is made, so that a restart finds the build
      // (reconcile ends it); the conductor hears of it while the spawn runs.
      await this.o.store.save(r);
      const reported = this.conductor.saveInstance(r, undefined, context);
      const started = this.notifier.emit('create', 'start', r, context);
      try {
        // Read here, not before: a malformed list fails the build (ERROR with a fault).
        const mappings = args.block_device_mapping;
        await this.o.driver.spawn(r.spec, image, connectionsOf(mappings), rootVolumeOf(mappings));
        await this.refreshPower(r);
        // Waited for before the next report: a second conductor must not see them out of order.
        if (await this.removeIfGone(r, await reported, context)) return;
        await started;
        Object.assign(r, {
          vm_state: VmState.ACTIVE,
          task_state: null,
          launched_at: new Date().toISOString(),
        });
        await this.persist(r, TaskState.SPAWNING, context);
        await this.notifier.emit('create', 'end', r, context);
        log.info('instance spawned');
      } catch (err) {
        // The driver rolled back its part; make sure nothing is left either way.
        await this.o.driver.destroy(r.spec).catch(() => undefined);
        await Promise.all([reported, started]);
        const retry = (args.filter_properties as Args | undefined)?.retry as Args | undefined;
        // As Nova's BuildAbortException: what is wrong with the request or its
        // image (a checksum, an unsafe archive, a user it lacks) is wrong on
        // every host, and the fault must say so rather than "no valid host".
        const abort = err instanceof InvalidArgumentError || err instanceof NotFoundError;
        if (retry && !abort) {
          await this.rescheduleBuild(r, retry, err as Error, context);
          return;
        }
        Object.assign(r, {
          vm_state: VmState.ERROR,
          task_state: null,
          power_state: PowerState.NOSTATE,
          fault: {
            code: 500,
            message: (err as Error).message,
            created_at: new Date().toISOString(),
          },
        });
        await this.persist(r, TaskState.SPAWNING, context);
        await this.notifier.emit('create', 'error', r, context, err as Error);
        log.error('build failed', { error: (err as Error).message });
        throw err;
      }
    });
  }

  /**
   * Gives a failed build back to the conductor for another host: the
   * instance is no longer this host's, so its record here goes too.
   */
  private async rescheduleBuild(
    r: ManagedInstance,
    retry: Args,
    err: Error,
    context: RequestContext,
  ): Promise<void> {
    Object.assign(r, {
      vm_state: VmState.BUILDING,
      task_state: TaskState.SCHEDULING,
      power_state: PowerState.NOSTATE,
      data: { ...r.data, host: null, node: null },
    });
    await this.conductor.saveInstance(r, TaskState.SPAWNING, context);
    this.o.store.remove(r.uuid);
    await this.notifier.emit('create', 'error', r, context, err);
    await this.conductor.reschedule(r, retry, err.message, context);
    this.logFor(r.uuid, context).warn('build failed; rescheduled', { error: err.message });
  }

  private terminateInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.o.store.get(instance.uuid);
      if (!r) {
        // Nothing recorded here (the build never arrived, or went
        // elsewhere): make sure no container is left, and say it is gone.
        await this.o.driver.destroy(instance.spec);
        await this.conductor.saveInstance(
          {
            uuid: instance.uuid,
            vm_state: VmState.DELETED,
            task_state: null,
            power_state: PowerState.NOSTATE,
            spec: instance.spec,
            image: { id: instance.spec.imageRef },
            data: instance.data,
            updated_at: '',
          },
          TaskState.DELETING,
          context,
        );
        return;
      }
      this.guard(r, TERMINATE);
      r.task_state = TaskState.DELETING;
      await this.persist(r, [null, TaskState.DELETING], context);
      await this.notifier.emit('delete', 'start', r, context);
      await this.finishDelete(r, context);
      await this.notifier.emit('delete', 'end', r, context);
      this.logFor(r.uuid, context).info('instance deleted');
    });
  }

  /** The part of a delete a restart may interrupt: idempotent, so reconcile can finish it. */
  private async finishDelete(r: ManagedInstance, context: RequestContext): Promise<void> {
    await this.o.driver.destroy(r.spec);
    Object.assign(r, {
      vm_state: VmState.DELETED,
      task_state: null,
      power_state: PowerState.NOSTATE,
    });
    await this.conductor.saveInstance(r, TaskState.DELETING, context);
    this.o.store.remove(r.uuid);
  }

  // ---- power and lifecycle ----

  private transition(
    args: Args,
    incoming: Incoming,
    t: Transition,
    run: (spec: InstanceSpec) => Promise<void>,
  ): Promise<void> {
    const instance = parseInstance(args.instance);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guard(r, t);
      r.task_state = t.task;
      await this.persist(r, [null, t.task], context);
      await this.notifier.emit(t.event, 'start', r, context);
      try {
        await run(r.spec);
      } catch (err) {
        // Nova's reverts_task_state: the task ends, the instance keeps what it really is.
        r.task_state = null;
        await this.refreshPower(r);
        r.fault = {
          code: 500,
          message: (err as Error).message,
          created_at: new Date().toISOString(),
        };
        await this.persist(r, t.task, context);
        await this.notifier.emit(t.event, 'error', r, context, err as Error);
        throw err;
      }
      r.task_state = null;
      r.vm_state = t.vmState;
      await this.refreshPower(r);
      await this.persist(r, t.task, context);
      await this.notifier.emit(t.event, 'end', r, context);
    });
  }

  private stopInstance(args: Args, incoming: Incoming) {
    const timeout = args.clean_shutdown !== false ? this.o.stopTimeout : 0;
    return this.transition(args, incoming, TRANSITIONS.stop, (spec) =>
      this.o.driver.powerOff(spec, timeout),
    );
  }

  private rebootInstance(args: Args, incoming: Incoming) {
    const type = args.reboot_type ?? 'SOFT';
    if (type !== 'SOFT' && type !== 'HARD')
      return Promise.reject(
        new InvalidArgumentError(`reboot_type must be SOFT or HARD, got ${JSON.stringify(type)}`),
      );
    const t = type === 'SOFT' ? TRANSITIONS.rebootSoft : TRANSITIONS.rebootHard;
    return this.transition(args, incoming, t, (spec) => this.o.driver.reboot(spec, type));
  }

  /** A method whose driver call takes nothing but the instance. */
  private simple(t: Transition, call: (spec: InstanceSpec) => Promise<void>) {
    return (args: Args, incoming: Incoming) => this.transition(args, incoming, t, call);
  }

  private startInstance = this.simple(TRANSITIONS.start, (s) => this.o.driver.powerOn(s));
  private pauseInstance = this.simple(TRANSITIONS.pause, (s) => this.o.driver.pause(s));
  private unpauseInstance = this.simple(TRANSITIONS.unpause, (s) => this.o.driver.unpause(s));
  private suspendInstance = this.simple(TRANSITIONS.suspend, (s) => this.o.driver.suspend(s));
  private resumeInstance = this.simple(TRANSITIONS.resume, (s) => this.o.driver.resume(s));

  // ---- images ----

  /**
   * Nova's snapshot_instance: the API made the image record (queued) and
   * set image_snapshot; the driver captures and uploads, moving the task
   * through image_pending_upload and image_uploading. The instance keeps
   * its vm_state. On failure the task ends, the fault says why and the
   * image is deleted (delete_image_on_error), so no queued record lingers.
   */
  private snapshotInstance(args: Args, incoming: Incoming): Promise<void> {
    return this.snapshotThen('snapshot_instance', args, incoming);
  }

  /**
   * Nova's backup_instance: a snapshot, then the rotation — here, after the
   * upload, so a backup that fails leaves every older one in place.
   */
  private backupInstance(args: Args, incoming: Incoming): Promise<void> {
    const { backup_type: type, rotation } = args;
    if (typeof type !== 'string' || !Number.isInteger(rotation) || (rotation as number) < 0)
      return Promise.reject(
        new InvalidArgumentError(
          `backup_instance: backup_type must be a string and rotation an integer ≥ 0, got ${JSON.stringify({ type, rotation })}`,
        ),
      );
    return this.snapshotThen('backup_instance', args, incoming, async (imageId, log) => {
      const images = this.o.images;
      if (!images) return;
      // The backup is made: a rotation that fails leaves more backups, never fewer.
      try {
        const rotated = await rotateBackups(images, await images.show(imageId), rotation as number);
        if (rotated.length) log.info('backups rotated', { image_id: imageId, deleted: rotated });
      } catch (err) {
        log.warn('backups not rotated', { image_id: imageId, error: (err as Error).message });
      }
    });
  }

  private snapshotThen(
    method: string,
    args: Args,
    incoming: Incoming,
    after?: (imageId: string, log: Logger) => Promise<void>,
  ): Promise<void> {
    const instance = parseInstance(args.instance);
    const imageId = args.image_id;
    if (typeof imageId !== 'string' || imageId === '')
      return Promise.reject(
        new InvalidArgumentError(
          `${method}: image_id must be an image id, got ${JSON.stringify(imageId)}`,
        ),
      );
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guardTask(r, SNAPSHOT);
      const log = this.logFor(r.uuid, context);
      r.task_state = TaskState.IMAGE_SNAPSHOT;
      await this.persist(r, [null, TaskState.IMAGE_SNAPSHOT], context);
      await this.notifier.emit('snapshot', 'start', r, context);
      const update: UpdateTaskState = async (state, expected) => {
        r.task_state = state;
        await this.persist(r, expected, context);
      };
      let result;
      try {
        result = await this.o.driver.snapshot(r.spec, imageId, update);
      } catch (err) {
        await this.failTask(r, SNAPSHOT_TASKS, 'snapshot', err as Error, context);
        await this.o.images?.delete(imageId).catch((deleteErr: Error) =>
          log.warn('cannot delete the image of a failed snapshot', {
            image_id: imageId,
            error: deleteErr.message,
          }),
        );
        log.error('snapshot failed', { image_id: imageId, error: (err as Error).message });
        throw err;
      }
      r.task_state = null;
      await this.persist(r, TaskState.IMAGE_UPLOADING, context);
      await this.notifier.emit('snapshot', 'end', r, context);
      log.info('snapshot uploaded', { image_id: imageId, ...result });
      await after?.(imageId, log);
    });
  }

  // ---- shelve ----

  /**
   * Nova's shelve_instance with shelved_offload_time 0: the instance is
   * snapshotted into `image_id` (the API made the record, `<name>-shelved`)
   * and offloaded at once. A failed snapshot ends the task with the
   * instance as it was and the image deleted, as a failed createImage does.
   */
  private shelveInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const imageId = args.image_id;
    if (typeof imageId !== 'string' || imageId === '')
      return Promise.reject(
        new InvalidArgumentError(
          `shelve_instance: image_id must be an image id, got ${JSON.stringify(imageId)}`,
        ),
      );
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guardTask(r, SHELVE);
      const log = this.logFor(r.uuid, context);
      r.task_state = TaskState.SHELVING;
      await this.persist(r, [null, TaskState.SHELVING], context);
      await this.notifier.emit('shelve', 'start', r, context);
      // The driver names a snapshot's steps; a shelve has its own names for them.
      const update: UpdateTaskState = async (state, expected) => {
        r.task_state = SHELVING_STEPS[state as keyof typeof SHELVING_STEPS];
        await this.persist(r, SHELVING_STEPS[expected as keyof typeof SHELVING_STEPS], context);
      };
      try {
        await this.o.driver.snapshot(r.spec, imageId, update);
      } catch (err) {
        await this.failTask(r, SHELVE_TASKS, 'shelve', err as Error, context);
        await this.o.images?.delete(imageId).catch(() => undefined);
        log.error('shelve failed', { image_id: imageId, error: (err as Error).message });
        throw err;
      }
      await this.notifier.emit('shelve', 'end', r, context);
      await this.offload(r, SHELVE_TASKS, context);
      log.info('instance shelved and offloaded', { image_id: imageId });
    });
  }

  /**
   * Nova's shelve_offload_instance: what a volume-backed instance's shelve
   * is (its root is on its volume), and an admin's for one left shelved.
   */
  private shelveOffloadInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      // A volume-backed server's shelve is this offload; otherwise one already shelved.
      this.guardTask(r, r.vm_state === VmState.SHELVED ? SHELVE_OFFLOAD : SHELVE);
      await this.offload(r, [null, TaskState.SHELVING_OFFLOADING, ...SHELVE_TASKS], context);
      this.logFor(r.uuid, context).info('instance offloaded');
    });
  }

  /** The container goes (ports unplugged, volumes unmounted, kept); the instance leaves this host. */
  private async offload(
    r: ManagedInstance,
    expected: TaskState[],
    context: RequestContext,
  ): Promise<void> {
    Object.assign(r, { vm_state: VmState.SHELVED, task_state: TaskState.SHELVING_OFFLOADING });
    await this.persist(r, expected, context);
    await this.notifier.emit('shelve_offload', 'start', r, context);
    try {
      await this.o.driver.destroy(r.spec);
    } catch (err) {
      // Shelved, still here: an admin's shelveOffload tries again, an unshelve starts it here.
      await this.failTask(
        r,
        [TaskState.SHELVING_OFFLOADING],
        'shelve_offload',
        err as Error,
        context,
      );
      throw err;
    }
    Object.assign(r, {
      vm_state: VmState.SHELVED_OFFLOADED,
      task_state: null,
      power_state: PowerState.NOSTATE,
      data: { ...r.data, host: null, node: null },
    });
    await this.conductor.saveInstance(r, TaskState.SHELVING_OFFLOADING, context);
    this.o.store.remove(r.uuid);
    await this.notifier.emit('shelve_offload', 'end', r, context);
  }

  /**
   * Nova's unshelve_instance, on the host the conductor picked: spawned on
   * its image's layers with the shelved snapshot's as its writable layer
   * (a volume-backed one on its root volume, as it was), then the shelved
   * image is deleted. A failed spawn leaves it shelved_offloaded, with the
   * fault, to be unshelved again.
   */
  private unshelveInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const log = this.logFor(instance.uuid, context);
      const here = this.o.store.get(instance.uuid);
      if (here && here.vm_state !== VmState.SHELVED) {
        log.info('unshelve for an instance already here ignored', { vm_state: here.vm_state });
        return;
      }
      // Shelved but never offloaded: it starts again from its snapshot, as an offloaded one does.
      if (here) await this.o.driver.destroy(here.spec);
      const r: ManagedInstance = {
        uuid: instance.uuid,
        vm_state: VmState.SHELVED_OFFLOADED,
        task_state: TaskState.SPAWNING,
        power_state: PowerState.NOSTATE,
        spec: instance.spec,
        image: { id: instance.spec.imageRef },
        data: { ...instance.data, host: this.o.host, node: this.o.host },
        updated_at: '',
      };
      await this.persist(r, TaskState.UNSHELVING, context);
      await this.notifier.emit('unshelve', 'start', r, context);
      let shelved: string | undefined;
      try {
        // Read here, not before: a malformed image or mapping fails the unshelve with a fault.
        const mappings = args.block_device_mapping;
        const rootVolume = rootVolumeOf(mappings);
        // A volume-backed instance is sent the image its volume boots; any other its snapshot.
        const image = parseImage(args.image, instance.spec.imageRef);
        if (rootVolume) r.image = image;
        shelved = image.id !== r.image.id ? image.id : undefined;
        await this.o.driver.spawn(r.spec, r.image, connectionsOf(mappings), rootVolume, shelved);
      } catch (err) {
        await this.o.driver.destroy(r.spec).catch(() => undefined);
        Object.assign(r, {
          task_state: null,
          fault: {
            code: 500,
            message: (err as Error).message,
            created_at: new Date().toISOString(),
          },
          data: { ...r.data, host: null, node: null },
        });
        await this.conductor.saveInstance(r, TaskState.SPAWNING, context);
        this.o.store.remove(r.uuid);
        await this.notifier.emit('unshelve', 'error', r, context, err as Error);
        log.error('unshelve failed', { error: (err as Error).message });
        throw err;
      }
      await this.refreshPower(r);
      Object.assign(r, { vm_state: VmState.ACTIVE, task_state: null });
      await this.persist(r, TaskState.SPAWNING, context);
      if (shelved)
        await this.o.images
          ?.delete(shelved)
          .catch((err: Error) =>
            log.warn('shelved image not deleted', { image_id: shelved, error: err.message }),
          );
      await this.notifier.emit('unshelve', 'end', r, context);
      log.info('instance unshelved');
    });
  }

  /**
   * Nova's rebuild_instance (not an evacuation: recreate is refused): a
   * new root filesystem from `image_ref`, the same uuid, flavor and ports.
   * A stopped instance is stopped again afterwards, as Nova does; a
   * failure leaves the instance in ERROR with the fault.
   */
  private rebuildInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const imageRef = args.image_ref;
    if (typeof imageRef !== 'string' || imageRef === '')
      return Promise.reject(
        new InvalidArgumentError(
          `rebuild_instance: image_ref must be an image id, got ${JSON.stringify(imageRef)}`,
        ),
      );
    if (args.recreate === true)
      return Promise.reject(
        new InvalidArgumentError('rebuild_instance: evacuation (recreate) is not supported'),
      );
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guardTask(r, REBUILD);
      const wasStopped = r.vm_state === VmState.STOPPED;
      r.task_state = TaskState.REBUILDING;
      await this.persist(r, [null, TaskState.REBUILDING], context);
      await this.notifier.emit('rebuild', 'start', r, context);
      const image = { id: imageRef };
      const spec = { ...r.spec, imageRef };
      try {
        r.task_state = TaskState.REBUILD_SPAWNING;
        await this.persist(r, TaskState.REBUILDING, context);
        await this.o.driver.rebuild(spec, image, r.spec.networkInfo);
        if (wasStopped) await this.o.driver.powerOff(spec, 0);
      } catch (err) {
        r.vm_state = VmState.ERROR;
        await this.failTask(r, REBUILD_TASKS, 'rebuild', err as Error, context);
        this.logFor(r.uuid, context).error('rebuild failed', { error: (err as Error).message });
        throw err;
      }
      Object.assign(r, {
        spec,
        image,
        data: { ...r.data, image_ref: imageRef },
        vm_state: wasStopped ? VmState.STOPPED : VmState.ACTIVE,
        task_state: null,
        launched_at: new Date().toISOString(),
      });
      await this.refreshPower(r);
      await this.persist(r, TaskState.REBUILD_SPAWNING, context);
      await this.notifier.emit('rebuild', 'end', r, context);
      this.logFor(r.uuid, context).info('instance rebuilt', { image: imageRef });
    });
  }

  // ---- resize, on this host ----

  /**
   * Nova's prep_resize, resize_instance and finish_resize in one: the
   * resize stays on this host, so there is no disk to send and nothing the
   * three would do apart. The task goes through Nova's resize_migrating,
   * resize_migrated and resize_finish; the instance ends resized
   * (VERIFY_RESIZE) in its new flavor, with its power state. A failure
   * ends the task with the fault and the old flavor (Nova's
   * InstanceFaultRollback): the driver left the old limits in place.
   */
  private resizeInstance(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const flavor = parseFlavorSize(args.flavor);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guardTask(r, RESIZE);
      const old = sizeOf(r.spec);
      const step = async (task: TaskState, expected: TaskState | TaskState[]) => {
        r.task_state = task;
        await this.persist(r, expected, context);
      };
      await step(TaskState.RESIZE_MIGRATING, [null, TaskState.RESIZE_PREP]);
      await this.notifier.emit('resize', 'start', r, context);
      try {
        await this.o.driver.resize(r.spec, flavor);
      } catch (err) {
        await this.failTask(r, [TaskState.RESIZE_MIGRATING], 'resize', err as Error, context);
        this.logFor(r.uuid, context).error('resize failed', { error: (err as Error).message });
        throw err;
      }
      await step(TaskState.RESIZE_MIGRATED, TaskState.RESIZE_MIGRATING);
      await this.notifier.emit('resize', 'end', r, context);
      await this.notifier.emit('resize_finish', 'start', r, context);
      await step(TaskState.RESIZE_FINISH, TaskState.RESIZE_MIGRATED);
      Object.assign(r, {
        spec: { ...r.spec, ...flavor },
        old_flavor: old,
        vm_state: VmState.RESIZED,
        task_state: null,
      });
      await this.refreshPower(r);
      await this.persist(r, TaskState.RESIZE_FINISH, context);
      await this.notifier.emit('resize_finish', 'end', r, context);
      this.logFor(r.uuid, context).info('instance resized; awaiting confirmation', { ...flavor });
    });
  }

  /** Nova's confirm_resize: nothing is left on another host; the instance is what it runs as. */
  private confirmResize(args: Args, incoming: Incoming): Promise<void> {
    return this.endResize(args, incoming, CONFIRM_RESIZE, 'resize_confirm', async () => undefined);
  }

  /** Nova's revert_resize and finish_revert_resize: the old flavor's limits again. */
  private revertResize(args: Args, incoming: Incoming): Promise<void> {
    return this.endResize(args, incoming, REVERT_RESIZE, 'resize_revert', async (r) => {
      const old = r.old_flavor ?? sizeOf(parseInstance(args.instance).spec);
      await this.o.driver.resize(r.spec, old);
      r.spec = { ...r.spec, ...old };
    });
  }

  private endResize(
    args: Args,
    incoming: Incoming,
    action: typeof CONFIRM_RESIZE,
    event: string,
    act: (r: ManagedInstance) => Promise<void>,
  ): Promise<void> {
    const instance = parseInstance(args.instance);
    const { context } = incoming;
    return this.inTurn(instance.uuid, async () => {
      const r = this.record(instance.uuid);
      this.guardTask(r, action);
      r.task_state = action.task;
      await this.persist(r, [null, action.task], context);
      await this.notifier.emit(event, 'start', r, context);
      try {
        await act(r);
      } catch (err) {
        await this.failTask(r, [action.task], event, err as Error, context);
        throw err;
      }
      await this.refreshPower(r);
      Object.assign(r, {
        old_flavor: undefined,
        task_state: null,
        vm_state: r.power_state === PowerState.RUNNING ? VmState.ACTIVE : VmState.STOPPED,
      });
      await this.persist(r, action.task, context);
      await this.notifier.emit(event, 'end', r, context);
      this.logFor(r.uuid, context).info(`${event} done`);
    });
  }

  /** The compute's own check of a task the API has already recorded (it may have moved on). */
  private guardTask(r: ManagedInstance, action: GuardedAction & { task: TaskState }): void {
    if (r.task_state !== null && r.task_state !== action.task)
      throw new InstanceInvalidState(r.uuid, r.task_state, action.method);
    this.guard({ ...r, task_state: null }, action);
  }

  /** Nova's reverts_task_state with the fault recorded: the task ends, the error is reported. */
  private async failTask(
    r: ManagedInstance,
    expected: TaskState[],
    event: string,
    err: Error,
    context: RequestContext,
  ): Promise<void> {
    r.task_state = null;
    await this.refreshPower(r);
    r.fault = { code: 500, message: err.message, created_at: new Date().toISOString() };
    await this.persist(r, expected, context);
    await this.notifier.emit(event, 'error', r, context, err);
  }

  // ---- interfaces ----

  /**
   * Plugs a port the control plane has already made and bound to this host:
   * its VIF comes in the instance's info_cache (berth's API allocates the
   * port before the call, where Nova's compute would ask Neutron itself).
   * A call: the API answers the user with what this returns, Nova's VIF.
   */
  private attachInterface(args: Args, incoming: Incoming): Promise<Vif> {
    const instance = parseInstance(args.instance);
    const portId = portIdOf(args, 'attach_interface');
    const vif = instance.spec.networkInfo.find((v) => v.id === portId);
    if (!vif)
      return Promise.reject(
        new InvalidArgumentError(
          `attach_interface: port ${portId} is not in the network info of instance ${instance.uuid}`,
        ),
      );
    return this.interfaceChange(instance.uuid, ATTACH_INTERFACE, incoming, async (r) => {
      await this.o.driver.attachInterface(r.spec, vif);
      return [...r.spec.networkInfo.filter((v) => v.id !== vif.id), vif];
    }).then(() => vif);
  }

  /** Unplugs a port; one this host does not know is already gone (idempotent). */
  private detachInterface(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    const portId = portIdOf(args, 'detach_interface');
    return this.interfaceChange(instance.uuid, DETACH_INTERFACE, incoming, async (r) => {
      const vif = r.spec.networkInfo.find((v) => v.id === portId);
      if (vif) await this.o.driver.detachInterface(r.spec, vif);
      return r.spec.networkInfo.filter((v) => v.id !== portId);
    });
  }

  /** Guard, let the driver act, record the instance's new network info, notify. */
  private interfaceChange(
    uuid: string,
    action: GuardedAction,
    incoming: Incoming,
    act: (r: ManagedInstance) => Promise<Vif[]>,
  ): Promise<void> {
    const { context } = incoming;
    const event = action === ATTACH_INTERFACE ? 'interface_attach' : 'interface_detach';
    return this.inTurn(uuid, async () => {
      const r = this.record(uuid);
      this.guard(r, action);
      if (!this.o.driver.capabilities.supports_attach_interface)
        throw new AttachInterfaceNotSupported(uuid);
      await this.notifier.emit(event, 'start', r, context);
      try {
        r.spec.networkInfo = await act(r);
      } catch (err) {
        await this.notifier.emit(event, 'error', r, context, err as Error);
        throw err;
      }
      r.data = { ...r.data, info_cache: infoCachePrimitive(uuid, r.spec.networkInfo) };
      await this.o.store.save(r);
      await this.notifier.emit(event, 'end', r, context);
      this.logFor(uuid, context).info(`${event} done`, {
        ports: r.spec.networkInfo.map((v) => v.id),
      });
    });
  }

  // ---- volumes ----

  /** Mounts the bdm's volume; a call, so the API marks it in-use only once it is mounted. */
  private attachVolume(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    return this.inTurn(instance.uuid, async () => {
      const connection = connectionOf(args.bdm);
      const r = this.record(instance.uuid);
      await this.volumeChange(r, ATTACH_VOLUME, incoming, { volume_id: connection.volumeId }, () =>
        this.o.driver.attachVolume(r.spec, connection),
      );
    });
  }

  /** Unmounts the volume; one the instance does not have here (or no instance) is detached already. */
  private detachVolume(args: Args, incoming: Incoming): Promise<void> {
    const instance = parseInstance(args.instance);
    return this.inTurn(instance.uuid, async () => {
      const volumeId = checkId(args.volume_id);
      const fields = { volume_id: volumeId, attachment_id: args.attachment_id };
      const r = this.o.store.get(instance.uuid);
      const attached = r && (await this.volumesOf(r));
      if (!r || !attached?.some((v) => v.volumeId === volumeId)) {
        this.logFor(instance.uuid, incoming.context).info(
          'volume not attached: nothing to detach',
          fields,
        );
        return;
      }
      await this.volumeChange(r, DETACH_VOLUME, incoming, fields, () =>
        this.o.driver.detachVolume(r.spec, volumeId),
      );
    });
  }

  /** What the driver has mounted in the instance: nothing when it has no such instance. */
  private async volumesOf(r: ManagedInstance) {
    try {
      return await this.o.driver.volumeAttachments(r.spec);
    } catch (err) {
      if (err instanceof NotFoundError) return [];
      throw err;
    }
  }

  /** In the instance's turn: guard, let the driver act, notify (Nova's instance.volume_attach/detach). */
  private async volumeChange(
    r: ManagedInstance,
    action: GuardedAction,
    incoming: Incoming,
    fields: Record<string, unknown>,
    act: () => Promise<void>,
  ): Promise<void> {
    const { context } = incoming;
    const event = action === ATTACH_VOLUME ? 'volume_attach' : 'volume_detach';
    this.guard(r, action);
    await this.notifier.emit(event, 'start', r, context);
    try {
      await act();
    } catch (err) {
      await this.notifier.emit(event, 'error', r, context, err as Error);
      throw err;
    }
    await this.notifier.emit(event, 'end', r, context);
    this.logFor(r.uuid, context).info(`${event} done`, fields);
  }

  // ---- queries ----

  private async getConsoleOutput(args: Args): Promise<string> {
    const instance = parseInstance(args.instance);
    const tail = args.tail_length;
    if (tail !== undefined && tail !== null && !(Number.isInteger(tail) && (tail as number) >= 0))
      throw new InvalidArgumentError(
        `tail_length must be a non-negative integer, got ${JSON.stringify(tail)}`,
      );
    const r = this.record(instance.uuid);
    this.guard({ ...r, task_state: null }, CONSOLE_OUTPUT);
    // Nova tails the driver's whole (size-capped) log itself, with its own idea of a line.
    const output = await this.o.driver.getConsoleOutput(r.spec);
    return tail === undefined || tail === null ? output : novaTailLog(output, tail as number);
  }

  /** Nova's get_serial_console: where to connect, with a secret for one connection. */
  private async getSerialConsole(args: Args): Promise<unknown> {
    const instance = parseInstance(args.instance);
    if (args.console_type !== 'serial')
      throw new InvalidArgumentError(`Invalid console type ${String(args.console_type)}`);
    const console = this.o.serialConsole;
    if (!console || !this.o.driver.capabilities.supports_serial_console)
      throw new InvalidArgumentError('Unavailable console type serial.');
    const r = this.record(instance.uuid);
    if (r.vm_state !== VmState.ACTIVE) throw new ConflictError(`Instance ${r.uuid} is not ready.`);
    return console.issue(r.uuid);
  }

  private async validateConsolePort(args: Args): Promise<boolean> {
    const instance = parseInstance(args.instance);
    this.record(instance.uuid);
    return args.console_type === 'serial' && args.port === this.o.serialConsole?.port;
  }

  private async getInstanceDiagnostics(args: Args): Promise<unknown> {
    const instance = parseInstance(args.instance);
    const r = this.record(instance.uuid);
    this.guard({ ...r, task_state: null }, DIAGNOSTICS);
    const d = await this.o.driver.getDiagnostics(r.spec);
    return diagnosticsObject({
      state: d.state,
      // Nova's object allows only its drivers' names: berth's containers are libvirt's lxc kind.
      driver: 'libvirt',
      hypervisor: 'lxc',
      hypervisor_os: 'linux',
      uptime: d.uptimeSeconds ?? null,
      config_drive: false,
      num_cpus: r.spec.vcpus,
      memory: { maximum: d.memoryLimitBytes ?? null, used: d.memoryBytes ?? null },
      cpus: [{ id: 0, time: d.cpuNanos ?? null, utilisation: null }],
      nics: d.nics.map((n) => ({
        rx_octets: n.rxBytes,
        tx_octets: n.txBytes,
        rx_packets: n.rxPackets,
        tx_packets: n.txPackets,
      })),
      disks: d.disks.map((k) => ({ read_bytes: k.readBytes, write_bytes: k.writeBytes })),
    });
  }

  private getHostUptime(): Promise<string> {
    return this.o.driver.getHostUptime();
  }

  /**
   * Nova's cache_images (a long call: the transport heartbeats it): each
   * image pre-fetched in turn, as Nova does, and reported 'cached',
   * 'existing', 'error' or 'unsupported'; one failing image does not stop
   * the others.
   */
  private async cacheImages(args: Args): Promise<Record<string, string>> {
    const ids = args.image_ids;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))
      throw new InvalidArgumentError('cache_images: image_ids must be a list of image ids');
    const results: Record<string, string> = {};
    for (const id of ids as string[]) {
      if (!this.o.driver.capabilities.has_imagecache) {
        results[id] = 'unsupported';
        continue;
      }
      try {
        results[id] = (await this.o.driver.cacheImage(id)) ? 'cached' : 'existing';
      } catch (err) {
        this.o.log.warn('cache_images: image not cached', { image: id, err });
        results[id] = 'error';
      }
    }
    return results;
  }

  // ---- what the driver and the kernel say on their own ----

  /** A workload that exited by itself: the instance becomes stopped, as Nova's power sync does. */
  private async workloadStopped(uuid: string, state: PowerState, reason?: string): Promise<void> {
    const r = this.o.store.get(uuid);
    if (!r || r.task_state !== null || r.vm_state !== VmState.ACTIVE) return;
    const context: RequestContext = { request_id: `req-power-sync-${uuid}` };
    this.logFor(uuid, context).warn('workload stopped on its own', { power_state: state, reason });
    r.task_state = TaskState.POWERING_OFF;
    await this.notifier.emit('power_off', 'start', r, context);
    Object.assign(r, { vm_state: VmState.STOPPED, task_state: null, power_state: state });
    await this.persist(r, null, context);
    await this.notifier.emit('power_off', 'end', r, context);
  }

  /**
   * Reconciles every recorded instance with the driver (at start, and
   * periodically): an interrupted task is finished or ends in ERROR, never
   * left in a task_state; a container without a record is removed.
   */
  async reconcile(): Promise<void> {
    const context: RequestContext = { request_id: 'req-reconcile' };
    const records = this.o.store.all();
    const known = new Set(records.map((r) => r.uuid));
    // Instances are independent: a thousand of them reconcile in a few round trips' time.
    await forEachLimit(records, RECONCILE_CONCURRENCY, (r) =>
      this.inTurn(r.uuid, () => this.reconcileOne(r.uuid, context)),
    );
    this.announced = true;
    for (const uuid of await this.o.driver.listInstanceUuids()) {
      if (known.has(uuid)) continue;
      await this.inTurn(uuid, async () => {
        if (this.o.store.get(uuid)) return; // built while this pass ran
        this.logFor(uuid, context).warn('removing a container with no instance record');
        await this.o.driver.destroy({
          uuid,
          name: uuid,
          vcpus: 1,
          memoryMb: 0,
          rootGb: 0,
          imageRef: '',
          networkInfo: [],
        });
      });
    }
  }

  private async reconcileOne(uuid: string, context: RequestContext): Promise<void> {
    const r = this.o.store.get(uuid);
    if (!r) return;
    const log = this.logFor(uuid, context);
    const interrupted = r.task_state;
    if (interrupted === TaskState.DELETING) {
      await this.finishDelete(r, context);
      log.warn('finished a delete interrupted by a restart');
      return;
    }
    const power = r.power_state;
    await this.refreshPower(r);
    const exists = r.power_state !== PowerState.NOSTATE;
    const before = `${r.vm_state}/${r.task_state}`;
    if (interrupted === TaskState.SPAWNING || (!exists && r.vm_state !== VmState.ERROR)) {
      if (interrupted === TaskState.SPAWNING && exists && r.power_state === PowerState.RUNNING) {
        Object.assign(r, {
          vm_state: VmState.ACTIVE,
          task_state: null,
          launched_at: new Date().toISOString(),
        });
      } else {
        await this.o.driver.destroy(r.spec);
        const message = interrupted
          ? `interrupted by a compute service restart while ${interrupted}`
          : 'instance lost: no container found';
        Object.assign(r, {
          vm_state: VmState.ERROR,
          task_state: null,
          power_state: PowerState.NOSTATE,
          fault: { code: 500, message, created_at: new Date().toISOString() },
        });
      }
    } else if (r.vm_state === VmState.ERROR) {
      r.task_state = null;
    } else {
      // Whatever the task was, the instance is what its container is now;
      // a resize awaiting confirmation stays resized whatever its power.
      r.task_state = null;
      if (r.vm_state !== VmState.RESIZED || interrupted) r.vm_state = powerToVmState(r.power_state);
    }
    if (`${r.vm_state}/${r.task_state}` !== before || interrupted) {
      log.warn('reconciled', {
        from: before,
        to: `${r.vm_state}/${r.task_state}`,
        power_state: r.power_state,
      });
      await this.persist(r, interrupted ?? null, context);
    } else if (!this.announced) {
      // The first pass after a start reports every instance, so that the
      // control plane hears what this host has (and says what it deleted);
      // the record here is rewritten only if its power state moved.
      if (r.power_state !== power) await this.o.store.save(r);
      await this.removeIfGone(r, await this.conductor.saveInstance(r, undefined, context), context);
    } else if (r.power_state !== power) {
      await this.o.store.save(r);
    }
  }
}

/** Instances reconciled at once: enough to overlap their conductor round trips and fsyncs. */
const RECONCILE_CONCURRENCY = 32;

const SNAPSHOT_TASKS: TaskState[] = [
  TaskState.IMAGE_SNAPSHOT,
  TaskState.IMAGE_PENDING_UPLOAD,
  TaskState.IMAGE_UPLOADING,
];
/** A shelve's names for the steps of the snapshot it takes. */
const SHELVING_STEPS = {
  [TaskState.IMAGE_SNAPSHOT]: TaskState.SHELVING,
  [TaskState.IMAGE_PENDING_UPLOAD]: TaskState.SHELVING_IMAGE_PENDING_UPLOAD,
  [TaskState.IMAGE_UPLOADING]: TaskState.SHELVING_IMAGE_UPLOADING,
} as const;
const SHELVE_TASKS: TaskState[] = Object.values(SHELVING_STEPS);

const REBUILD_TASKS: TaskState[] = [TaskState.REBUILDING, TaskState.REBUILD_SPAWNING];

const sizeOf = ({ vcpus, memoryMb, rootGb }: InstanceSpec): FlavorSize => ({
  vcpus,
  memoryMb,
  rootGb,
});

/** The sizes of a Nova Flavor object (resize_instance's `flavor`). */
function parseFlavorSize(flavor: unknown): FlavorSize {
  const data = (flavor as { 'nova_object.data'?: Record<string, unknown> } | null)?.[
    'nova_object.data'
  ];
  const size = (key: string, min: number) => {
    const v = data?.[key];
    if (!Number.isInteger(v) || (v as number) < min)
      throw new InvalidArgumentError(
        `resize_instance: flavor.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`,
      );
    return v as number;
  };
  return { vcpus: size('vcpus', 1), memoryMb: size('memory_mb', 1), rootGb: size('root_gb', 0) };
}

function portIdOf(args: Args, method: string): string {
  const portId = args.port_id;
  if (typeof portId !== 'string' || portId === '')
    throw new InvalidArgumentError(
      `${method}: port_id must be a port id, got ${JSON.stringify(portId)}`,
    );
  return portId;
}
