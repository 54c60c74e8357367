/**
 * The ContainerDriver on real containers: the ComputeDriver conformance
 * suite, then what only a real host shows — limits in cgroups, rollback of
 * a failed spawn, OOM kills, and instances that outlive the driver.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { berthSchema } from '../config/schema';
import { InvalidArgumentError } from '../common/errors';
import { ImageUserError } from '../driver/image/image-errors';
import type { ImageCommandConfig } from '../driver/image/image-service';
import { LocalImageStore } from '../driver/image/local-image-store';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { computeDriverConformance } from '../testing/driver/compute-driver-conformance';
import { ContainerDriver } from '../driver/virt/container-driver';
import { type LifecycleEvent } from '../driver/virt/driver';
import { type ImageMeta, type InstanceSpec } from '../nova/instance-object';
import { PowerState } from '../nova/power-state';
import { fileInImageData } from './fixtures/image-data';
import { imageTar, needsRoot, tempStateDir, waitFor, runName } from './harness';

const skip = needsRoot();

/**
 * Prints a boot marker, then idles; SIGTERM makes it exit 0 at once, so stops are quick.
 * The trap comes first: once the marker is out, a SIGTERM cannot find the shell without it.
 */
const WORKLOAD = [
  'sh',
  '-c',
  'trap "exit 0" TERM; echo booted; while :; do sleep 1 & wait $!; done',
];

