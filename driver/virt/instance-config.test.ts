import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { berthSchema } from '../../config/schema';
import { DEFAULT_ENV } from '../runtime/security';
import { validateConfig } from '../runtime/spec';
import type { InstanceSpec } from '../../nova/instance-object';
import { instanceContainerConfig, instanceHostname } from './instance-config';

const UUID = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
const compute = berthSchema.validate({}).value!.compute;

const instance = (overrides: Partial<InstanceSpec> = {}): InstanceSpec => ({
  uuid: UUID,
  name: 'instance-00000001',
  hostname: 'web-1',
  vcpus: 2,
  memoryMb: 512,
  rootGb: 10,
  imageRef: 'img',
  networkInfo: [],
  ...overrides,
});

describe('instance container config', () => {
  test('the flavor becomes memory, cpu quota and shares; pids are always capped', () => {
    const config = instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute);
    assert.deepEqual(config.limits, {
      memoryBytes: 512 << 20,
      cpus: 2,
      cpuShares: 2048,
      pids: 4096,
    });
    assert.equal(config.id, UUID);
    assert.deepEqual(config.network, { mode: 'none' });
    assert.deepEqual(config.command, ['/sbin/init']);
    validateConfig(config);
  });

  test('the flavor sizes the root disk, unless the writable layer is on a root volume', () => {
    const local = instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute);
    assert.equal(local.rootDiskBytes, 10 * 2 ** 30);
    const onVolume = instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute, {
      writableDir: '/var/lib/berth/volumes/v/mnt/root',
    });
    assert.deepEqual(
      [onVolume.rootDiskBytes, onVolume.writableDir],
      [undefined, '/var/lib/berth/volumes/v/mnt/root'],
    );
    validateConfig(onVolume);
    assert.throws(
      () => validateConfig({ ...onVolume, rootDiskBytes: 2 ** 30 }),
      /no root disk with it/,
    );
    assert.throws(() => validateConfig({ ...onVolume, writableDir: 'rel' }), /absolute/);
  });

  test('an instance with ports joins their namespace and loses NET_RAW', () => {
    const config = instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute, {
      netnsPath: '/ns/i',
    });
    assert.deepEqual(config.network, { mode: 'netns', path: '/ns/i' });
    assert.ok(config.capabilities && !config.capabilities.includes('NET_RAW'));
    assert.ok(config.capabilities.includes('NET_BIND_SERVICE'));
    assert.equal(
      instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute).capabilities,
      undefined,
    );
    validateConfig(config);
  });

  test('console log and user namespace follow [compute]', () => {
    const userns = { ...compute, user_namespace: true, console_log_max_bytes: 8192 };
    const config = instanceContainerConfig(instance(), { properties: {} }, ['/l'], userns);
    assert.deepEqual(config.userNamespace, { base: 100000, size: 65536 });
    assert.deepEqual(config.consoleLog, { maxBytes: 8192, backups: 1 });
    assert.equal(
      instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute).userNamespace,
      undefined,
    );
  });

  test('the command comes from the image', () => {
    const config = instanceContainerConfig(
      instance(),
      { config: { cmd: ['/bin/app'] }, properties: {} },
      ['/l'],
      compute,
    );
    assert.deepEqual(config.command, ['/bin/app']);
  });

  test("the image's env, working directory and resolved user reach the container", () => {
    const config = instanceContainerConfig(
      instance(),
      {
        config: { cmd: ['/bin/app'], env: ['FOO=bar'], workingDir: '/srv', user: 'nobody' },
        properties: {},
        user: { uid: 65534, gid: 65534, groups: [7], home: '/home' },
      },
      ['/l'],
      { ...compute, user_namespace: true },
    );
    assert.deepEqual(config.env, [...DEFAULT_ENV, 'FOO=bar', 'HOME=/home']);
    assert.equal(config.cwd, '/srv');
    assert.deepEqual(config.user, { uid: 65534, gid: 65534, groups: [7] });
    validateConfig(config);
    const plain = instanceContainerConfig(instance(), { properties: {} }, ['/l'], compute);
    assert.deepEqual([plain.env, plain.cwd, plain.user], [DEFAULT_ENV, '/', undefined]);
  });

  test('hostnames are sanitized as Nova does, else the uuid prefix', () => {
    const cases: [string | undefined, string][] = [
      ['web-1', 'web-1'],
      ['My Web_Server.example', 'my-web-server-example'],
      ['--ünïcode!!--', 'ncode'],
      ['x'.repeat(70), 'x'.repeat(63)],
      [`${'a'.repeat(62)}-b`, 'a'.repeat(62)],
      ['!!!', '1b4e28ba'],
      [undefined, '1b4e28ba'],
    ];
    for (const [hostname, expected] of cases) {
      const name = instanceHostname({ uuid: UUID, hostname });
      assert.equal(name, expected, String(hostname));
      validateConfig(
        instanceContainerConfig(instance({ hostname }), { properties: {} }, ['/l'], compute),
      );
    }
  });
});
