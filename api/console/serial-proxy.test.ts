import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import winston from 'winston';
import { LinkDecoder, LinkFrame } from '../../common/console-link';
import { Opcode } from '../../common/websocket';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { waitFor } from '../../testing/wait-for';
import {
  openWebsocket,
  WebsocketRefused,
  type WebsocketClient,
} from '../../testing/websocket-client';
import { SERIAL_PROXY_PATH } from './serial-console';
import { SerialProxy } from './serial-proxy';
import { ConsoleTokens } from './tokens';

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

/** The proxy's side of the wire, against a compute endpoint of the test's own. */
describe('serial proxy and a fake compute endpoint', () => {
  let cloud: TestCloud;
  let id: string;
  let proxyUrl: string;
  const http = createServer();
  const endpoint = net.createServer();
  const links: { socket: net.Socket; received: Buffer }[] = [];
  const compute = {
    portValid: true,
    failure: undefined as Error | undefined,
    async validateConsolePort(_i: unknown, port: number) {
      return this.portValid && port === (endpoint.address() as AddressInfo).port;
    },
    async getSerialConsole() {
      if (this.failure) throw this.failure;
      const { port } = endpoint.address() as AddressInfo;
      return { host: '127.0.0.1', port, internal_access_path: 'the-secret' };
    },
  };
  const tokenFor = (port = (endpoint.address() as AddressInfo).port) =>
    new ConsoleTokens(cloud.api.deps.db, 60).issue({
      instance_uuid: id,
      project_id: 'demo',
      console_type: 'serial',
      host: '127.0.0.1',
      port,
      internal_access_path: null,
    });
  const open = async (port?: number) => openWebsocket(`${proxyUrl}?token=${await tokenFor(port)}`);
  const refusedWith = async (port?: number) => {
    const err = await open(port).then(
      (c) => {
        c.destroy();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof WebsocketRefused, `refused: ${String(err)}`);
    return err.status;
  };

  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'] });
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'fake', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    id = r.body.server.id;
    await cloud.waitForStatus(id, ['ACTIVE']);
    endpoint.on('connection', (socket) => {
      const link = { socket, received: Buffer.alloc(0) };
      links.push(link);
      socket.on('data', (d: Buffer) => (link.received = Buffer.concat([link.received, d])));
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const log = winston.createLogger({ silent: true });
    new SerialProxy({ db: cloud.api.deps.db, compute, tokenTtl: 60, log }).attach(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    proxyUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}${SERIAL_PROXY_PATH}`;
  });
  after(async () => {
    for (const l of links) l.socket.destroy();
    await new Promise((resolve) => endpoint.close(resolve));
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await cloud.close();
  });

  test('the secret line first, then DATA and RESIZE frames; output comes back binary', async () => {
    const n = links.length;
    const c = await open();
    const link = await waitFor('the link', () => links[n]);
    c.send(Opcode.BINARY, 'abc');
    c.send(Opcode.TEXT, JSON.stringify({ type: 'resize', rows: 24, cols: 80 }));
    // Not a resize: typed as it is.
    c.send(Opcode.TEXT, '{"type":"resize"}');
    const hello = Buffer.from('the-secret\n');
    const frames = await waitFor('the frames', () => {
      if (!link.received.subarray(0, hello.length).equals(hello)) return undefined;
      const f = new LinkDecoder().push(link.received.subarray(hello.length));
      return f.length === 3 ? f : undefined;
    });
    assert.deepEqual(
      frames.map((f) => [f.type, f.payload.toString()]),
      [
        [LinkFrame.DATA, 'abc'],
        [LinkFrame.RESIZE, '24 80'],
        [LinkFrame.DATA, '{"type":"resize"}'],
      ],
    );
    link.socket.write('output\r\n');
    await waitFor('the output', () => c.text === 'output\r\n');
    link.socket.end();
    assert.equal(await waitFor('the close', () => c.ended && c.closeCode), 1000);
  });

  test('the websocket going away closes the link', async () => {
    const n = links.length;
    const c = await open();
    const link = await waitFor('the link', () => links[n]);
    await waitFor('the secret', () => link.received.length > 0);
    c.destroy();
    await waitFor('the link closed', () => link.socket.closed);
  });

  test('refusals: port no longer the console 403, compute failing 503, endpoint away 502', async () => {
    compute.portValid = false;
    assert.equal(await refusedWith(), 403);
    compute.portValid = true;
    compute.failure = new Error('compute on fire');
    assert.equal(await refusedWith(), 503);
    compute.failure = undefined;
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const validate = compute.validateConsolePort;
    compute.validateConsolePort = async () => true;
    try {
      assert.equal(await refusedWith(port), 502);
    } finally {
      compute.validateConsolePort = validate;
    }
  });
});
