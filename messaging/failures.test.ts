import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../common/errors';
import { decodeBody } from './envelope';
import { decodeFailure, encodeFailure, failureOf, withRemoteFault } from './failures';
import { VALUE_ERROR_REPLY } from '../testing/messaging/oslo-captured';
import { PYTHON_FAULTS } from '../testing/messaging/python-faults';
import { RemoteError } from './transport';

test("an error without a fault of its own takes the vocabulary's; it has exactly the fields oslo serialises, and travels as a JSON string", () => {
  const encoded = encodeFailure(new NotFoundError('no such thing'), PYTHON_FAULTS);
  assert.equal(typeof encoded, 'string');
  const failure = JSON.parse(encoded);
  assert.deepEqual(Object.keys(failure), ['class', 'module', 'message', 'tb', 'args', 'kwargs']);
  assert.equal(failure.message, 'no such thing');
  assert.deepEqual(failure.args, ['no such thing']);
  assert.ok(failure.tb.length > 1);
  assert.ok(failure.tb.every((line: unknown) => typeof line === 'string' && line.endsWith('\n')));
  assert.match(failure.tb[0], /^NotFoundError: no such thing/);
  assert.deepEqual([failure.class, failure.module], ['Exception', 'builtins']);
});

test('an attached remoteFault names the class, its kwargs and optionally its own module', () => {
  const invalid = withRemoteFault(new ConflictError('Instance u in vm_state stopped.'), {
    class: 'InstanceInvalidState',
    kwargs: { attr: 'vm_state', instance_uuid: 'u', state: 'stopped', method: 'stop', code: 409 },
  });
  assert.equal(invalid.remoteFault.class, 'InstanceInvalidState');
  assert.deepEqual(failureOf(invalid, PYTHON_FAULTS), {
    ...failureOf(invalid, PYTHON_FAULTS),
    class: 'InstanceInvalidState',
    module: 'builtins',
    kwargs: { attr: 'vm_state', instance_uuid: 'u', state: 'stopped', method: 'stop', code: 409 },
  });
  const builtin = withRemoteFault(new Error('bad value'), {
    class: 'OtherError',
    module: 'other.module',
  });
  assert.deepEqual(
    [failureOf(builtin, PYTHON_FAULTS).class, failureOf(builtin, PYTHON_FAULTS).module],
    ['OtherError', 'other.module'],
  );
  assert.deepEqual(failureOf(builtin, PYTHON_FAULTS).kwargs, {});

  class ComputeNotFound extends NotFoundError {
    readonly remoteFault = { class: 'InstanceNotFound', kwargs: { instance_id: 'i-1', code: 404 } };
  }
  assert.equal(failureOf(new ComputeNotFound('gone'), PYTHON_FAULTS).class, 'InstanceNotFound');
});

test('a RemoteError is relayed with its original class, module, kwargs and traceback', () => {
  const remote = new RemoteError('ValueError', 'builtins', 'bad', { k: 1 }, ['tb line\n']);
  const failure = failureOf(remote, PYTHON_FAULTS);
  assert.deepEqual(
    [failure.class, failure.module, failure.kwargs, failure.tb],
    ['ValueError', 'builtins', { k: 1 }, ['tb line\n']],
  );
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

test('round-trips failures and strips the _Remote suffix of relayed ones', () => {
  const err = decodeFailure(encodeFailure(new InvalidArgumentError('bad flavor'), PYTHON_FAULTS));
  assert.deepEqual(
    [err.exceptionClass, err.module, err.message, err.kwargs],
    ['Exception', 'builtins', 'bad flavor', {}],
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
