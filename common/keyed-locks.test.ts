import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLocks } from './keyed-locks';

test('operations on one instance run one at a time, in order, past failures', async () => {
  const locks = new KeyedLocks();
  const trace: string[] = [];
  const op = (name: string, ms: number, fail = false) =>
    locks.run('a', async () => {
      trace.push(`${name}:start`);
      await sleep(ms);
      trace.push(`${name}:end`);
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([op('one', 30, true), op('two', 5), op('three', 1)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'fulfilled', 'fulfilled'],
  );
  assert.deepEqual(trace, [
    'one:start',
    'one:end',
    'two:start',
    'two:end',
    'three:start',
    'three:end',
  ]);
});

test('operations on different instances overlap', async () => {
  const locks = new KeyedLocks();
  let inside = 0;
  let most = 0;
  const op = (uuid: string) =>
    locks.run(uuid, async () => {
      most = Math.max(most, ++inside);
      await sleep(20);
      inside--;
    });
  await Promise.all([op('a'), op('b'), op('c')]);
  assert.equal(most, 3);
});
