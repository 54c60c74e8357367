/**
 * The snapshot bar through Debian's unmodified `openstack` CLI against
 * `berth all-in-one`: `server image create` of an instance whose probe
 * ticks every millisecond never stalls it for 100 ms; the snapshot boots
 * with the instance's files on top of the base layer it shares; and
 * `server rebuild --image` gives the same server a new root filesystem;
 * `server shelve` / `unshelve` take the instance off its host and bring it
 * back with what it had written.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { imageTar, needsRoot, waitFor } from './harness';
import { OPENSTACK } from './fixtures/osc';
import { type ImageCloud, startImageCloud } from './fixtures/image-cloud';

const skip = needsRoot() ?? (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing`);

/** First boot: leaves files behind, then ticks. A boot of its snapshot finds them. */
const TICKING = JSON.stringify([
  '/bin/sh',
  '-c',
  'if [ -f /root/marker ]; then echo "found-$(cat /root/marker)"; ' +
    'else echo snapshot-me > /root/marker; dd if=/dev/urandom of=/root/data bs=1M count=32 2>/dev/null; echo wrote; fi; ' +
    'exec /usr/bin/probe tick /tmp/tick',
]);
const REBUILT = JSON.stringify(['/bin/sh', '-c', 'echo rebuilt-$(hostname); exec sleep 100000']);

