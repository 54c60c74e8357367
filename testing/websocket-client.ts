/**
 * A websocket client for tests of the serial console, on common/websocket.ts:
 * it keeps everything the server sent so a test can wait for output, a
 * pong or the close frame.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptKey, closePayload, encodeFrame, FrameDecoder, Opcode } from '../common/websocket';

/** The server answered the handshake with something else than a 101. */
export class WebsocketRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`websocket refused: ${status} ${body}`);
  }
}

export class WebsocketClient {
  /** terminal output: binary payloads, or base64 text decoded */
  output = Buffer.alloc(0);
  pongs: Buffer[] = [];
  /** the server's close code, once its close frame came */
  closeCode?: number;
  /** the socket is gone */
  ended = false;
  private readonly decoder = new FrameDecoder({ requireMask: false, maxPayload: 1 << 24 });

  constructor(
    private readonly socket: Duplex,
    readonly protocol: string | undefined,
    head: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.take(chunk));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => undefined);
    if (head.length) this.take(head);
  }

  get text(): string {
    return this.output.toString();
  }

  /** One masked frame, as a client must send it. */
  send(opcode: number, payload: Buffer | string): void {
    this.socket.write(encodeFrame(opcode, Buffer.from(payload), true));
  }

  /** Bytes as they are, for frames a well-behaved client would not send. */
  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(code = 1000): void {
    if (!this.socket.destroyed) this.send(Opcode.CLOSE, closePayload(code));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private take(chunk: Buffer): void {
    for (const m of this.decoder.push(chunk)) {
      if (m.opcode === Opcode.BINARY) this.output = Buffer.concat([this.output, m.payload]);
      else if (m.opcode === Opcode.TEXT)
        this.output = Buffer.concat([
          this.output,
          this.protocol === 'base64' ? Buffer.from(m.payload.toString(), 'base64') : m.payload,
        ]);
      else if (m.opcode === Opcode.PONG) this.pongs.push(m.payload);
      else if (m.opcode === Opcode.CLOSE)
        this.closeCode = m.payload.length >= 2 ? m.payload.readUInt16BE(0) : 1005;
    }
  }
}

/** Opens ws://… (the console URL as the API hands it out); rejects with WebsocketRefused. */
export function openWebsocket(url: string, protocols: string[] = []): Promise<WebsocketClient> {
  const u = new URL(url.replace(/^ws/, 'http'));
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request(u, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': key,
        ...(protocols.length ? { 'sec-websocket-protocol': protocols.join(', ') } : {}),
      },
    });
    req.on('upgrade', (res, socket, head) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        return reject(new Error('the server answered the handshake with a wrong accept key'));
      }
      const protocol = res.headers['sec-websocket-protocol'];
      resolve(new WebsocketClient(socket, protocol, head));
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new WebsocketRefused(res.statusCode ?? 0, body.trim())));
    });
    req.on('error', reject);
    req.end();
  });
}
