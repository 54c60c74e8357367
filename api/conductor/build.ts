/**
 * Scheduling and building (Nova's conductor schedule_and_build_instances
 * and build_instances): pick a host and claim it, record the host, cast
 * build_and_run_instance to it. A build that fails on a host comes back
 * here (compute_task build_instances) and is tried elsewhere, up to
 * [scheduler] max_attempts; then the instance goes to ERROR with "No
 * valid host was found".
 */
import type { Logger } from 'winston';
import type { BerthConfig } from '../../config/schema';
import type { ImageService } from '../../driver/image/image-service';
import { TaskState, VmState } from '../../nova/states';
import type { ComputeRpcAPI, RpcContext } from '../compute-rpc';
import type { Database } from '../db/connection';
import { bootImageOf, getInstance, type Instance } from '../db/instances';
import { finishAction } from '../db/instance-actions';
import { computeServices } from '../db/services';
import { now } from '../http';
import type { InstanceNetworkApi } from '../network/instance-network';
import { releasePorts } from '../servers/instance-ports';
import { attachBuildVolumes } from '../servers/block-devices';
import { volumeHost } from '../servers/volume-attachments';
import type { VolumeService } from '../volume/volume-service';
import { NoValidHost, Superseded, type Scheduler } from '../scheduler/scheduler';

export interface BuildDeps {
  db: Database;
  config: BerthConfig;
  log: Logger;
  images: ImageService;
  compute: ComputeRpcAPI;
  scheduler: Scheduler;
  instanceNetwork: InstanceNetworkApi;
  volumes: VolumeService;
}

/** How a claim records its instance on the host it took (see ScheduleRequest.place). */
interface Placement {
  /** the task the instance must still be in */
  task: TaskState;
  /** more columns to set, for the claimed host */
  fields?: (host: string) => Record<string, unknown>;
}