describe('snapshot and rebuild through the openstack CLI', { skip }, () => {
  let cloud: ImageCloud;
  before(
    async () => {
      // info: the snapshot's log line says when the instance was frozen.
      cloud = await startImageCloud({ DEFAULT: { log_level: 'info' } });
    },
    { timeout: 90_000 },
  );
  after(() => cloud?.close(), { timeout: 90_000 });

  /** The busybox image, registered with `openstack image create`, running `commandLine`. */
  const imageRunning = (t: TestContext, name: string, commandLine: string) =>
    cloud.uploadImage(t, name, imageTar, 'bare', { os_command_line: commandLine });

  const upper = (id: string, ...rel: string[]) =>
    path.join(cloud.stateDir, 'containers', id, 'upper', ...rel);

  /** The longest stall of the probe that overlapped [from, to] (host monotonic ns), in ms. */
  function longestStall(id: string, from: bigint, to: bigint): number {
    const gaps = upper(id, 'tmp', 'tick.gaps');
    let worst = 0;
    const text = fs.existsSync(gaps) ? fs.readFileSync(gaps, 'utf8') : '';
    for (const line of text.split('\n').filter(Boolean)) {
      const [end, gap] = line.split(' ').map(BigInt);
      if (end - gap <= to && end >= from) worst = Math.max(worst, Number(gap) / 1e6);
    }
    return worst;
  }

  test('server image create while a counter runs, boot of the snapshot, rebuild', async (t) => {
    const base = await imageRunning(t, 'snap-base', TICKING);
    const server = await cloud.createServer(t, 'snap-src', base);
    await cloud.settled(server);
    await cloud.consoleShows(server, 'wrote');
    await waitFor('the probe ticking', () => fs.existsSync(upper(server, 'tmp', 'tick')));

    const from = process.hrtime.bigint();
    const created = await cloud.osc(
      t,
      ['server', 'image', 'create', '--wait', '--name', 'snap-1', server, '-f', 'json'],
      { version: '2.45' },
    );
    const to = process.hrtime.bigint();
    assert.equal(created.code, 0, created.stderr);
    const snapshot = JSON.parse(created.stdout);
    assert.equal(snapshot.status, 'active');
    const captured = cloud
      .logs()
      .find((l) => l.message === 'writable layer captured' && l.instance_uuid === server);
    assert.ok(captured, 'no log line of the capture');
    const frozenMs = Number(captured.frozen_ms);
    const frozenAt = BigInt(captured.frozen_at_ns as string);
    assert.ok(frozenAt > from && frozenAt < to);
    assert.ok(frozenMs < 100, `frozen for ${frozenMs} ms`);
    // What the freeze did to the counter, from its own record of every stall over 5 ms.
    const stall = longestStall(server, frozenAt, frozenAt + BigInt(Math.ceil(frozenMs * 1e6)));
    t.diagnostic(
      `frozen ${frozenMs} ms; longest stall of the counter then ${stall.toFixed(1)} ms, ` +
        `during the whole command ${longestStall(server, from, to).toFixed(1)} ms`,
    );
    assert.ok(stall < 100, `the counter stopped for ${stall} ms`);
    const ticksBefore = fs.readFileSync(upper(server, 'tmp', 'tick'), 'utf8');
    await waitFor(
      'the counter still running',
      () => fs.readFileSync(upper(server, 'tmp', 'tick'), 'utf8') !== ticksBefore,
    );
    const shown = await cloud.oscJson(t, ['image', 'show', snapshot.id]);
    assert.equal(shown.properties.image_type, 'snapshot');
    assert.equal(shown.properties.base_image_ref, base);
    assert.equal((await cloud.server(server))?.status, 'ACTIVE');

    const copy = await cloud.createServer(t, 'snap-copy', snapshot.id);
    await cloud.settled(copy);
    await cloud.consoleShows(copy, 'found-snapshot-me');
    const persisted = JSON.parse(
      fs.readFileSync(path.join(cloud.stateDir, 'containers', copy, 'config.json'), 'utf8'),
    ) as { config: { layers: string[] } };
    const [top, bottom] = persisted.config.layers;
    assert.equal(fs.statSync(path.join(top, 'root', 'data')).size, 32 * 2 ** 20);
    const source = JSON.parse(
      fs.readFileSync(path.join(cloud.stateDir, 'containers', server, 'config.json'), 'utf8'),
    ) as { config: { layers: string[] } };
    assert.deepEqual(
      source.config.layers,
      [bottom],
      'the snapshot stacks the base layer it shares',
    );

    const other = await imageRunning(t, 'snap-other', REBUILT);
    const rebuilt = await cloud.osc(t, ['server', 'rebuild', '--image', other, '--wait', copy]);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    await cloud.settled(copy);
    await cloud.consoleShows(copy, 'rebuilt-');
    assert.equal((await cloud.server(copy))?.id, copy);
    const after = JSON.parse(
      fs.readFileSync(path.join(cloud.stateDir, 'containers', copy, 'config.json'), 'utf8'),
    ) as { config: { layers: string[] } };
    assert.deepEqual(after.config.layers, [bottom], 'the snapshot layer is still stacked');
  });

  test('server shelve offloads the instance; unshelve brings it back with its files', async (t) => {
    const base = await imageRunning(t, 'shelve-base', TICKING);
    const server = await cloud.createServer(t, 'shelf', base);
    await cloud.settled(server);
    await cloud.consoleShows(server, 'wrote');
    const shelve = await cloud.osc(t, ['server', 'shelve', server]);
    assert.equal(shelve.code, 0, shelve.stderr);
    await waitFor(
      'SHELVED_OFFLOADED',
      async () => (await cloud.server(server))?.status === 'SHELVED_OFFLOADED',
      60_000,
    );
    assert.ok(
      !fs.existsSync(path.join(cloud.stateDir, 'containers', server)),
      'the container is gone from the host',
    );
    const images = await cloud.oscJson(t, ['image', 'list', '--name', 'shelf-shelved']);
    assert.equal(images.length, 1);

    const unshelve = await cloud.osc(t, ['server', 'unshelve', server]);
    assert.equal(unshelve.code, 0, unshelve.stderr);
    await cloud.settled(server);
    await cloud.consoleShows(server, 'found-snapshot-me');
    // Its image's layers again, with what it wrote as its writable layer: nothing depends
    // on the shelved image, which is deleted.
    const persisted = JSON.parse(
      fs.readFileSync(path.join(cloud.stateDir, 'containers', server, 'config.json'), 'utf8'),
    ) as { config: { layers: string[] } };
    assert.equal(persisted.config.layers.length, 1);
    assert.equal(fs.statSync(upper(server, 'root', 'data')).size, 32 * 2 ** 20);
    await waitFor(
      'the shelved image deleted',
      async () =>
        (await cloud.oscJson(t, ['image', 'list', '--name', 'shelf-shelved'])).length === 0,
      60_000,
    );
  });
});
