import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError } from '../../common/errors';
import { containerPowerState } from './container-driver';
import { PowerState } from '../../nova/power-state';
import { describeExit, guardTransition, unrequestedEndState } from './power-state';

const { NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED } = PowerState;
const exited = { code: 0, signal: 0, oomKilled: false };
const killed = { code: 137, signal: 9, oomKilled: false };
const oom = { code: 137, signal: 9, oomKilled: true };

test('an end nobody asked for: exiting is SHUTDOWN, a signal or the OOM killer CRASHED', () => {
  assert.equal(unrequestedEndState(exited), SHUTDOWN);
  assert.equal(unrequestedEndState({ ...exited, code: 3 }), SHUTDOWN);
  assert.equal(unrequestedEndState(killed), CRASHED);
  assert.equal(unrequestedEndState(oom), CRASHED);
  assert.deepEqual([exited, killed, oom].map(describeExit), [
    'exited with code 0',
    'killed by signal 9',
    'killed by the OOM killer (out of memory)',
  ]);
});

test('container state and intent give the power state', () => {
  assert.equal(containerPowerState({ state: 'running' }, 'running'), RUNNING);
  assert.equal(containerPowerState({ state: 'paused' }, 'paused'), PAUSED);
  assert.equal(containerPowerState({ state: 'paused' }, 'running'), PAUSED);
  assert.equal(containerPowerState({ state: 'paused' }, 'suspended'), SUSPENDED);
  assert.equal(containerPowerState({ state: 'created' }, 'running'), NOSTATE);
  const at = { finishedAt: 0 };
  assert.equal(
    containerPowerState({ state: 'exited', exit: { ...killed, ...at } }, 'stopped'),
    SHUTDOWN,
  );
  assert.equal(
    containerPowerState({ state: 'exited', exit: { ...killed, ...at } }, 'running'),
    CRASHED,
  );
  assert.equal(
    containerPowerState({ state: 'exited', exit: { ...exited, ...at } }, 'running'),
    SHUTDOWN,
  );
  assert.equal(
    containerPowerState({ state: 'exited', exit: { ...oom, ...at } }, 'suspended'),
    CRASHED,
  );
});

test('freezer operations and powerOn start only from their states', () => {
  const uuid = 'u';
  guardTransition(uuid, 'pause', RUNNING);
  guardTransition(uuid, 'resume', SUSPENDED);
  for (const s of [SHUTDOWN, CRASHED, NOSTATE, RUNNING]) guardTransition(uuid, 'powerOn', s);
  assert.throws(() => guardTransition(uuid, 'unpause', SUSPENDED), /is suspended: cannot unpause/);
  assert.throws(() => guardTransition(uuid, 'powerOn', PAUSED), ConflictError);
  assert.throws(() => guardTransition(uuid, 'suspend', SHUTDOWN), ConflictError);
});
