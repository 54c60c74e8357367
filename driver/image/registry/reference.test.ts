import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../../common/errors';
import { formatReference, manifestReference, parseReference } from './reference';

const D = `sha256:${'ab'.repeat(32)}`;

test('references as Docker reads them: defaults for registry, library/ and tag', () => {
  const cases: [string, object][] = [
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
    ['user/app', { registry: 'docker.io', repository: 'user/app', tag: 'latest' }],
    [
      'index.docker.io/busybox',
      { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' },
    ],
    [
      '127.0.0.1:5000/busybox',
      { registry: '127.0.0.1:5000', repository: 'busybox', tag: 'latest' },
    ],
    ['localhost/a/b:v2', { registry: 'localhost', repository: 'a/b', tag: 'v2' }],
    [
      'quay.io/org/app_x.y-z__w',
      { registry: 'quay.io', repository: 'org/app_x.y-z__w', tag: 'latest' },
    ],
    [
      `127.0.0.1:5000/busybox@${D}`,
      { registry: '127.0.0.1:5000', repository: 'busybox', digest: D },
    ],
    [
      `127.0.0.1:5000/busybox:v1@${D}`,
      { registry: '127.0.0.1:5000', repository: 'busybox', tag: 'v1', digest: D },
    ],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseReference(text), want, text);
});

test('malformed references are InvalidArgumentError naming the reference', () => {
  for (const text of [
    '',
    'Busybox',
    'busybox:',
    'busybox:-bad',
    `busybox@sha256:${'0'.repeat(63)}`,
    'busybox@md5:abc',
    'a//b',
    '127.0.0.1:5000/',
    'has space',
    `x:${'t'.repeat(129)}`,
  ])
    assert.throws(
      () => parseReference(text),
      (err: Error) =>
        err instanceof InvalidArgumentError &&
        err.message.startsWith(`invalid image reference ${JSON.stringify(text)}`),
      text,
    );
});

test('format and manifest reference', () => {
  const r = parseReference(`127.0.0.1:5000/a/b:v1@${D}`);
  assert.equal(formatReference(r), `127.0.0.1:5000/a/b:v1@${D}`);
  assert.equal(manifestReference(r), D);
  assert.equal(manifestReference(parseReference('a')), 'latest');
});
