import assert from 'node:assert/strict';
import { test } from 'node:test';
import { novaTailLog } from './console-tail';

test("the console tail has as many '\\n'-separated parts as asked, as Nova's _tail_log", () => {
  const log = 'one\ntwo\nthree\nfour\n';
  // Each expectation is Python's '\n'.join(log.split('\n')[-n:]).
  assert.equal(novaTailLog(log, 3), 'three\nfour\n');
  assert.equal(novaTailLog(log, 3).split('\n').length, 3);
  assert.equal(novaTailLog('one\ntwo', 1), 'two');
  assert.equal(novaTailLog(log, 100), log);
  assert.equal(novaTailLog(log, 0), '');
});
