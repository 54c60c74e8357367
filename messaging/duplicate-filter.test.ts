import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuplicateFilter } from './duplicate-filter';

test('runs a handling once per id and hands duplicates the original', async () => {
  const filter = new DuplicateFilter();
  let runs = 0;
  let finish!: () => void;
  const first = filter.run('a', () => {
    runs++;
    return new Promise<void>((resolve) => (finish = resolve));
  });
  assert.equal(first.duplicate, false);
  const second = filter.run('a', async () => void runs++);
  assert.equal(second.duplicate, true);
  assert.equal(runs, 1);

  let secondDone = false;
  void second.done.then(() => (secondDone = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(secondDone, false, 'a duplicate waits until the original is handled');
  finish();
  await second.done;
  assert.equal(filter.run('a', async () => void runs++).duplicate, true, 'and is remembered after');
  assert.equal(runs, 1);
});

test('a failed handling still counts as handled', async () => {
  const filter = new DuplicateFilter();
  const first = filter.run('x', () => Promise.reject(new Error('boom')));
  await assert.rejects(first.done, /boom/);
  const again = filter.run('x', async () => assert.fail('must not run again'));
  assert.equal(again.duplicate, true);
  await again.done;
});

test('remembers the last `capacity` ids, forgetting the oldest', () => {
  const filter = new DuplicateFilter(1024);
  const noop = async () => undefined;
  for (let i = 0; i < 1025; i++) filter.run(`id-${i}`, noop);
  assert.equal(filter.run('id-0', noop).duplicate, false, 'the oldest was forgotten');
  assert.equal(filter.run('id-2', noop).duplicate, true);
  assert.equal(filter.run('id-1024', noop).duplicate, true);
});
