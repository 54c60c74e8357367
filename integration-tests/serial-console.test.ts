/**
 * The serial console end to end: `openstack console url show --serial`
 * (Debian's unmodified client) against `berth all-in-one` hands out a
 * ws:// URL; a websocket on it reaches a shell in the real container,
 * which runs what is typed; the URL's token opens one console only.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Opcode } from '../common/websocket';
import { openWebsocket, WebsocketRefused } from '../testing/websocket-client';
import { type ImageCloud, startImageCloud } from './fixtures/image-cloud';
import { OPENSTACK } from './fixtures/osc';
import { imageTar, needsRoot, waitFor } from './harness';

const skip = needsRoot() ?? (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing`);

describe('serial console through the openstack CLI', { skip }, () => {
  let cloud: ImageCloud;
  let server: string;
  before(() => startImageCloud().then((c) => (cloud = c)), { timeout: 90_000 });
  after(() => cloud?.close(), { timeout: 90_000 });

  test('an instance boots from an image that stays up', { timeout: 180_000 }, async (t) => {
    const image = await cloud.uploadImage(t, 'console-image', imageTar, 'bare', {
      os_command_line: JSON.stringify(['/bin/sh', '-c', 'exec sleep 100000']),
    });
    server = await cloud.createServer(t, 'console-1', image);
    await cloud.settled(server);
  });

  for (const version of [undefined, '2.6']) {
    const how = version ? 'remote-consoles (2.6)' : 'os-getSerialConsole (2.1)';
    test(`${how}: typed commands run in the instance; the URL opens one console`, async (t) => {
      const shown = await cloud.oscJson(t, ['console', 'url', 'show', '--serial', server], {
        version,
      });
      assert.equal(shown.type, 'serial');
      assert.match(shown.url, /^ws:\/\/127\.0\.0\.1:\d+\/serial\?token=/);

      const c = await openWebsocket(shown.url, ['binary', 'base64']);
      c.send(Opcode.BINARY, 'echo hi-$RANDOM\n');
      // The terminal echoes the line as typed; only the shell's answer has digits after hi-.
      const answer = await waitFor(
        'the shell to answer',
        () => /hi-(\d+)\r?\n/.exec(c.text),
        30_000,
      );
      t.diagnostic(`the shell answered hi-${answer[1]}`);
      // The window size travels beside the input, not in it: asked again until it has landed.
      c.send(Opcode.TEXT, JSON.stringify({ type: 'resize', rows: 30, cols: 100 }));
      await waitFor(
        'stty to see the new window size',
        () => {
          if (/^30 100\r?$/m.test(c.text)) return true;
          c.send(Opcode.BINARY, 'stty size\n');
          return false;
        },
        30_000,
        250,
      );
      c.close();
      await waitFor('the console to close', () => c.ended);

      const again = await openWebsocket(shown.url).then(
        (w) => {
          w.destroy();
          return undefined;
        },
        (e: unknown) => e,
      );
      assert.ok(again instanceof WebsocketRefused, `a second use is refused: ${String(again)}`);
      assert.equal(again.status, 403, again.body);
    });
  }
});
