/**
 * Nova's instance state model (nova/compute/vm_states.py, task_states.py,
 * power_state.py) and which compute actions each vm_state allows, as
 * nova-api's check_instance_state decorators allow them.
 */
import { PowerState } from '../virt/driver';

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
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState] | null;

/** power_state names as versioned notification payloads spell them. */
export const POWER_STATE_NAMES: Record<number, string> = {
  [PowerState.NOSTATE]: 'pending',
  [PowerState.RUNNING]: 'running',
  [PowerState.PAUSED]: 'paused',
  [PowerState.SHUTDOWN]: 'shutdown',
  [PowerState.CRASHED]: 'crashed',
  [PowerState.SUSPENDED]: 'suspended',
};

export type Action =
  | 'stop'
  | 'start'
  | 'reboot_soft'
  | 'reboot_hard'
  | 'pause'
  | 'unpause'
  | 'suspend'
  | 'resume'
  | 'terminate'
  | 'console'
  | 'diagnostics';

const { ACTIVE, PAUSED, SUSPENDED, STOPPED, ERROR, BUILDING } = VmState;

/** vm_states in which nova-api lets each action through. */
export const ALLOWED: Record<Action, readonly VmState[]> = {
  stop: [ACTIVE, ERROR],
  start: [STOPPED],
  reboot_soft: [ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR],
  reboot_hard: [ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR],
  pause: [ACTIVE],
  unpause: [PAUSED],
  suspend: [ACTIVE],
  resume: [SUSPENDED],
  terminate: [ACTIVE, BUILDING, PAUSED, SUSPENDED, STOPPED, ERROR],
  console: [ACTIVE, PAUSED, SUSPENDED, STOPPED, ERROR],
  diagnostics: [ACTIVE, PAUSED, SUSPENDED, STOPPED, ERROR],
};

/** The API `status` Nova derives from vm_state and task_state. */
export function apiStatus(vm: VmState, task: TaskState): string {
  if (task === TaskState.REBOOTING) return 'REBOOT';
  if (task === TaskState.REBOOTING_HARD) return 'HARD_REBOOT';
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
