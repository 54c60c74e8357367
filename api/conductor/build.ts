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
import { NoValidHost, type Scheduler } from '../scheduler/scheduler';

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

  private async scheduleOnce(
    uuid: string,
    context: RpcContext,
    lastError: string | undefined,
    log: Logger,
  ): Promise<void> {
    const { db, scheduler, config } = this.d;
    const inst = await getInstance(db, uuid);
    // Deleted meanwhile, or already moved on: nothing to do.
    if (!inst || inst.task_state !== TaskState.SCHEDULING) return;
    await scheduler.release(uuid);
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
      host = await this.claimHost(inst, inst.tried_hosts);
    } catch (err) {
      if (!(err instanceof NoValidHost)) throw err;
      await this.fail(
        uuid,
        lastError ? `${err.message} Last exception: ${lastError}` : err.message,
      );
      return;
    }
    const tried = [...inst.tried_hosts, host];
    const updated = await db('instances')
      .where({ uuid, deleted: false, task_state: TaskState.SCHEDULING })
      .update({
        host,
        node: host,
        attempts: inst.attempts + 1,
        tried_hosts: JSON.stringify(tried),
        availability_zone: await this.zoneOf(host),
        updated_at: now(),
      });
    if (updated === 0) {
      // Deleted while the scheduler ran.
      await scheduler.release(uuid);
      return;
    }
    const image = await this.d.images.show(bootImageOf(inst));
    // Bound before the cast: the compute plugs what the network info says.
    const networkInfo = await this.d.instanceNetwork.bindForHost(uuid, host);
    const placed = (await getInstance(db, uuid)) as Instance;
    const blockDeviceMapping = await attachBuildVolumes(this.d.volumes, placed, host, context);
    await this.d.compute.buildAndRunInstance(
      placed,
      {
        image,
        networkInfo,
        blockDeviceMapping,
        requestedNetworks: inst.request_spec.networks,
        securityGroups: inst.request_spec.security_groups ?? ['default'],
        retry:
          max > 1
            ? { num_attempts: inst.attempts + 1, hosts: tried.map((h) => [h, h]) }
            : undefined,
      },
      context,
    );
    log.info('instance scheduled', { host, attempt: inst.attempts + 1 });
  }

  /** A host for `inst` (one its volumes are on, if any), claimed; NoValidHost when none fits. */
  private async claimHost(
    inst: Instance,
    ignoreHosts: string[],
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
      try {
        await this.unshelveOnce(uuid, context, log);
      } catch (err) {
        await this.unshelveFailed(uuid, (err as Error).message, log).catch((failed: Error) => {
          log.error('failed unshelve not recorded', { error: failed.message });
        });
      }
    });
  }

  /**
   * The task ends with the reason as the fault. An offloaded instance
   * gives back the host it was being placed on; one shelved but still on
   * its host (its offload failed) keeps host and claim.
   */
  private async unshelveFailed(uuid: string, message: string, log: Logger): Promise<void> {
    log.warn('unshelve not scheduled', { error: message });
    const inst = await getInstance(this.d.db, uuid);
    if (!inst || inst.task_state !== TaskState.UNSHELVING) return;
    const offloaded = inst.vm_state === VmState.SHELVED_OFFLOADED;
    if (offloaded) await this.d.scheduler.release(uuid);
    const t = now();
    await this.d
      .db('instances')
      .where({ uuid, deleted: false, task_state: TaskState.UNSHELVING })
      .update({
        ...(offloaded ? { host: null, node: null } : {}),
        task_state: null,
        fault: JSON.stringify({ code: 500, message, created_at: t }),
        updated_at: t,
      });
    await finishAction(this.d.db, uuid, { host: null, error: message });
  }

  private async unshelveOnce(uuid: string, context: RpcContext, log: Logger): Promise<void> {
    const { db } = this.d;
    const inst = await getInstance(db, uuid);
    if (!inst || inst.task_state !== TaskState.UNSHELVING) return;
    const shelvedImage = inst.request_spec.shelved_image;
    // The image first: a shelved image gone is reason enough not to take a host.
    const image = await this.d.images.show(shelvedImage ?? bootImageOf(inst));
    // One shelved but not offloaded is unshelved where it is.
    const host = await this.claimHost(inst, [], inst.host ?? undefined);
    await db('instances')
      .where({ uuid, deleted: false, task_state: TaskState.UNSHELVING })
      .update({ host, node: host, availability_zone: await this.zoneOf(host), updated_at: now() });
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

  private async zoneOf(host: string): Promise<string> {
    const s = (await computeServices(this.d.db)).find((c) => c.host === host);
    return s?.availability_zone ?? this.d.config.DEFAULT.default_availability_zone;
  }

  private async fail(uuid: string, message: string): Promise<void> {
    const { db, scheduler } = this.d;
    await scheduler.release(uuid);
    const t = now();
    await db('instances')
      .where({ uuid, deleted: false })
      .update({
        vm_state: VmState.ERROR,
        task_state: null,
        fault: JSON.stringify({ code: 500, message, created_at: t }),
        updated_at: t,
      });
    await finishAction(db, uuid, { host: null, error: message });
    // A failed build leaves no port behind.
    await releasePorts(this.d.instanceNetwork, uuid, this.d.log);
    this.d.log.warn('instance build failed', { instance_uuid: uuid, error: message });
  }

  /**
   * Instances accepted but never scheduled (the API stopped between its
   * 202 and the cast): scheduled again, so none stays in BUILD (or
   * unshelving) forever.
   */
  async resumeUnscheduled(context: RpcContext): Promise<number> {
    const rows = await this.d
      .db('instances')
      .where({ deleted: false, task_state: TaskState.SCHEDULING })
      .whereNull('host')
      .select('uuid');
    for (const { uuid } of rows as { uuid: string }[]) await this.schedule(uuid, context);
    // Unshelves accepted but not yet cast, likewise.
    const unshelving = await this.d
      .db('instances')
      .where({ deleted: false, task_state: TaskState.UNSHELVING })
      .whereNull('host')
      .select('uuid');
    for (const { uuid } of unshelving as { uuid: string }[]) this.unshelveLater(uuid, context);
    return rows.length + unshelving.length;
  }
}
