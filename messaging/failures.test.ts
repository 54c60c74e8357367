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
import { decodeBody } from './envelope';
import { decodeFailure, encodeFailure, failureOf, withNovaFault } from './failures';
import { VALUE_ERROR_REPLY } from '../testing/messaging/oslo-captured';
import { RemoteError } from './transport';

test('a failure has exactly the fields oslo serialises, and travels as a JSON string', () => {
  const encoded = encodeFailure(new NotFoundError('no such thing'));
  assert.equal(typeof encoded, 'string');
  const failure = JSON.parse(encoded);
  assert.deepEqual(Object.keys(failure), ['class', 'module', 'message', 'tb', 'args', 'kwargs']);
  assert.equal(failure.message, 'no such thing');
  assert.deepEqual(failure.args, ['no such thing']);
  assert.ok(failure.tb.length > 1);
  assert.ok(failure.tb.every((line: unknown) => typeof line === 'string' && line.endsWith('\n')));
  assert.match(failure.tb[0], /^NotFoundError: no such thing/);
});

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
    const failure = failureOf(err);
    assert.equal(failure.class, className, err.message);
    assert.equal(failure.module, 'nova.exception');
    assert.deepEqual(failure.kwargs, kwargs, err.message);
  }
});

test('an attached novaFault names the class, its kwargs and optionally another module', () => {
  const invalid = withNovaFault(new ConflictError('Instance u in vm_state stopped.'), {
    class: 'InstanceInvalidState',
    kwargs: { attr: 'vm_state', instance_uuid: 'u', state: 'stopped', method: 'stop', code: 409 },
  });
  assert.equal(invalid.novaFault.class, 'InstanceInvalidState');
  assert.deepEqual(failureOf(invalid), {
    ...failureOf(invalid),
    class: 'InstanceInvalidState',
    module: 'nova.exception',
    kwargs: { attr: 'vm_state', instance_uuid: 'u', state: 'stopped', method: 'stop', code: 409 },
  });
  const builtin = withNovaFault(new Error('bad value'), {
    class: 'ValueError',
    module: 'builtins',
  });
  assert.deepEqual(
    [failureOf(builtin).class, failureOf(builtin).module],
    ['ValueError', 'builtins'],
  );
  assert.deepEqual(failureOf(builtin).kwargs, {});

  class ComputeNotFound extends NotFoundError {
    readonly novaFault = { class: 'InstanceNotFound', kwargs: { instance_id: 'i-1', code: 404 } };
  }
  assert.equal(failureOf(new ComputeNotFound('gone')).class, 'InstanceNotFound');
});

test('a RemoteError is relayed with its original class, module, kwargs and traceback', () => {
  const remote = new RemoteError('ValueError', 'builtins', 'bad', { k: 1 }, ['tb line\n']);
  const failure = failureOf(remote);
  assert.deepEqual(
    [failure.class, failure.module, failure.kwargs, failure.tb],
    ['ValueError', 'builtins', { k: 1 }, ['tb line\n']],
  );
});

test('things thrown that are not errors still make a failure', () => {
  const failure = failureOf('just a string');
  assert.equal(failure.class, 'NovaException');
  assert.equal(failure.message, 'just a string');
});

test('decodes the failure of a reply captured from an oslo server', () => {
  const reply = decodeBody(Buffer.from(VALUE_ERROR_REPLY), { contentType: 'application/json' });
  const err = decodeFailure(reply.failure as string);
  assert.ok(err instanceof RemoteError);
  assert.equal(err.exceptionClass, 'ValueError');
  assert.equal(err.module, 'builtins');
  assert.equal(err.message, 'Instance 6b3f0a52-5c0e-4d5e-9a8e-0b7c1e2f3a4b could not be found.');
  assert.deepEqual(err.kwargs, {});
  assert.match(err.traceback[0], /^Traceback/);
});

test('round-trips berth failures and strips the _Remote suffix of relayed ones', () => {
  const err = decodeFailure(encodeFailure(new InvalidArgumentError('bad flavor')));
  assert.deepEqual(
    [err.exceptionClass, err.module, err.message, err.kwargs],
    ['InvalidInput', 'nova.exception', 'bad flavor', { reason: 'bad flavor', code: 400 }],
  );
  const relayed = JSON.stringify({
    class: 'InstanceNotFound_Remote',
    module: 'nova.exception_Remote',
    message: 'gone',
  });
  assert.deepEqual(
    [decodeFailure(relayed).exceptionClass, decodeFailure(relayed).module],
    ['InstanceNotFound', 'nova.exception'],
  );
  const partial = decodeFailure(JSON.stringify({ class: 'X_Remote', module: 'm' }));
  assert.equal(partial.exceptionClass, 'X_Remote', 'only stripped when both carry the suffix');
});

test('a failure that is not JSON still becomes a RemoteError', () => {
  const err = decodeFailure('Traceback: boom');
  assert.ok(err instanceof RemoteError);
  assert.equal(err.message, 'Traceback: boom');
});
