import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import winston from 'winston';
import { berthSchema, type BerthConfig } from '../../config/schema';
import { MessagingTimeout } from '../../messaging/transport';
import { FakeDriver } from '../../testing/driver/fake-driver';
import { FakeImageService } from '../../testing/driver/fake-image-service';
import { FakeVolumes } from '../../testing/driver/fake-volumes';
import { FakeTransport } from '../../testing/messaging/fake-transport';
import { VOLUME_RPC_VERSION, VOLUME_TOPIC } from '../volume/volume-endpoint';
import { ComputeService } from './service';

const HOST = 'node-1';
const VOL = '11111111-1111-4111-8111-111111111111';

describe('ComputeService volumes', () => {
  let state: string;
  let transport: FakeTransport;
  let service: ComputeService | undefined;

  const config = () =>
    berthSchema.validate({
      DEFAULT: { host: HOST, state_path: state, report_interval: 60 },
      compute: { status_listen: '127.0.0.1:0' },
    }).value as BerthConfig;
  const start = (o: { driver: FakeDriver; volumes?: FakeVolumes }) =>
    ComputeService.start({
      config: config(),
      log: winston.createLogger({ silent: true }),
      transport,
      images: new FakeImageService(),
      ...o,
    });
  const volumeCall = (method: string, args: Record<string, unknown>) =>
    transport.call(
      { topic: VOLUME_TOPIC, server: HOST, version: VOLUME_RPC_VERSION },
      method,
      args,
    );

  beforeEach(() => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-service-'));
    transport = new FakeTransport();
  });

  afterEach(async () => {
    await service?.stop();
    service = undefined;
    fs.rmSync(state, { recursive: true, force: true });
  });

  test('volumes are restored before the driver starts, then served as berth-volume.<host>', async () => {
    const volumes = new FakeVolumes(20);
    const driver = new FakeDriver(undefined, undefined, volumes);
    const order: string[] = [];
    const restore = volumes.restore.bind(volumes);
    volumes.restore = () => (order.push('restore'), restore());
    const initHost = driver.initHost.bind(driver);
    driver.initHost = (host) => (order.push('initHost'), initHost(host));

    service = await start({ driver, volumes });
    assert.deepEqual(order, ['restore', 'initHost']);
    await volumeCall('create_volume', {
      volume: { id: VOL, size: 5, name: 'v' },
      snapshot_id: null,
    });
    assert.deepEqual(await volumeCall('get_capacity', {}), { total_gb: 20, free_gb: 15 });
  });

  test('a compute without volumes serves no berth-volume calls', async () => {
    service = await start({ driver: new FakeDriver() });
    await assert.rejects(volumeCall('get_capacity', {}), MessagingTimeout);
  });
});
