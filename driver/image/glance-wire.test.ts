import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../common/errors';
import { configFromProperty } from './glance-wire';

test('the berth_config property carries the whole runtime config, and only well-formed ones', () => {
  const config = {
    entrypoint: ['/e'],
    cmd: ['c'],
    env: ['FOO=bar'],
    workingDir: '/srv',
    user: 'nobody:nogroup',
  };
  assert.deepEqual(configFromProperty(JSON.stringify(config)), config);
  assert.deepEqual(configFromProperty('{"cmd":["x"],"other":1}'), { cmd: ['x'] });
  assert.equal(configFromProperty(undefined), undefined);
  for (const bad of ['{"env":"FOO=bar"}', '{"user":65534}', '{"workingDir":["/"]}', '[]', 'x'])
    assert.throws(() => configFromProperty(bad), InvalidArgumentError, bad);
});
