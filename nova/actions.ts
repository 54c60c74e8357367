/**
 * The instance actions, in Nova's terms, as one table that nova-api and
 * nova-compute both read: which vm_states let an action through (nova-api's
 * check_instance_state), and for a state-changing action the task_state it
 * runs under and the vm_state it ends in. The API checks and records the
 * task; the compute checks again (the state may have moved on while the
 * cast was queued) and finishes it.
 */
import { TaskState, VmState } from './states';

const { ACTIVE, PAUSED, SUSPENDED, STOPPED, ERROR, BUILDING } = VmState;

/** An action nova-api lets through only in some vm_states. */
export interface GuardedAction {
  /** the compute RPC method, as InstanceInvalidState messages name it */
  method: string;
  allowed: readonly VmState[];
}

/** A state-changing action: the API records its task, the compute does it. */
export interface Transition extends GuardedAction {
  /** the name os-instance-actions records */
  name: string;
  task: Exclude<TaskState, null>;
  /** the versioned notification action: instance.<event>.start/end/error */
  event: string;
  /** the vm_state once the driver has done its part */
  vmState: VmState;
}

const transition = <Method extends string>(
  name: string,
  method: Method,
  allowed: readonly VmState[],
  task: Exclude<TaskState, null>,
  event: string,
  vmState: VmState,
) => ({ name, method, allowed, task, event, vmState }) satisfies Transition;

const ANY_BUT_BUILDING = [ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR] as const;
/** Every state but building, a server awaiting resize confirmation included: it runs, and can go. */
const ANY_SETTLED = [...ANY_BUT_BUILDING, VmState.RESIZED] as const;

export const TRANSITIONS = {
  stop: transition(
    'stop',
    'stop_instance',
    [ACTIVE, ERROR],
    TaskState.POWERING_OFF,
    'power_off',
    STOPPED,
  ),
  start: transition(
    'start',
    'start_instance',
    [STOPPED],
    TaskState.POWERING_ON,
    'power_on',
    ACTIVE,
  ),
  rebootSoft: transition(
    'reboot',
    'reboot_instance',
    ANY_BUT_BUILDING,
    TaskState.REBOOTING,
    'reboot',
    ACTIVE,
  ),
  rebootHard: transition(
    'reboot',
    'reboot_instance',
    ANY_BUT_BUILDING,
    TaskState.REBOOTING_HARD,
    'reboot',
    ACTIVE,
  ),
  pause: transition('pause', 'pause_instance', [ACTIVE], TaskState.PAUSING, 'pause', PAUSED),
  unpause: transition(
    'unpause',
    'unpause_instance',
    [PAUSED],
    TaskState.UNPAUSING,
    'unpause',
    ACTIVE,
  ),
  suspend: transition(
    'suspend',
    'suspend_instance',
    [ACTIVE],
    TaskState.SUSPENDING,
    'suspend',
    SUSPENDED,
  ),
  resume: transition(
    'resume',
    'resume_instance',
    [SUSPENDED],
    TaskState.RESUMING,
    'resume',
    ACTIVE,
  ),
} as const;

export type NovaTransition = (typeof TRANSITIONS)[keyof typeof TRANSITIONS];
/** The compute RPC methods that carry out a transition. */
export type TransitionMethod = NovaTransition['method'];

export const TERMINATE: GuardedAction = {
  method: 'terminate_instance',
  allowed: [BUILDING, ...ANY_SETTLED, VmState.SHELVED, VmState.SHELVED_OFFLOADED],
};
export const CONSOLE_OUTPUT: GuardedAction = {
  method: 'get_console_output',
  allowed: ANY_SETTLED,
};
export const DIAGNOSTICS: GuardedAction = {
  method: 'get_instance_diagnostics',
  allowed: ANY_SETTLED,
};

/** os-interface attach and detach: nova-api's check_instance_state for both. */
export const ATTACH_INTERFACE: GuardedAction = {
  method: 'attach_interface',
  allowed: [ACTIVE, PAUSED, STOPPED],
};
export const DETACH_INTERFACE: GuardedAction = {
  method: 'detach_interface',
  allowed: [ACTIVE, PAUSED, STOPPED],
};

