import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Opcode } from '../../common/websocket';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { waitFor } from '../../testing/wait-for';
import {
  openWebsocket,
  WebsocketRefused,
  type WebsocketClient,
} from '../../testing/websocket-client';

/** The serial proxy against real computes on the FakeDriver, whose console shell echoes. */
describe('serial proxy', () => {
  let cloud: TestCloud;
  let id: string;
  const consoleUrl = async () => {
    const r = await cloud.request('POST', `/v2.1/servers/${id}/remote-consoles`, {
      version: '2.6',
      body: { remote_console: { protocol: 'serial', type: 'serial' } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.remote_console.url as string;
  };
  const refusal = async (url: string, protocols?: string[]) => {
    const err = await openWebsocket(url, protocols).then(
      (c) => {
        c.destroy();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof WebsocketRefused, `refused: ${String(err)}`);
    return err;
  };
  const closedWith = (c: WebsocketClient) =>
    waitFor('the close frame and the end of the socket', () => c.ended && c.closeCode);

  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'] });
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'tty', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
  });
  after(() => cloud.close());

  test('the URL is ws://<api>/serial?token=…, and the terminal echoes what is typed', async () => {
    const url = await consoleUrl();
    assert.match(
      url,
      new RegExp(`^${cloud.url.replace(/^http/, 'ws')}/serial\\?token=[0-9a-f-]+$`),
    );
    const c = await openWebsocket(url);
    assert.equal(c.protocol, undefined, 'no subprotocol offered, none chosen');
    c.send(Opcode.BINARY, 'echo hi\n');
    c.send(Opcode.TEXT, 'and text\n');
    await waitFor('the echo', () => c.text.includes('echo hi\nand text\n'));
    c.close();
    assert.equal(await closedWith(c), 1000);
  });

  test('a resize message reaches the terminal as a window size', async () => {
    const c = await openWebsocket(await consoleUrl());
    c.send(Opcode.TEXT, JSON.stringify({ type: 'resize', rows: 40, cols: 120 }));
    // The fake terminal writes the size it was given.
    await waitFor('the new size', () => c.text.includes('40 120\n'));
    c.destroy();
  });

  test("Horizon's ['binary', 'base64'] gets binary; ['base64'] alone gets base64 text both ways", async () => {
    const b = await openWebsocket(await consoleUrl(), ['binary', 'base64']);
    assert.equal(b.protocol, 'binary');
    b.destroy();
    const c = await openWebsocket(await consoleUrl(), ['base64']);
    assert.equal(c.protocol, 'base64');
    c.send(Opcode.TEXT, Buffer.from('in base64\n').toString('base64'));
    await waitFor('the decoded echo', () => c.text.includes('in base64\n'));
    c.destroy();
  });

  test('a ping is answered with its payload', async () => {
    const c = await openWebsocket(await consoleUrl());
    c.send(Opcode.PING, 'are you there');
    await waitFor('the pong', () => c.pongs.some((p) => p.toString() === 'are you there'));
    c.destroy();
  });

  test('a token opens one console: the second use is a 403, an unknown token a 404', async () => {
    const url = await consoleUrl();
    (await openWebsocket(url)).destroy();
    assert.equal((await refusal(url)).status, 403);
    assert.equal((await refusal(url.replace(/token=.*/, 'token=nonsense'))).status, 404);
    assert.equal((await refusal(url.replace(/\?token=.*/, ''))).status, 400);
    assert.equal((await refusal(url.replace('/serial', '/elsewhere'))).status, 404);
  });

  test('garbage ends the connection with a close code and leaves the proxy serving', async () => {
    const unmasked = await openWebsocket(await consoleUrl());
    unmasked.sendRaw(Buffer.from([0x82, 0x01, 0x41]));
    assert.equal(await closedWith(unmasked), 1002);

    const huge = await openWebsocket(await consoleUrl());
    const head = Buffer.alloc(14);
    head[0] = 0x82;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(1n << 40n, 2);
    huge.sendRaw(head);
    assert.equal(await closedWith(huge), 1009);

    const reserved = await openWebsocket(await consoleUrl());
    reserved.sendRaw(Buffer.from([0xf2, 0x80, 0, 0, 0, 0]));
    assert.equal(await closedWith(reserved), 1002);

    const after = await openWebsocket(await consoleUrl());
    after.send(Opcode.BINARY, 'still here\n');
    await waitFor('the echo', () => after.text.includes('still here\n'));
    after.destroy();
  });

  test('a console whose compute is gone is refused with a 503, not a hang', async () => {
    const url = await consoleUrl();
    await cloud.stopCompute('node-1');
    const err = await refusal(url);
    assert.equal(err.status, 503, err.body);
  });
});
