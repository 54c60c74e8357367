/**
 * Snapshots and rebuild on real containers: an instance whose probe wakes
 * every millisecond (recording every late wake-up with the host's
 * monotonic clock) writes 100 MB into its root; the snapshot must freeze
 * it for less than 100 ms, and the data uploaded must hold its files.
 * Then a rebuild onto another image keeps the instance's identity.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { berthSchema } from '../config/schema';
import { LocalImageStore } from '../driver/image/local-image-store';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { ContainerDriver } from '../driver/virt/container-driver';
import type { ImageMeta, InstanceSpec } from '../nova/instance-object';
import { PowerState } from '../nova/power-state';
import { TaskState } from '../nova/states';
import { fileInImageData, listImageData } from './fixtures/image-data';
import { imageTar, needsRoot, runName, tempStateDir, waitFor } from './harness';

const skip = needsRoot();
const TICK = '/tmp/tick';
const FREEZE_BUDGET_MS = 100;

describe('snapshot and rebuild on a real host', { skip }, () => {
  const stateDir = tempStateDir('snapshot');
  const cgroupParent = runName('snapshot');
  const images = new LocalImageStore(path.join(stateDir, 'images'));
  const logLines: Record<string, unknown>[] = [];
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
            done();
          },
        }),
      }),
    ],
  });
  let runtime: ContainerRuntime | undefined;
  let driver: ContainerDriver;
  let ticking: ImageMeta;
  let other: ImageMeta;

  const instance: InstanceSpec = {
    uuid: randomUUID(),
    name: 'snapshot-it',
    hostname: 'snap-it',
    vcpus: 1,
    memoryMb: 128,
    rootGb: 1,
    imageRef: '',
    networkInfo: [],
  };
  const exec = (script: string) => runtime!.exec(instance.uuid, ['sh', '-c', script]);

  before(async () => {
    const a = await images.import('ticking', imageTar, { command: ['probe', 'tick', TICK] });
    const b = await images.import('other', imageTar, {
      command: [
        'sh',
        '-c',
        'trap "exit 0" TERM; echo other-image; while :; do sleep 1 & wait $!; done',
      ],
    });
    ticking = { id: a.id };
    other = { id: b.id };
    instance.imageRef = a.id;
    driver = new ContainerDriver({
      images,
      statePath: stateDir,
      compute: berthSchema.validate({ compute: { stop_timeout: 5, cgroup_parent: cgroupParent } })
        .value!.compute,
      logger,
      openRuntime: async () => (runtime = await ContainerRuntime.open({ stateDir, cgroupParent })),
    });
    await driver.initHost('snapshot-host');
  });

  after(async () => {
    await driver?.destroy(instance).catch(() => undefined);
    await driver?.cleanupHost();
    const rt = await ContainerRuntime.open({ stateDir, cgroupParent });
    await rt.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  /** The probe's count of wake-ups so far. */
  const ticks = async () => Number((await exec(`cat ${TICK}`)).stdout.trim().split(/\s+/)[0] || 0);

  /** The longest stall of the probe that overlapped [from, to] (host monotonic ns), in ms. */
  async function longestStall(from: bigint, to: bigint): Promise<number> {
    const text = (await exec(`cat ${TICK}.gaps 2>/dev/null || true`)).stdout;
    let worst = 0;
    for (const line of text.split('\n').filter(Boolean)) {
      const [end, gap] = line.split(' ').map(BigInt);
      if (end - gap <= to && end >= from) worst = Math.max(worst, Number(gap) / 1e6);
    }
    return worst;
  }

  test('a snapshot of a running instance with 100 MB written freezes it for less than 100 ms', async () => {
    await driver.spawn(instance, ticking);
    await waitFor('the probe ticking', async () => (await ticks()) > 100);
    const wrote = await exec(
      'dd if=/dev/urandom of=/root/big bs=1M count=100 2>/dev/null && ' +
        'echo kept > /root/hello && mkdir -p /srv/app && echo conf > /srv/app/conf && ' +
        'rm /etc/group && sync',
    );
    assert.equal(wrote.code, 0, wrote.stderr);
    const target = await images.create({
      name: 'snap',
      container_format: 'bare',
      disk_format: 'raw',
      properties: { image_type: 'snapshot', base_image_ref: ticking.id },
    });
    const updates: string[] = [];
    const from = process.hrtime.bigint();
    const result = await driver.snapshot(instance, target.id, async (state) => {
      updates.push(state as string);
    });
    const to = process.hrtime.bigint();
    assert.deepEqual(updates, [TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING]);
    const stall = await longestStall(from, to);
    console.log(
      `snapshot: frozen ${result.frozenMs.toFixed(1)} ms, longest probe stall ${stall.toFixed(1)} ms, ` +
        `total ${(Number(to - from) / 1e6).toFixed(0)} ms, ${result.size} bytes; ` +
        JSON.stringify(logLines.find((l) => l.message === 'writable layer captured')),
    );
    assert.ok(
      result.frozenMs > 0 && result.frozenMs < FREEZE_BUDGET_MS,
      `frozen ${result.frozenMs} ms`,
    );
    assert.ok(stall < FREEZE_BUDGET_MS, `the probe stalled ${stall} ms`);

    assert.equal((await driver.getInfo(instance)).state, PowerState.RUNNING);
    const before = await ticks();
    await waitFor('the probe still ticking', async () => (await ticks()) > before + 50);

    const image = await images.show(target.id);
    assert.equal(image.status, 'active');
    const layers = JSON.parse(image.properties.berth_layers) as { digest: string; size: number }[];
    assert.equal(layers.at(-1)!.size, image.size);
    assert.match(layers.at(-1)!.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await fileInImageData(images, target.id, 'root/hello'))?.trim(), 'kept');
    assert.equal((await fileInImageData(images, target.id, 'srv/app/conf'))?.trim(), 'conf');
    const entries = await listImageData(images, target.id);
    // Entry names may or may not start with ./ (both are valid layer tars).
    const big = entries.find((e) => / (\.\/)?root\/big$/.test(e));
    assert.ok(big && / 104857600 /.test(big), big ?? 'no root/big in the layer');
    assert.ok(
      entries.some((e) => / (\.\/)?etc\/\.wh\.group$/.test(e)),
      'the removed file is a whiteout',
    );
    assert.ok(
      !fs.existsSync(path.join(stateDir, 'snapshots', target.id)),
      'the staging is removed',
    );
  });

  test('a snapshot of a paused instance does not freeze or thaw it', async () => {
    await driver.pause(instance);
    const target = await images.create({
      name: 'paused',
      container_format: 'bare',
      disk_format: 'raw',
    });
    const result = await driver.snapshot(instance, target.id, async () => {});
    assert.equal(result.frozenMs, 0);
    assert.equal((await driver.getInfo(instance)).state, PowerState.PAUSED);
    await driver.unpause(instance);
    assert.equal((await fileInImageData(images, target.id, 'root/hello'))?.trim(), 'kept');
  });

  test('rebuild onto another image: the same uuid and hostname, a fresh root, the new workload', async () => {
    const rebuilt = { ...instance, imageRef: other.id };
    await driver.rebuild(rebuilt, other, []);
    await waitFor('the new workload', async () =>
      (await driver.getConsoleOutput(rebuilt)).includes('other-image'),
    );
    assert.equal((await driver.getInfo(rebuilt)).state, PowerState.RUNNING);
    assert.deepEqual(await driver.listInstanceUuids(), [instance.uuid]);
    const inside = await exec(
      'hostname; test -e /root/hello && echo still-there; test -e /etc/group && echo group',
    );
    assert.deepEqual(inside.stdout.trim().split('\n'), ['snap-it', 'group']);
  });
});
