import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenCache } from './token-cache';

test('entries live until their own deadline', () => {
  let now = 1000;
  const cache = new TokenCache<string>(10, () => now);
  cache.set('a', 'A', 2000);
  cache.set('b', 'B', 1500);
  now = 1499;
  assert.equal(cache.get('b'), 'B');
  now = 1500;
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a'), 'A');
  now = 2000;
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.size, 0);
});

test('past capacity the least recently used entry goes', () => {
  const cache = new TokenCache<number>(2, () => 0);
  cache.set('a', 1, 10);
  cache.set('b', 2, 10);
  assert.equal(cache.get('a'), 1); // a is now more recent than b
  cache.set('c', 3, 10);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a'), 1);
  assert.equal(cache.get('c'), 3);
  assert.equal(cache.size, 2);
});

test('null is a value, not a miss; an already expired set stores nothing', () => {
  const cache = new TokenCache<string | null>(2, () => 5);
  cache.set('x', null, 10);
  assert.equal(cache.get('x'), null);
  cache.set('y', 'Y', 5);
  assert.equal(cache.get('y'), undefined);
});

test('keys are digests, not tokens', () => {
  const key = TokenCache.keyOf('gAAAAAsecret');
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.ok(!key.includes('secret'));
});
