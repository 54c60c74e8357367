import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachLimit } from './for-each-limit';

/** A call that stays under way until released, counting how many are at once. */
function gate() {
  let running = 0;
  let most = 0;
  const waiting: (() => void)[] = [];
  return {
    get most() {
      return most;
    },
    call: async () => {
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => waiting.push(resolve));
      running--;
    },
    releaseAll: () => {
      while (waiting.length) waiting.shift()!();
    },
    waiting: () => waiting.length,
  };
}

test('at most `limit` calls run at once, and every item is called', async () => {
  const g = gate();
  const seen: number[] = [];
  const done = forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    seen.push(n);
    await g.call();
  });
  // Released as each batch lines up, until every item has had its call.
  while (seen.length < 7 || g.waiting()) {
    await new Promise((r) => setImmediate(r));
    g.releaseAll();
  }
  await done;
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(g.most, 3);
});

test('a failure rejects, and no call starts after it', async () => {
  const seen: number[] = [];
  await assert.rejects(
    forEachLimit([1, 2, 3, 4], 1, async (n) => {
      seen.push(n);
      if (n === 2) throw new Error('two');
    }),
    /two/,
  );
  assert.deepEqual(seen, [1, 2]);
});
