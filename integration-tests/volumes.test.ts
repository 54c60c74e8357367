/**
 * Volumes end to end, through Debian's unmodified `openstack` CLI and the
 * Keystone catalog (fixtures/toolchain-cloud.ts): a volume made with
 * `openstack volume create` and attached with `openstack server add
 * volume` is mounted at /mnt/<name> in the running instance; what vm1
 * writes there outlives vm1 and is read by vm2 once attached to it; a
 * volume in use cannot be deleted; detached, it goes away. A volume made
 * from an image (`openstack volume create --image`) boots a server
 * (`openstack server create --volume`) whose root files outlive it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { OPENSTACK, type OscResult, runOsc } from './fixtures/osc';
import {
  keystoneMissing,
  startToolchainCloud,
  type ToolchainCloud,
} from './fixtures/toolchain-cloud';
import { imageTar, needsRoot, tempStateDir, waitFor } from './harness';

const MOUNT = '/mnt/data';
/** vm1 writes once the volume is mounted, and says so on its console. */
const WRITER = `until grep -q " ${MOUNT} " /proc/mounts; do sleep 1; done; echo "written by $(hostname)" > ${MOUNT}/note && sync && echo wrote-note; exec sleep 2147483647`;
/** vm2 prints what it finds on the volume once it is mounted. */
const READER = `until [ -f ${MOUNT}/note ]; do sleep 1; done; echo "read: $(cat ${MOUNT}/note)"; exec sleep 2147483647`;

/** A volume-backed instance adds its hostname to /booted, in its root, and shows the file. */
const BOOTED = `hostname >> /booted && sync && echo "booted: $(tr '\\n' ' ' < /booted)"; exec sleep 2147483647`;

