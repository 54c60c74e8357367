/**
 * native/helper/protocol.h is the protocol's one definition: every list and
 * limit monitor-protocol.ts mirrors must agree with it, name for name and
 * in order.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as protocol from './monitor-protocol';

function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const header = fs.readFileSync(path.join(projectRoot(), 'native', 'helper', 'protocol.h'), 'utf8');

/** The strings of an X-macro list `#define NAME(X) X(A, "a") X(B, "b") ...`. */
function xList(name: string): string[] {
  const start = header.indexOf(`#define ${name}(X)`);
  assert.notEqual(start, -1, `protocol.h declares ${name}`);
  const lines: string[] = [];
  for (const line of header.slice(start).split('\n')) {
    lines.push(line);
    if (!line.trimEnd().endsWith('\\')) break;
  }
  return [...lines.join('\n').matchAll(/X\(\s*\w+\s*,\s*"([^"]*)"\s*\)/g)].map((m) => m[1]);
}

test('the verbs, events, statuses and reply fields agree with protocol.h', () => {
  assert.deepEqual(xList('MON_VERBS'), [...protocol.VERBS]);
  assert.deepEqual(xList('MON_EVENTS'), [...protocol.EVENTS]);
  assert.deepEqual(xList('MON_STATUSES'), [...protocol.STATUSES]);
  assert.deepEqual(xList('MON_ERROR_FIELDS'), [...protocol.ERROR_FIELDS]);
  assert.deepEqual(xList('MON_EXIT_FIELDS'), [...protocol.EXIT_FIELDS]);
});

test('the spec keys agree with protocol.h', () => {
  assert.deepEqual(xList('MON_SPEC_KEYS'), [...protocol.SPEC_KEYS]);
});

test('the frame limit agrees with protocol.h', () => {
  const m = /#define MON_MAX_FRAME \((\d+)u << (\d+)\)/.exec(header);
  assert.ok(m, 'protocol.h declares MON_MAX_FRAME as (N << S)');
  assert.equal(Number(m[1]) * 2 ** Number(m[2]), protocol.MAX_FRAME);
});

test('a fault decodes with its errno name', () => {
  assert.deepEqual(
    protocol.decodeFault(['2', 'execve', '/bin/nope', "execve '/bin/nope': No such file"]),
    {
      errno: 2,
      code: 'ENOENT',
      syscall: 'execve',
      path: '/bin/nope',
      message: "execve '/bin/nope': No such file",
    },
  );
  assert.equal(protocol.decodeFault(['22', 'spec', '', 'spec: no id']).path, undefined);
});
