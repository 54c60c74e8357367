/**
 * The serial proxy (nova-serialproxy) inside the API process: a websocket
 * upgrade on SERIAL_PROXY_PATH with ?token=… consumes the token, asks the
 * instance's compute whether the token's port is still its console port
 * and for a fresh one-connection secret, connects there and relays (see
 * common/console-link.ts for the compute side of the wire). Every refusal
 * happens before the 101, so the client sees it as an HTTP status.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES, type Server as HttpServer } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'winston';
import { encodeLinkFrame, LinkFrame, MAX_LINK_PAYLOAD } from '../../common/console-link';
import {
  acceptKey,
  closePayload,
  encodeFrame,
  FrameDecoder,
  type Message,
  Opcode,
  ProtocolError,
} from '../../common/websocket';
import type { ComputeRpcAPI } from '../compute-rpc';
import type { Database } from '../db/connection';
import { getInstance } from '../db/instances';
import { SERIAL_PROXY_PATH } from './serial-console';
import { ConsoleTokens, TokenRefused } from './tokens';

export interface SerialProxyDeps {
  db: Database;
  compute: Pick<ComputeRpcAPI, 'getSerialConsole' | 'validateConsolePort'>;
  /** [console] token_ttl */
  tokenTtl: number;
  log: Logger;
}

/** Why an upgrade is refused, with its HTTP status. */
class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The compute's answer must come before the client gives up on the handshake. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Horizon's xterm offers ['binary', 'base64']; clients of nova-serialproxy offer none. */
function chooseSubprotocol(header: string | undefined): 'binary' | 'base64' | undefined {
  const offered = (header ?? '').split(',').map((p) => p.trim());
  if (offered.includes('binary')) return 'binary';
  if (offered.includes('base64')) return 'base64';
  return undefined;
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** The terminal size a text message `{"type":"resize","rows":R,"cols":C}` asks for. */
function resizeOf(text: string): { rows: number; cols: number } | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const m = JSON.parse(text) as { type?: unknown; rows?: unknown; cols?: unknown };
    const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
    if (m.type === 'resize' && ok(m.rows) && ok(m.cols))
      return { rows: m.rows as number, cols: m.cols as number };
  } catch {
    // Not JSON: terminal input that happens to start with a brace.
  }
  return undefined;
}

export class SerialProxy {
  private readonly sockets = new Set<Duplex>();
  private readonly tokens: ConsoleTokens;

  constructor(private readonly d: SerialProxyDeps) {
    this.tokens = new ConsoleTokens(d.db, d.tokenTtl);
  }

