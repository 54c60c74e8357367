import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { UnavailableError } from '../../common/errors';
import { computeDriverConformance } from './compute-driver-conformance';
import { type InstanceSpec } from '../../nova/instance-object';
import { PowerState } from '../../nova/power-state';
import { FakeDriver } from './fake-driver';
import { FakeImageService } from './fake-image-service';
import { FakeVolumes } from './fake-volumes';
import { buildVif } from '../network/vif-builder';

computeDriverConformance('FakeDriver', async () => {
  const images = new FakeImageService();
  const volumes = new FakeVolumes();
  const driver = new FakeDriver(undefined, images, volumes);
  return {
    driver,
    host: 'fake-host',
    image: { id: randomUUID(), name: 'fake-image' },
    bootMarker: /booted/,
    endWorkload: async (instance, how) =>
      driver.endWorkload(
        instance.uuid,
        how === 'exit'
          ? { code: 0, signal: 0, oomKilled: false }
          : { code: 137, signal: 9, oomKilled: false },
      ),
    volumes: { service: volumes },
    ports: {
      vif: async () => buildVif(),
      plugged: async (instance) => driver.pluggedVifs(instance.uuid).map((v) => v.id),
    },
    snapshots: { images },
    cleanup: async () => {},
  };
});

const instance = (): InstanceSpec => ({
  uuid: randomUUID(),
  name: 'unit',
  vcpus: 1,
  memoryMb: 64,
  rootGb: 1,
  imageRef: 'img',
  networkInfo: [],
});

test('FakeDriver: failNext fails one call and changes nothing', async () => {
  const driver = new FakeDriver();
  const i = instance();
  driver.failNext('spawn', new UnavailableError('no capacity'));
  await assert.rejects(driver.spawn(i, { id: 'img' }), UnavailableError);
  assert.equal(await driver.instanceExists(i.uuid), false);
  await driver.spawn(i, { id: 'img' });
  assert.equal((await driver.getInfo(i)).state, PowerState.RUNNING);
});

test('FakeDriver: an OOM kill is CRASHED and shows in diagnostics', async () => {
  const driver = new FakeDriver();
  const i = instance();
  await driver.spawn(i, { id: 'img' });
  driver.endWorkload(i.uuid, { code: 137, signal: 9, oomKilled: true });
  assert.equal((await driver.getInfo(i)).state, PowerState.CRASHED);
  assert.equal((await driver.getDiagnostics(i)).oomKilled, true);
});
