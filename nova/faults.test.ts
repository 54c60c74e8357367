import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from '../common/errors';
import { decodeFailure, encodeFailure, failureOf } from '../messaging/failures';
import { RemoteError } from '../messaging/transport';
import { berthErrorOf, NOVA_FAULTS } from './faults';

test('maps each berth error class to one nova.exception class', () => {
  const instanceGone = Object.assign(new NotFoundError('Instance abc could not be found.'), {
    instanceId: 'abc',
  });
  const cases: [Error, string, Record<string, unknown>][] = [
    [instanceGone, 'InstanceNotFound', { instance_id: 'abc', code: 404 }],
    [new NotFoundError('image x: no such file'), 'NotFound', { code: 404 }],
    [new ConflictError('container is paused'), 'InstanceInvalidState', { code: 400 }],
    [new InvalidArgumentError('bad'), 'InvalidInput', { reason: 'bad', code: 400 }],
    [new ResourceExhaustedError('full'), 'NovaException', { code: 500 }],
    [new UnavailableError('down'), 'NovaException', { code: 500 }],
    [new InternalError('bug'), 'NovaException', { code: 500 }],
    [new TypeError('x is undefined'), 'NovaException', { code: 500 }],
  ];
  for (const [err, className, kwargs] of cases) {
    const failure = failureOf(err, NOVA_FAULTS);
    assert.equal(failure.class, className, err.message);
    assert.equal(failure.module, 'nova.exception');
    assert.deepEqual(failure.kwargs, kwargs, err.message);
  }
});

test('things thrown that are not errors are NovaException', () => {
  const failure = failureOf('just a string', NOVA_FAULTS);
  assert.equal(failure.class, 'NovaException');
  assert.equal(failure.message, 'just a string');
});

test('a berth error round-trips as the nova.exception class and back', () => {
  const remote = decodeFailure(encodeFailure(new InvalidArgumentError('bad flavor'), NOVA_FAULTS));
  assert.deepEqual(
    [remote.exceptionClass, remote.module, remote.message, remote.kwargs],
    ['InvalidInput', 'nova.exception', 'bad flavor', { reason: 'bad flavor', code: 400 }],
  );
  const local = berthErrorOf(remote);
  assert.ok(local instanceof InvalidArgumentError);
  assert.equal(local.message, 'bad flavor');
});

test('a peer failure becomes the berth error it stands for, or stays remote', () => {
  const of = (cls: string) => berthErrorOf(new RemoteError(cls, 'nova.exception', 'm'));
  assert.ok(of('InstanceNotFound') instanceof NotFoundError);
  assert.ok(of('InstanceInvalidState') instanceof ConflictError);
  assert.ok(of('ValueError') instanceof InvalidArgumentError);
  assert.equal(of('NovaException'), undefined);
  assert.equal(of('constructor'), undefined, 'only the table, not what objects inherit');
});
