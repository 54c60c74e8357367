import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostState } from './host-state';
import { normalize, rankHosts, weighersFor } from './weighers';
import { schedulerConfig, silentLog } from '../../testing/api/scheduler-fixtures';

function hostState(host: string, freeMb: number): HostState {
  const size = { vcpus: 8, memoryMb: 8192, diskGb: 100 };
  return {
    host,
    zone: 'nova',
    up: true,
    disabled: false,
    total: size,
    capacity: size,
    used: { vcpus: 0, memoryMb: size.memoryMb - freeMb, diskGb: 0 },
  };
}

const input = {
  req: { instanceUuid: 'i', projectId: 'p', vcpus: 1, memoryMb: 1, diskGb: 0, ignoreHosts: [] },
};

test('normalize maps to 0..1 over the list, or from minval, and all-equal to 0', () => {
  assert.deepEqual(normalize([2, 4, 6]), [0, 0.5, 1]);
  assert.deepEqual(normalize([2, 4], 0), [0.5, 1]);
  assert.deepEqual(normalize([3, 3, 3]), [0, 0, 0]);
  assert.deepEqual(normalize([]), []);
});

test('free RAM decides the order; the multiplier’s sign flips it', () => {
  const hosts = [hostState('a', 1024), hostState('b', 4096), hostState('c', 2048)];
  const order = (ram: number) =>
    rankHosts(
      hosts,
      input,
      weighersFor(
        schedulerConfig({
          filter_scheduler: {
            ram_weight_multiplier: ram,
            cpu_weight_multiplier: 0,
            disk_weight_multiplier: 0,
          },
        }).filter_scheduler,
      ),
      silentLog,
    ).map((w) => w.host.host);
  assert.deepEqual(order(1), ['b', 'c', 'a']);
  assert.deepEqual(order(-1), ['a', 'c', 'b']);
});

test('overcommitted RAM weighs as 0, not below the emptiest host', () => {
  const hosts = [hostState('over', -512), hostState('full', 0), hostState('free', 1024)];
  const ranked = rankHosts(
    hosts,
    input,
    weighersFor(schedulerConfig().filter_scheduler),
    silentLog,
  );
  assert.equal(ranked[0].host.host, 'free');
  const weight = Object.fromEntries(ranked.map((w) => [w.host.host, w.weight]));
  assert.equal(weight.over, weight.full);
});
