/**
 * The scheduler seam: pick a host for one instance and claim its
 * resources there in the database, so that concurrent requests (from this
 * or another API process) never overcommit a host.
 */
export interface ScheduleRequest {
  instanceUuid: string;
  projectId: string;
  vcpus: number;
  memoryMb: number;
  /** root_gb + ephemeral_gb + swap/1024, as Nova's disk filter counts */
  diskGb: number;
  /** the zone the user asked for; undefined = any */
  availabilityZone?: string;
  /** the server group the instance joins, if any */
  group?: { uuid: string; policy: string };
  /** hosts already tried for this instance (reschedules) */
  ignoreHosts: string[];
}

/** No host passed the filters, or every claim failed: Nova's NoValidHost. */
export class NoValidHost extends Error {
  constructor(reason = 'There are not enough hosts available.') {
    super(`No valid host was found. ${reason}`);
    this.name = 'NoValidHost';
  }
}

export interface Scheduler {
  /** the chosen host, with an allocation for the instance already recorded there */
  selectAndClaim(req: ScheduleRequest): Promise<string>;
  /** drops the instance's allocation (on delete, or before a reschedule); idempotent */
  release(instanceUuid: string): Promise<void>;
}
