/**
 * Nova's instance state model (nova/compute/vm_states.py, task_states.py)
 * and the API status derived from it.
 */
export const VmState = {
  ACTIVE: 'active',
  BUILDING: 'building',
  PAUSED: 'paused',
  SUSPENDED: 'suspended',
  STOPPED: 'stopped',
  DELETED: 'deleted',
  ERROR: 'error',
  RESIZED: 'resized',
  SHELVED: 'shelved',
  SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;
export type VmState = (typeof VmState)[keyof typeof VmState];

export const TaskState = {
  SCHEDULING: 'scheduling',
  SPAWNING: 'spawning',
  DELETING: 'deleting',
  POWERING_OFF: 'powering-off',
  POWERING_ON: 'powering-on',
  REBOOTING: 'rebooting',
  REBOOTING_HARD: 'rebooting_hard',
  PAUSING: 'pausing',
  UNPAUSING: 'unpausing',
  SUSPENDING: 'suspending',
  RESUMING: 'resuming',
  IMAGE_SNAPSHOT: 'image_snapshot',
  IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading',
  REBUILDING: 'rebuilding',
  REBUILD_SPAWNING: 'rebuild_spawning',
  RESIZE_PREP: 'resize_prep',
  RESIZE_MIGRATING: 'resize_migrating',
  RESIZE_MIGRATED: 'resize_migrated',
  RESIZE_FINISH: 'resize_finish',
  RESIZE_REVERTING: 'resize_reverting',
  RESIZE_CONFIRMING: 'resize_confirming',
  SHELVING: 'shelving',
  SHELVING_IMAGE_PENDING_UPLOAD: 'shelving_image_pending_upload',
  SHELVING_IMAGE_UPLOADING: 'shelving_image_uploading',
  SHELVING_OFFLOADING: 'shelving_offloading',
  UNSHELVING: 'unshelving',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState] | null;

/** The API `status` Nova derives from vm_state and task_state. */
export function apiStatus(vm: VmState, task: TaskState): string {
  if (task === TaskState.REBOOTING) return 'REBOOT';
  if (task === TaskState.REBOOTING_HARD) return 'HARD_REBOOT';
  // Nova shows a rebuild in every vm_state it may start from (active, stopped, error).
  if (task === TaskState.REBUILDING || task === TaskState.REBUILD_SPAWNING) return 'REBUILD';
  if (RESIZE_TASKS.includes(task) && (vm === 'active' || vm === 'stopped')) return 'RESIZE';
  if (vm === 'resized' && task === TaskState.RESIZE_REVERTING) return 'REVERT_RESIZE';
  const byVm: Record<VmState, string> = {
    active: 'ACTIVE',
    building: 'BUILD',
    paused: 'PAUSED',
    suspended: 'SUSPENDED',
    stopped: 'SHUTOFF',
    deleted: 'DELETED',
    error: 'ERROR',
    resized: 'VERIFY_RESIZE',
    shelved: 'SHELVED',
    shelved_offloaded: 'SHELVED_OFFLOADED',
  };
  return byVm[vm];
}

/** The tasks of a resize before it waits for confirmation (Nova shows them all as RESIZE). */
const RESIZE_TASKS: TaskState[] = [
  TaskState.RESIZE_PREP,
  TaskState.RESIZE_MIGRATING,
  TaskState.RESIZE_MIGRATED,
  TaskState.RESIZE_FINISH,
];
