import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from './atomic-file';

test('writeFileAtomic replaces the content and leaves no temporary file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-atomic-'));
  const file = path.join(dir, 'state.json');
  await writeFileAtomic(file, 'one');
  await writeFileAtomic(file, 'two');
  assert.equal(fs.readFileSync(file, 'utf8'), 'two');
  assert.deepEqual(fs.readdirSync(dir), ['state.json']);
  await assert.rejects(writeFileAtomic(path.join(dir, 'missing', 'x'), 'three'), /ENOENT/);
  assert.deepEqual(fs.readdirSync(dir), ['state.json']);
  fs.rmSync(dir, { recursive: true });
});
