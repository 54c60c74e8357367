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
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState] | null;

/** The API `status` Nova derives from vm_state and task_state. */
export function apiStatus(vm: VmState, task: TaskState): string {
  if (task === TaskState.REBOOTING) return 'REBOOT';
  if (task === TaskState.REBOOTING_HARD) return 'HARD_REBOOT';
  // Nova shows a rebuild in every vm_state it may start from (active, stopped, error).
  if (task === TaskState.REBUILDING || task === TaskState.REBUILD_SPAWNING) return 'REBUILD';
  const byVm: Record<VmState, string> = {
    active: 'ACTIVE',
    building: 'BUILD',
    paused: 'PAUSED',
    suspended: 'SUSPENDED',
    stopped: 'SHUTOFF',
    deleted: 'DELETED',
    error: 'ERROR',
  };
  return byVm[vm];
}
