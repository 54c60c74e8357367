import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tailLines } from './console';

test('tailLines keeps the last lines and the final newline', () => {
  assert.equal(tailLines('a\nb\nc\n', 2), 'b\nc\n');
  assert.equal(tailLines('a\nb\nc', 2), 'b\nc');
  assert.equal(tailLines('a\nb\n', 5), 'a\nb\n');
  assert.equal(tailLines('a\nb\n'), 'a\nb\n');
  assert.equal(tailLines('a\nb\n', 0), '');
  assert.equal(tailLines('', 3), '');
});
