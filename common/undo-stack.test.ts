import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UndoStack } from './undo-stack';

test('rollback undoes newest first, past a failing step, once', async () => {
  const undone: string[] = [];
  const undo = new UndoStack();
  undo.push('a', () => void undone.push('a'));
  undo.push('b', () => {
    throw new Error('b cannot be undone');
  });
  undo.push('c', async () => void undone.push('c'));
  await undo.rollback();
  assert.deepEqual(undone, ['c', 'a']);
  await undo.rollback();
  assert.deepEqual(undone, ['c', 'a']);
});