  /** Serves upgrades on `http`; other paths' upgrades are 404s. */
  attach(http: HttpServer): void {
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      void this.upgrade(req, socket, head).catch((err: unknown) => {
        if (err instanceof UpgradeRefused || err instanceof TokenRefused) {
          this.d.log.info('serial console connection refused', {
            status: err.status,
            reason: err.message,
          });
          return refuse(socket, err.status, err.message);
        }
        this.d.log.error('serial console connection failed', { error: (err as Error).message });
        refuse(socket, 500, 'the serial console could not be opened');
      });
    });
  }

  /** Ends every console connection (the API is stopping). */
  close(): void {
    for (const s of this.sockets) s.destroy();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (url.pathname !== SERIAL_PROXY_PATH) throw new UpgradeRefused(404, 'no such websocket');
    const key = req.headers['sec-websocket-key'];
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' || !key)
      throw new UpgradeRefused(400, 'not a websocket handshake');
    if (req.headers['sec-websocket-version'] !== '13')
      throw new UpgradeRefused(426, 'websocket version 13 only');
    const token = url.searchParams.get('token');
    if (!token) throw new UpgradeRefused(400, 'the console URL carries no token');

    const t = await this.tokens.consume(token);
    const inst = await getInstance(this.d.db, t.instance_uuid);
    if (!inst?.host) throw new UpgradeRefused(404, `instance ${t.instance_uuid} has no host`);
    const ctx = { request_id: `req-${randomUUID()}`, project_id: t.project_id };
    const log = this.d.log.child({ instance_uuid: inst.uuid, request_id: ctx.request_id });
    const [valid, info] = await Promise.all([
      this.d.compute.validateConsolePort(inst, t.port, t.console_type, ctx),
      this.d.compute.getSerialConsole(inst, t.console_type, ctx),
    ]).catch((err: Error) => {
      throw new UpgradeRefused(503, `the instance's console is not available: ${err.message}`);
    });
    if (!valid || !info.internal_access_path)
      throw new UpgradeRefused(403, 'the token is not for the instance console port');
    const compute = await this.connect(t.host, t.port);
    if (socket.destroyed) return void compute.destroy();
    compute.write(`${info.internal_access_path}\n`);

    const protocol = chooseSubprotocol(req.headers['sec-websocket-protocol']);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
        '\r\n',
    );
    log.info('serial console connected', { protocol: protocol ?? 'none' });
    this.relay(socket, compute, protocol === 'base64', head, log);
  }

  private connect(host: string, port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
      const fail = (why: string) => {
        s.destroy();
        reject(new UpgradeRefused(502, `the console at ${host}:${port} ${why}`));
      };
      s.once('error', (e) => fail(`refused the connection: ${e.message}`));
      s.once('timeout', () => fail('did not answer'));
      s.once('connect', () => {
        s.removeAllListeners('error').removeAllListeners('timeout');
        s.setTimeout(0);
        resolve(s);
      });
    });
  }

  private relay(ws: Duplex, compute: net.Socket, base64: boolean, head: Buffer, log: Logger) {
    this.sockets.add(compute);
    const decoder = new FrameDecoder({ requireMask: true, maxPayload: MAX_LINK_PAYLOAD });
    let closed = false;
    // Either side ending ends the other; a close frame first when the websocket is still open.
    const shut = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      log.info('serial console disconnected', { code, reason });
      if (!ws.destroyed) ws.end(encodeFrame(Opcode.CLOSE, closePayload(code, reason)));
      compute.destroy();
      this.sockets.delete(compute);
    };
    const onMessage = (m: Message) => {
      switch (m.opcode) {
        case Opcode.BINARY:
          return void compute.write(encodeLinkFrame(LinkFrame.DATA, m.payload));
        case Opcode.TEXT: {
          const text = m.payload.toString();
          const size = resizeOf(text);
          if (size)
            return void compute.write(
              encodeLinkFrame(LinkFrame.RESIZE, Buffer.from(`${size.rows} ${size.cols}`)),
            );
          const data = base64 ? Buffer.from(text, 'base64') : m.payload;
          return void compute.write(encodeLinkFrame(LinkFrame.DATA, data));
        }
        case Opcode.PING:
          return void ws.write(encodeFrame(Opcode.PONG, m.payload));
        case Opcode.CLOSE:
          return shut(m.payload.length >= 2 ? m.payload.readUInt16BE(0) : 1000, 'client closed');
        default:
          // A pong answers nothing we asked.
          return;
      }
    };
    const onData = (chunk: Buffer) => {
      if (closed) return;
      try {
        for (const m of decoder.push(chunk)) if (!closed) onMessage(m);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        log.warn('serial console websocket broken', { error: err.message });
        shut(err.closeCode, err.message);
      }
    };
    ws.on('data', onData);
    // The HTTP server's sockets are half-open capable: the client's FIN is an 'end', not a 'close'.
    ws.on('end', () => shut(1006, 'client gone'));
    ws.on('close', () => shut(1006, 'client gone'));
    compute.on('data', (chunk: Buffer) => {
      if (closed || ws.destroyed) return;
      ws.write(
        base64
          ? encodeFrame(Opcode.TEXT, Buffer.from(chunk.toString('base64')))
          : encodeFrame(Opcode.BINARY, chunk),
      );
    });
    compute.on('error', (e) => shut(1011, `console link: ${e.message}`));
    compute.on('close', () => shut(1000, 'console ended'));
    if (head.length) onData(head);
  }
}