/** A state directory with the test image imported, and drivers on it. */
class DriverHost {
  readonly stateDir: string;
  readonly cgroupParent: string;
  readonly images: LocalImageStore;
  readonly compute;
  /** every line the drivers log, parsed, instead of cluttering the test output */
  readonly logLines: Record<string, unknown>[] = [];
  readonly logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            this.logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
            done();
          },
        }),
      }),
    ],
  });
  runtime?: ContainerRuntime;

  constructor(name: string) {
    this.stateDir = tempStateDir(name);
    this.cgroupParent = runName(name);
    this.images = new LocalImageStore(path.join(this.stateDir, 'images'));
    this.compute = berthSchema.validate({
      compute: { stop_timeout: 5, cgroup_parent: this.cgroupParent },
    }).value!.compute;
  }

  async importImage(command = WORKLOAD): Promise<ImageMeta> {
    const record = await this.images.import('busybox', imageTar, { command });
    return { id: record.id, name: record.name, properties: {} };
  }

  /** A new driver on this state directory, as a restarted compute service makes one. */
  driver(): ContainerDriver {
    return new ContainerDriver({
      images: this.images,
      statePath: this.stateDir,
      compute: this.compute,
      logger: this.logger,
      openRuntime: async () =>
        (this.runtime = await ContainerRuntime.open({
          stateDir: this.stateDir,
          cgroupParent: this.cgroupParent,
        })),
    });
  }

  exec(instance: InstanceSpec, script: string, ...args: string[]) {
    return this.runtime!.exec(instance.uuid, ['sh', '-c', script, 'sh', ...args]);
  }

  /** Kills every container of the state directory, stops its monitor and removes it. */
  async cleanup(): Promise<void> {
    const rt = await ContainerRuntime.open({
      stateDir: this.stateDir,
      cgroupParent: this.cgroupParent,
    });
    await rt.shutdown();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

async function killWorkload(driver: ContainerDriver, instance: InstanceSpec, signal: string) {
  process.kill(Number((await driver.getInfo(instance)).internalId), signal);
}

computeDriverConformance(
  'ContainerDriver',
  async () => {
    const host = new DriverHost('driver');
    const driver = host.driver();
    return {
      driver,
      host: 'it-host',
      image: await host.importImage(),
      bootMarker: /^booted$/,
      endWorkload: (instance, how) =>
        killWorkload(driver, instance, how === 'exit' ? 'SIGTERM' : 'SIGKILL'),
      writableLayer: {
        write: async (instance, text) => {
          await host.exec(instance, 'echo "$1" > /root/data', text);
        },
        read: async (instance) => (await host.exec(instance, 'cat /root/data')).stdout,
        // overlayfs reports its upper file system: the instance's root disk
        capacityBytes: async (instance) => {
          const { stdout } = await host.exec(instance, 'df -k / | tail -n 1');
          return Number(stdout.trim().split(/\s+/)[1]) * 1024;
        },
      },
      snapshots: {
        images: host.images,
        snapshotFile: (imageId, file) => fileInImageData(host.images, imageId, file),
      },
      cleanup: () => host.cleanup(),
    };
  },
  { skip },
);

describe('ContainerDriver on a real host', { skip }, () => {
  let host: DriverHost;
  let driver: ContainerDriver;
  let image: ImageMeta;
  const events: LifecycleEvent[] = [];

  const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec => ({
    uuid: randomUUID(),
    name: 'it-instance',
    vcpus: 1,
    memoryMb: 64,
    rootGb: 1,
    imageRef: image.id,
    networkInfo: [],
    ...overrides,
  });

  async function start(next: ContainerDriver): Promise<ContainerDriver> {
    next.onLifecycleEvent((e) => events.push(e));
    await next.initHost('it-host');
    return next;
  }

  const console = (instance: InstanceSpec) => driver.getConsoleOutput(instance);
  const state = async (instance: InstanceSpec) => (await driver.getInfo(instance)).state;

  before(async () => {
    host = new DriverHost('driver-host');
    image = await host.importImage();
    driver = await start(host.driver());
  });

  after(async () => {
    if (!driver) return;
    for (const uuid of await driver.listInstanceUuids()) await driver.destroy(spec({ uuid }));
    await driver.cleanupHost();
    await host.cleanup();
  });

  test('the flavor, hostname and image command reach the container', async () => {
    const instance = spec({ hostname: 'Web Server_01', vcpus: 2, memoryMb: 48 });
    await driver.spawn(instance, image);
    await waitFor('boot', async () => (await console(instance)).includes('booted'));
    const inside = await host.exec(instance, 'hostname; cat /proc/1/cmdline | tr "\\0" " "');
    assert.equal(inside.stdout.split('\n')[0], 'web-server-01');
    assert.match(inside.stdout, /^sh -c trap "exit 0" TERM; echo booted;/m);
    assert.equal((await driver.getDiagnostics(instance)).memoryLimitBytes, 48 << 20);
    const layout = detectCgroupLayout();
    const pidsRoot = layout.v1.get('pids') ?? layout.v2!.mount;
    const pidsMax = path.join(pidsRoot, host.cgroupParent, instance.uuid, 'pids.max');
    assert.equal(fs.readFileSync(pidsMax, 'utf8').trim(), '4096');
    const cpuRoot = layout.v1.get('cpu');
    if (cpuRoot) {
      const cpuDir = path.join(cpuRoot, host.cgroupParent, instance.uuid);
      assert.equal(fs.readFileSync(path.join(cpuDir, 'cpu.shares'), 'utf8').trim(), '2048');
    }
    await driver.destroy(instance);
    assert.ok(!fs.existsSync(pidsMax), 'the cgroup outlived destroy');
  });

  test('os_command_line handed to spawn overrides the image command', async () => {
    const instance = spec();
    const line = `sh -c 'echo "from the property"; trap "exit 0" TERM; sleep 1000 & wait'`;
    await driver.spawn(instance, { ...image, properties: { os_command_line: line } });
    await waitFor('output', async () => (await console(instance)).includes('from the property'));
    await driver.destroy(instance);
  });

  /** The busybox image with an OCI runtime config of its own. */
  async function configuredImage(config: ImageCommandConfig): Promise<ImageMeta> {
    const made = await host.importImage();
    await host.images.update(made.id, { config });
    return made;
  }

  const RUNCONFIG: ImageCommandConfig = {
    entrypoint: ['sh', '-c'],
    cmd: ['echo "cmd uid=$(id -u) pwd=$(pwd) foo=$FOO home=$HOME"; sleep 1000'],
    env: ['FOO=bar', 'PATH=/bin:/usr/bin'],
    workingDir: '/srv',
    user: 'nobody',
  };

  test("the image's Entrypoint, Cmd, Env, WorkingDir and User reach the workload", async () => {
    const configured = await configuredImage(RUNCONFIG);
    const instance = spec();
    await driver.spawn(instance, configured);
    await waitFor('boot', async () => (await console(instance)).includes('cmd uid='));
    assert.match(await console(instance), /^cmd uid=65534 pwd=\/srv foo=bar home=\/nonexistent$/m);
    const env = await host.exec(instance, 'echo "$PATH"; id -u');
    assert.deepEqual(env.stdout.trim().split('\n'), ['/bin:/usr/bin', '65534']);
    await driver.destroy(instance);
  });

  test('os_command_line replaces Cmd, keeps Entrypoint, Env, WorkingDir and User', async () => {
    const configured = await configuredImage(RUNCONFIG);
    const instance = spec();
    const line = `'echo "override uid=$(id -u) pwd=$(pwd) foo=$FOO"; sleep 1000'`;
    await driver.spawn(instance, { ...configured, properties: { os_command_line: line } });
    await waitFor('boot', async () => (await console(instance)).includes('override'));
    const output = await console(instance);
    assert.match(output, /^override uid=65534 pwd=\/srv foo=bar$/m);
    assert.doesNotMatch(output, /cmd uid=/);
    await driver.destroy(instance);
  });

  test('an image user its /etc/passwd lacks fails the spawn with a clear fault', async () => {
    const configured = await configuredImage({ ...RUNCONFIG, user: 'ghost' });
    const instance = spec();
    await assert.rejects(driver.spawn(instance, configured), (err: Error) => {
      assert.ok(err instanceof ImageUserError);
      assert.equal(err.message, "image user 'ghost' not found in /etc/passwd");
      return true;
    });
    assert.equal(await driver.instanceExists(instance.uuid), false);
    assert.ok(!fs.existsSync(path.join(host.stateDir, 'containers', instance.uuid)));
  });

  test('a spawn that fails leaves nothing behind and rethrows the cause', async () => {
    const broken = await host.importImage(['/no/such/init']);
    const instance = spec();
    await assert.rejects(
      driver.spawn(instance, broken),
      (err: Error) => err instanceof InvalidArgumentError && /command not found/.test(err.message),
    );
    assert.equal(await driver.instanceExists(instance.uuid), false);
    assert.ok(!fs.existsSync(path.join(host.stateDir, 'containers', instance.uuid)));
    assert.ok(!fs.existsSync(path.join(host.stateDir, 'instances', instance.uuid)));
    await assert.rejects(
      driver.spawn(spec(), { id: randomUUID() }),
      (err: Error) => err.name === 'NotFoundError',
    );
  });

  test('an OOM-killed workload is CRASHED, reported, and shown in diagnostics', async () => {
    const instance = spec({ memoryMb: 32 });
    await driver.spawn(instance, { ...image, properties: { os_command_line: 'probe memhog 256' } });
    const event = (await waitFor('an event', () => events.find((e) => e.uuid === instance.uuid)))!;
    assert.deepEqual(
      [event.state, event.reason],
      [PowerState.CRASHED, 'killed by the OOM killer (out of memory)'],
    );
    assert.equal(await state(instance), PowerState.CRASHED);
    assert.equal((await driver.getDiagnostics(instance)).oomKilled, true);
    await driver.destroy(instance);
  });

  test('instances, their power states and exits while berth was away survive a restart', async () => {
    const made = {
      suspended: spec(),
      paused: spec(),
      stopped: spec(),
      running: spec(),
      diesWhileAway: spec(),
    };
    for (const instance of Object.values(made)) await driver.spawn(instance, image);
    for (const instance of Object.values(made))
      await waitFor('boot', async () => (await console(instance)).includes('booted'));
    await driver.suspend(made.suspended);
    await driver.pause(made.paused);
    await driver.powerOff(made.stopped, 5);
    const { internalId } = await driver.getInfo(made.diesWhileAway);
    await driver.cleanupHost();

    process.kill(Number(internalId), 'SIGKILL');
    const stale = randomUUID();
    fs.mkdirSync(path.join(host.stateDir, 'instances', stale));
    fs.writeFileSync(
      path.join(host.stateDir, 'instances', stale, 'instance.json'),
      JSON.stringify({ ...spec({ uuid: stale }), intent: 'running', imageId: image.id }),
    );

    driver = await start(host.driver());
    const expected: [InstanceSpec, PowerState][] = [
      [made.suspended, PowerState.SUSPENDED],
      [made.paused, PowerState.PAUSED],
      [made.stopped, PowerState.SHUTDOWN],
      [made.running, PowerState.RUNNING],
      [made.diesWhileAway, PowerState.CRASHED],
    ];
    for (const [instance, power] of expected) assert.equal(await state(instance), power);
    const listed = await driver.listInstanceUuids();
    assert.ok(Object.values(made).every((i) => listed.includes(i.uuid)));
    assert.ok(!listed.includes(stale), 'a record without a container was kept');
    assert.ok(!fs.existsSync(path.join(host.stateDir, 'instances', stale)));

    await driver.resume(made.suspended);
    await driver.unpause(made.paused);
    await killWorkload(driver, made.running, 'SIGTERM');
    const event = (await waitFor('an event', () =>
      events.find((e) => e.uuid === made.running.uuid),
    ))!;
    assert.equal(event.state, PowerState.SHUTDOWN, 're-adopted instances still report exits');
    for (const instance of Object.values(made)) await driver.destroy(instance);
  });

  test('every log line about an instance carries its uuid', () => {
    const hostLevel = new Set(['container driver ready']);
    const lines = host.logLines.filter((l) => !hostLevel.has(l.message as string));
    assert.ok(lines.length > 10);
    for (const line of lines)
      assert.match(String(line.instance_uuid), /^[0-9a-f-]{36}$/, JSON.stringify(line));
  });
});
