/** Nova's power states (nova/compute/power_state.py). */

/** The integers Nova stores and sends. */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

/** power_state names as versioned notification payloads spell them. */
const POWER_STATE_NAMES: Record<PowerState, string> = {
  [PowerState.NOSTATE]: 'pending',
  [PowerState.RUNNING]: 'running',
  [PowerState.PAUSED]: 'paused',
  [PowerState.SHUTDOWN]: 'shutdown',
  [PowerState.CRASHED]: 'crashed',
  [PowerState.SUSPENDED]: 'suspended',
};

export function powerStateName(state: PowerState): string {
  return POWER_STATE_NAMES[state];
}