const skip =
  needsRoot() ??
  keystoneMissing() ??
  (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing`);

describe('volumes through the openstack CLI', { skip }, () => {
  let cloud: ToolchainCloud;
  const dir = tempStateDir('volumes');
  const clouds = path.join(dir, 'clouds.yaml');

  before(
    async () => {
      cloud = await startToolchainCloud();
      cloud.writeCloudsYaml(clouds);
    },
    { timeout: 180_000 },
  );
  after(async () => {
    await cloud?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const osc = (t: TestContext, args: string[], who = 'demo'): Promise<OscResult> =>
    runOsc(t, clouds, args, { cloud: who, timeoutMs: 300_000 });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the client's output
  const json = async (t: TestContext, args: string[], who = 'demo'): Promise<any> => {
    const r = await osc(t, [...args, '-f', 'json'], who);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const ok = async (t: TestContext, args: string[], who = 'demo') => {
    const r = await osc(t, args, who);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const volumeStatus = async (t: TestContext, status: string) =>
    waitFor(`volume data ${status}`, async () => {
      const v = await json(t, ['volume', 'show', 'data']);
      assert.notEqual(v.status, 'error', JSON.stringify(v));
      return v.status === status && v;
    });
  const consoleShows = (t: TestContext, server: string, text: string) =>
    waitFor(
      `${server}'s console to show ${text}`,
      async () => (await ok(t, ['console', 'log', 'show', server])).includes(text),
      60_000,
      500,
    );

  test(
    'data written by vm1 survives its deletion and is read by vm2; in use, the volume stays',
    { timeout: 900_000 },
    async (t) => {
      const image = (name: string, command: string) =>
        ok(t, [
          'image', 'create', '--public', '--disk-format', 'raw', '--container-format', 'bare',
          '--file', imageTar, '--property',
          `os_command_line=${JSON.stringify(['/bin/sh', '-c', command])}`, name,
        ], 'admin'); // prettier-ignore
      await image('vol-writer', WRITER);
      await image('vol-reader', READER);
      await ok(t, ['flavor', 'create', '--public', '--ram', '64', '--vcpus', '1', '--disk', '0', 'vol.tiny'], 'admin'); // prettier-ignore
      await ok(t, ['network', 'create', 'vol-net']);
      await ok(t, ['subnet', 'create', '--network', 'vol-net', '--subnet-range', '10.40.0.0/24', 'vol-subnet']); // prettier-ignore

      const created = await json(t, ['volume', 'create', '--size', '1', 'data']);
      assert.equal(created.size, 1);
      await volumeStatus(t, 'available');

      const boot = (name: string, image: string) =>
        json(t, ['server', 'create', '--wait', '--image', image, '--flavor', 'vol.tiny', '--network', 'vol-net', name]); // prettier-ignore
      const vm1 = await boot('vm1', 'vol-writer');
      assert.equal(vm1.status, 'ACTIVE');
      await ok(t, ['server', 'add', 'volume', 'vm1', 'data']);
      const inUse = await volumeStatus(t, 'in-use');
      assert.equal(inUse.attachments?.[0]?.server_id ?? inUse.attachments?.[0]?.id, vm1.id);
      const listed = await json(t, ['server', 'volume', 'list', 'vm1']);
      assert.equal(listed.length, 1);
      assert.match(listed[0].Device, /^\/dev\/vd[b-z]$/);
      await consoleShows(t, 'vm1', 'wrote-note');

      const refused = await osc(t, ['volume', 'delete', 'data']);
      assert.notEqual(refused.code, 0, 'a volume in use is not deleted');
      await volumeStatus(t, 'in-use');

      await ok(t, ['server', 'delete', '--wait', 'vm1']);
      await volumeStatus(t, 'available');

      await boot('vm2', 'vol-reader');
      await ok(t, ['server', 'add', 'volume', 'vm2', 'data']);
      await consoleShows(t, 'vm2', 'read: written by vm1');

      await ok(t, ['server', 'remove', 'volume', 'vm2', 'data']);
      await volumeStatus(t, 'available');
      await ok(t, ['volume', 'delete', 'data']);
      await waitFor('volume data to be gone', async () => {
        const r = await osc(t, ['volume', 'show', 'data']);
        return r.code !== 0;
      });
      await ok(t, ['server', 'delete', '--wait', 'vm2']);
    },
  );

  test(
    'boot from volume: a volume made from an image boots vm-a, and vm-b finds what vm-a wrote in its root',
    { timeout: 900_000 },
    async (t) => {
      await ok(t, [
        'image', 'create', '--public', '--disk-format', 'raw', '--container-format', 'bare',
        '--file', imageTar, '--property',
        `os_command_line=${JSON.stringify(['/bin/sh', '-c', BOOTED])}`, 'vol-boot',
      ], 'admin'); // prettier-ignore
      await json(t, ['volume', 'create', '--size', '1', '--image', 'vol-boot', 'rootvol']);
      const made = await waitFor('volume rootvol available', async () => {
        const v = await json(t, ['volume', 'show', 'rootvol']);
        assert.notEqual(v.status, 'error', JSON.stringify(v));
        return v.status === 'available' && v;
      });
      assert.equal(String(made.bootable), 'true');
      const boot = (name: string) =>
        json(t, ['server', 'create', '--wait', '--volume', 'rootvol', '--flavor', 'vol.tiny', '--network', 'vol-net', name]); // prettier-ignore
      const a = await boot('vm-a');
      assert.equal(a.status, 'ACTIVE');
      await consoleShows(t, 'vm-a', 'booted: vm-a ');
      const refused = await osc(t, ['server', 'remove', 'volume', 'vm-a', 'rootvol']);
      assert.notEqual(refused.code, 0, 'the root volume is not detached');
      await ok(t, ['server', 'delete', '--wait', 'vm-a']);
      await boot('vm-b');
      await consoleShows(t, 'vm-b', 'booted: vm-a vm-b ');
      await ok(t, ['server', 'delete', '--wait', 'vm-b']);
      await waitFor('rootvol available again', async () => {
        const v = await json(t, ['volume', 'show', 'rootvol']);
        return v.status === 'available';
      });
      await ok(t, ['volume', 'delete', 'rootvol']);
    },
  );
});