/**
 * os-volume_attachments attach and detach: nova-api's check_instance_state
 * less the shelved and resized states berth's instances have no volumes in.
 */
// An offloaded server's volumes change in the database only; unshelve mounts what is there then.
export const ATTACH_VOLUME: GuardedAction = {
  method: 'attach_volume',
  allowed: [ACTIVE, PAUSED, STOPPED, VmState.SHELVED_OFFLOADED],
};
export const DETACH_VOLUME: GuardedAction = {
  method: 'detach_volume',
  allowed: [ACTIVE, PAUSED, STOPPED, VmState.SHELVED_OFFLOADED],
};

/**
 * createImage: nova-api's check_instance_state for snapshot. The instance
 * keeps its vm_state; the task runs image_snapshot → image_pending_upload →
 * image_uploading → None.
 */
export const SNAPSHOT: GuardedAction & { name: string; task: Exclude<TaskState, null> } = {
  name: 'createImage',
  method: 'snapshot_instance',
  allowed: [ACTIVE, STOPPED, PAUSED, SUSPENDED],
  task: TaskState.IMAGE_SNAPSHOT,
};

/** rebuild: rebuilding → rebuild_spawning → None, ending active (Nova's rebuild_instance). */
export const REBUILD: GuardedAction & { name: string; task: Exclude<TaskState, null> } = {
  name: 'rebuild',
  method: 'rebuild_instance',
  allowed: [ACTIVE, STOPPED, ERROR],
  task: TaskState.REBUILDING,
};

/** A state-changing action the API records under a task and the compute finishes. */
type TaskedAction = GuardedAction & { name: string; task: Exclude<TaskState, null> };

/**
 * resize (and migrate, which is a resize to the same flavor elsewhere):
 * resize_prep → resize_migrating → resize_migrated → resize_finish, ending
 * resized (VERIFY_RESIZE) until confirmed or reverted.
 */
export const RESIZE: TaskedAction = {
  name: 'resize',
  method: 'resize_instance',
  allowed: [ACTIVE, STOPPED],
  task: TaskState.RESIZE_PREP,
};
/** confirmResize: back to active (or stopped) with the new flavor. */
export const CONFIRM_RESIZE: TaskedAction = {
  name: 'confirmResize',
  method: 'confirm_resize',
  allowed: [VmState.RESIZED],
  task: TaskState.RESIZE_CONFIRMING,
};
/** revertResize: the old flavor's limits again (REVERT_RESIZE meanwhile). */
export const REVERT_RESIZE: TaskedAction = {
  name: 'revertResize',
  method: 'revert_resize',
  allowed: [VmState.RESIZED],
  task: TaskState.RESIZE_REVERTING,
};

/**
 * shelve: the compute snapshots the instance into the `<name>-shelved`
 * image (shelving → shelving_image_pending_upload → shelving_image_uploading),
 * then, berth's shelved_offload_time being 0, offloads it at once
 * (shelving_offloading): the container goes, its host's resources are
 * released, and it ends shelved_offloaded with no host. A volume-backed
 * instance keeps its root on its volume: no image, offloaded straight away.
 */
export const SHELVE: TaskedAction = {
  name: 'shelve',
  method: 'shelve_instance',
  allowed: [ACTIVE, STOPPED, PAUSED, SUSPENDED],
  task: TaskState.SHELVING,
};
/** shelveOffload (admin): a shelved instance still on its host leaves it. */
export const SHELVE_OFFLOAD: TaskedAction = {
  name: 'shelveOffload',
  method: 'shelve_offload_instance',
  allowed: [VmState.SHELVED],
  task: TaskState.SHELVING_OFFLOADING,
};
/** unshelve: scheduled again (to its volumes' host), spawned from the shelved image, active. */
export const UNSHELVE: TaskedAction = {
  name: 'unshelve',
  method: 'unshelve_instance',
  allowed: [VmState.SHELVED, VmState.SHELVED_OFFLOADED],
  task: TaskState.UNSHELVING,
};