export class BuildCoordinator {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly d: BuildDeps) {}

  /**
   * Schedules the instances one after another without holding up the
   * caller (the API's 202 goes out first); `drain()` waits for them.
   */
  scheduleLater(uuids: string[], context: RpcContext): void {
    this.detached(async () => {
      for (const uuid of uuids) await this.schedule(uuid, context);
    });
  }

  /** Runs `fn` after the caller's answer has gone out; `drain()` waits for it. `fn` never throws. */
  private detached(fn: () => Promise<void>): void {
    const run = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await fn();
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  /** Waits for every scheduling under way: the service stops only after them. */
  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /**
   * Schedules one instance that is in task_state scheduling. Never throws:
   * every outcome is recorded on the instance, unless the database itself
   * is what failed — then it is logged. Callers run this detached, where a
   * rejection would take the whole process down.
   */
  async schedule(uuid: string, context: RpcContext, lastError?: string): Promise<void> {
    const log = this.d.log.child({ instance_uuid: uuid, request_id: context.request_id });
    try {
      await this.scheduleOnce(uuid, context, lastError, log);
    } catch (err) {
      log.error('scheduling failed', { error: (err as Error).message });
      await this.fail(uuid, `Build of instance ${uuid} failed: ${(err as Error).message}`).catch(
        (failed: Error) => log.error('failed build not recorded', { error: failed.message }),
      );
    }
  }

  /**
   * Several API processes may try one instance at once (a build re-driven
   * after its process was thought dead, a reschedule delivered twice): the
   * placement is a compare-and-set in the claim's transaction, so exactly
   * one of them places it and the others change nothing.
   */
  private async scheduleOnce(
    uuid: string,
    context: RpcContext,
    lastError: string | undefined,
    log: Logger,
  ): Promise<void> {
    const { db, config } = this.d;
    const inst = await getInstance(db, uuid);
    // Deleted meanwhile, or already placed or moved on: nothing to do.
    if (!inst || inst.task_state !== TaskState.SCHEDULING || inst.host) return;
    const max = config.scheduler.max_attempts;
    if (inst.attempts >= max) {
      await this.fail(
        uuid,
        `No valid host was found. Exceeded max scheduling attempts ${max} for instance ${uuid}. Last exception: ${lastError ?? 'unknown'}`,
      );
      return;
    }
    let host: string;
    try {
      host = await this.claimHost(inst, inst.tried_hosts, {
        task: TaskState.SCHEDULING,
        fields: (h) => ({
          attempts: inst.attempts + 1,
          tried_hosts: JSON.stringify([...inst.tried_hosts, h]),
        }),
      });
    } catch (err) {
      if (err instanceof Superseded) {
        log.info('instance placed by another scheduler meanwhile');
        return;
      }
      if (!(err instanceof NoValidHost)) throw err;
      await this.fail(
        uuid,
        lastError ? `${err.message} Last exception: ${lastError}` : err.message,
      );
      return;
    }
    await this.castBuild(uuid, host, context, log);
  }

  /**
   * Casts build_and_run_instance for an instance placed on `host`: its image,
   * ports bound there and volumes attached there. A failure ends the build
   * in ERROR. Cast again for one whose scheduler died after placing it: the
   * compute ignores a build it already has.
   */
  private async castBuild(
    uuid: string,
    host: string,
    context: RpcContext,
    log: Logger,
  ): Promise<void> {
    const { db, config } = this.d;
    try {
      const placed = await getInstance(db, uuid);
      if (!placed || placed.task_state !== TaskState.SCHEDULING || placed.host !== host) return;
      const image = await this.d.images.show(bootImageOf(placed));
      // Bound before the cast: the compute plugs what the network info says.
      const networkInfo = await this.d.instanceNetwork.bindForHost(uuid, host);
      const blockDeviceMapping = await attachBuildVolumes(this.d.volumes, placed, host, context);
      await this.d.compute.buildAndRunInstance(
        placed,
        {
          image,
          networkInfo,
          blockDeviceMapping,
          requestedNetworks: placed.request_spec.networks,
          securityGroups: placed.request_spec.security_groups ?? ['default'],
          retry:
            config.scheduler.max_attempts > 1
              ? { num_attempts: placed.attempts, hosts: placed.tried_hosts.map((h) => [h, h]) }
              : undefined,
        },
        context,
      );
      log.info('instance scheduled', { host, attempt: placed.attempts });
    } catch (err) {
      log.error('scheduling failed', { error: (err as Error).message, host });
      await this.fail(uuid, `Build of instance ${uuid} failed: ${(err as Error).message}`, host);
    }
  }

  /** A host for `inst` (one its volumes are on, if any), claimed; NoValidHost when none fits. */
  private async claimHost(
    inst: Instance,
    ignoreHosts: string[],
    placement: Placement,
    requiredHost?: string,
  ): Promise<string> {
    return this.d.scheduler.selectAndClaim({
      instanceUuid: inst.uuid,
      projectId: inst.project_id,
      vcpus: inst.flavor.vcpus,
      memoryMb: inst.flavor.memory_mb,
      diskGb: inst.flavor.root_gb + inst.flavor.ephemeral_gb + Math.ceil(inst.flavor.swap / 1024),
      availabilityZone: inst.request_spec.availability_zone,
      group: inst.request_spec.group,
      ignoreHosts,
      requiredHost: requiredHost ?? (await volumeHost(this.d.db, inst.uuid)),
      place: async (trx, host) => {
        const placing = trx('instances').where({
          uuid: inst.uuid,
          deleted: false,
          task_state: placement.task,
        });
        // One shelved but not offloaded is placed again where it is.
        const free = inst.host === null ? placing.whereNull('host') : placing.where({ host });
        const updated = await free.update({
          host,
          node: host,
          availability_zone: await this.zoneOf(host, trx),
          updated_at: now(),
          ...placement.fields?.(host),
        });
        return updated === 1;
      },
    });
  }

  /**
   * Nova's conductor unshelve_instance for an offloaded instance: a host
   * is picked and claimed as for a build, the ports bound and volumes
   * attached there, and unshelve_instance cast with the shelved image.
   * Without a host (or its shelved image) the instance stays offloaded,
   * its task ended with the reason as its fault. Never throws.
   */
  unshelveLater(uuid: string, context: RpcContext): void {
    const log = this.d.log.child({ instance_uuid: uuid, request_id: context.request_id });
    this.detached(async () => {
      const placing: { host?: string } = {};
      try {
        await this.unshelveOnce(uuid, context, log, placing);
      } catch (err) {
        await this.unshelveFailed(uuid, (err as Error).message, log, placing.host).catch(
          (failed: Error) => log.error('failed unshelve not recorded', { error: failed.message }),
        );
      }
    });
  }

  /**
   * The task ends with the reason as the fault. An offloaded instance
   * gives back the host it was being placed on; one shelved but still on
   * its host (its offload failed) keeps host and claim. An offloaded one
   * placed by another scheduler meanwhile (not `placedOn`, this one's
   * placement) is left to it.
   */
  private async unshelveFailed(
    uuid: string,
    message: string,
    log: Logger,
    placedOn: string | undefined,
  ): Promise<void> {
    log.warn('unshelve not scheduled', { error: message });
    const inst = await getInstance(this.d.db, uuid);
    if (!inst || inst.task_state !== TaskState.UNSHELVING) return;
    const offloaded = inst.vm_state === VmState.SHELVED_OFFLOADED;
    const t = now();
    const unshelving = this.d
      .db('instances')
      .where({ uuid, deleted: false, task_state: TaskState.UNSHELVING });
    if (offloaded) {
      if (placedOn) unshelving.where({ host: placedOn });
      else unshelving.whereNull('host');
    }
    const updated = await unshelving.update({
      ...(offloaded ? { host: null, node: null } : {}),
      task_state: null,
      fault: JSON.stringify({ code: 500, message, created_at: t }),
      updated_at: t,
    });
    if (updated === 0) return;
    if (offloaded) await this.d.scheduler.release(uuid);
    await finishAction(this.d.db, uuid, { host: null, error: message });
  }

  private async unshelveOnce(
    uuid: string,
    context: RpcContext,
    log: Logger,
    placing: { host?: string },
  ): Promise<void> {
    const { db } = this.d;
    const inst = await getInstance(db, uuid);
    if (!inst || inst.task_state !== TaskState.UNSHELVING) return;
    // An offloaded one with a host was placed by another scheduler.
    if (inst.vm_state === VmState.SHELVED_OFFLOADED && inst.host) return;
    const shelvedImage = inst.request_spec.shelved_image;
    // The image first: a shelved image gone is reason enough not to take a host.
    const image = await this.d.images.show(shelvedImage ?? bootImageOf(inst));
    // One shelved but not offloaded is unshelved where it is.
    let host: string;
    try {
      host = await this.claimHost(inst, [], { task: TaskState.UNSHELVING }, inst.host ?? undefined);
    } catch (err) {
      if (!(err instanceof Superseded)) throw err;
      log.info('unshelve placed by another scheduler meanwhile');
      return;
    }
    placing.host = host;
    const networkInfo = await this.d.instanceNetwork.bindForHost(uuid, host);
    const placed = (await getInstance(db, uuid)) as Instance;
    const blockDeviceMapping = await attachBuildVolumes(this.d.volumes, placed, host, context);
    await this.d.compute.unshelveInstance(
      placed,
      { image, networkInfo, blockDeviceMapping },
      context,
    );
    log.info('instance unshelving', { host, image: image.id });
  }

  private async zoneOf(host: string, db: Database = this.d.db): Promise<string> {
    const s = (await computeServices(db)).find((c) => c.host === host);
    return s?.availability_zone ?? this.d.config.DEFAULT.default_availability_zone;
  }

  /**
   * Ends the build in ERROR: one still unplaced, or (with `placedOn`) the
   * one this process placed there. Changes nothing when the instance is no
   * longer in that state: another scheduler has it, or it was deleted.
   */
  private async fail(uuid: string, message: string, placedOn?: string): Promise<void> {
    const { db, scheduler } = this.d;
    const t = now();
    const building = db('instances').where({
      uuid,
      deleted: false,
      task_state: TaskState.SCHEDULING,
    });
    const updated = await (
      placedOn ? building.where({ host: placedOn }) : building.whereNull('host')
    ).update({
      vm_state: VmState.ERROR,
      task_state: null,
      fault: JSON.stringify({ code: 500, message, created_at: t }),
      updated_at: t,
    });
    if (updated === 0) return;
    await scheduler.release(uuid);
    await finishAction(db, uuid, { host: null, error: message });
    // A failed build leaves no port behind.
    await releasePorts(this.d.instanceNetwork, uuid, this.d.log);
    this.d.log.warn('instance build failed', { instance_uuid: uuid, error: message });
  }

  /**
   * Builds and unshelves accepted but not placed since before `cutoff` (an
   * ISO time), and builds placed then but never cast: their scheduler died
   * between its 202 and the cast, or a reschedule was lost with it.
   * Scheduled (or cast) again, so that none stays in BUILD (or unshelving)
   * forever; a scheduler still at one of them loses nothing by it
   * (placement is a compare-and-set). Returns how many.
   */
  async resumeStale(cutoff: string, context: RpcContext): Promise<number> {
    const stale = (task: TaskState) =>
      this.d
        .db('instances')
        .where({ deleted: false, task_state: task })
        .whereNull('host')
        .andWhere('updated_at', '<', cutoff)
        .pluck('uuid') as Promise<string[]>;
    const builds = await stale(TaskState.SCHEDULING);
    for (const uuid of builds) await this.schedule(uuid, context);
    const unshelves = await stale(TaskState.UNSHELVING);
    for (const uuid of unshelves) this.unshelveLater(uuid, context);
    // Placed, but the compute never said it had the build: the cast died with its scheduler.
    const uncast = (await this.d
      .db('instances')
      .where({ deleted: false, task_state: TaskState.SCHEDULING })
      .whereNotNull('host')
      .andWhere('updated_at', '<', cutoff)
      .select('uuid', 'host', 'updated_at')) as {
      uuid: string;
      host: string;
      updated_at: string;
    }[];
    for (const row of uncast) {
      // Taken by one process only: the first to move updated_at on.
      const taken = await this.d
        .db('instances')
        .where({ uuid: row.uuid, task_state: TaskState.SCHEDULING, updated_at: row.updated_at })
        .update({ updated_at: now() });
      if (taken === 1) {
        const log = this.d.log.child({ instance_uuid: row.uuid, request_id: context.request_id });
        await this.castBuild(row.uuid, row.host, context, log);
      }
    }
    return builds.length + unshelves.length + uncast.length;
  }
}
