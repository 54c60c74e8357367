/**
 * The power-state rules every ComputeDriver follows, so the manager sees
 * the same answers from the FakeDriver as from real containers.
 */
import { ConflictError } from '../../common/errors';
import { PowerState, powerStateName } from '../../nova/power-state';

const { NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED } = PowerState;

/** How a workload ended (the runtime's ExitStatus satisfies it). */
export interface WorkloadExit {
  code: number;
  /** the signal that killed it, 0 when it exited */
  signal: number;
  oomKilled: boolean;
}

/**
 * An end the driver did not ask for. A workload that exits, with any
 * code, shut itself down: its init returned, as a guest that powers off
 * (SHUTDOWN). One the kernel or someone else killed did not choose to
 * stop (CRASHED): the OOM killer, or a signal berth did not send. Ends
 * berth caused (power off, reboot, destroy) are SHUTDOWN and never get
 * here.
 */
export function unrequestedEndState(exit: WorkloadExit): PowerState {
  return exit.oomKilled || exit.signal !== 0 ? CRASHED : SHUTDOWN;
}

export function describeExit(exit: WorkloadExit): string {
  if (exit.oomKilled) return 'killed by the OOM killer (out of memory)';
  if (exit.signal !== 0) return `killed by signal ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

export type GuardedOperation = 'pause' | 'unpause' | 'suspend' | 'resume' | 'powerOn';

/** The power states each operation starts from; power off, reboot and destroy start from any. */
const STARTS_FROM: Record<GuardedOperation, readonly PowerState[]> = {
  pause: [RUNNING],
  unpause: [PAUSED],
  suspend: [RUNNING],
  resume: [SUSPENDED],
  // Powering on a running instance is a no-op, as Nova's drivers make it.
  powerOn: [RUNNING, SHUTDOWN, CRASHED, NOSTATE],
};

export function guardTransition(uuid: string, operation: GuardedOperation, current: PowerState) {
  if (!STARTS_FROM[operation].includes(current))
    throw new ConflictError(
      `instance ${uuid} is ${powerStateName(current)}: cannot ${operation} it`,
    );
}
