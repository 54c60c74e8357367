/**
 * The compute's serial console endpoint (what nova-serialproxy connects
 * to): a TCP listener on the host's address, its port from the kernel.
 * get_serial_console hands out a secret good for one connection within
 * SECRET_TTL_MS; a connection that presents one gets a new shell in that
 * instance (see common/console-link.ts for the wire). Closing the
 * connection hangs the shell up; the shell ending closes the connection.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'winston';
import { LinkDecoder, LinkFrame } from '../../common/console-link';
import type { ConsoleShell } from '../virt/driver';

/** The proxy asks for a secret just before it connects: it need not live long. */
const SECRET_TTL_MS = 30_000;
/** A connection must present its secret this soon. */
const HELLO_TIMEOUT_MS = 10_000;
const MAX_HELLO = 128;

export interface ConsoleConnectInfo {
  host: string;
  port: number;
  internal_access_path: string;
}

export interface SerialConsoleOptions {
  /** the address to listen on ([DEFAULT] my_ip) */
  host: string;
  log: Logger;
  /** a new shell in the instance */
  openShell(uuid: string): Promise<ConsoleShell>;
}

export class SerialConsoleEndpoint {
  private readonly secrets = new Map<string, { uuid: string; expires: number }>();
  private readonly sockets = new Set<net.Socket>();
  private server?: net.Server;

  constructor(private readonly o: SerialConsoleOptions) {}

  async listen(): Promise<void> {
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.o.host, () => resolve());
    });
    this.server = server;
  }

  get port(): number {
    return (this.server?.address() as net.AddressInfo | null)?.port ?? 0;
  }

  /** Where the instance's console is, with a secret for one connection. */
  issue(uuid: string): ConsoleConnectInfo {
    const now = Date.now();
    for (const [k, v] of this.secrets) if (v.expires <= now) this.secrets.delete(k);
    const secret = randomBytes(24).toString('hex');
    this.secrets.set(secret, { uuid, expires: now + SECRET_TTL_MS });
    return { host: this.o.host, port: this.port, internal_access_path: secret };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(HELLO_TIMEOUT_MS, () => {
      this.o.log.warn('serial console connection sent no secret in time', {
        peer: socket.remoteAddress,
      });
      socket.destroy();
    });
    let hello: Buffer = Buffer.alloc(0);
    const onHello = (chunk: Buffer) => {
      hello = Buffer.concat([hello, chunk]);
      const nl = hello.indexOf(0x0a);
      if (nl < 0 && hello.length <= MAX_HELLO) return;
      socket.off('data', onHello);
      socket.setTimeout(0);
      const entry = nl < 0 ? undefined : this.take(hello.subarray(0, nl).toString());
      if (!entry) {
        this.o.log.warn('serial console connection refused: unknown or expired secret', {
          peer: socket.remoteAddress,
        });
        return socket.destroy();
      }
      socket.pause();
      void this.attach(socket, entry.uuid, hello.subarray(nl + 1));
    };
    socket.on('data', onHello);
  }

  private take(secret: string) {
    const entry = this.secrets.get(secret);
    this.secrets.delete(secret);
    return entry && entry.expires > Date.now() ? entry : undefined;
  }

  private async attach(socket: net.Socket, uuid: string, rest: Buffer): Promise<void> {
    const log = this.o.log.child({ instance_uuid: uuid });
    let shell: ConsoleShell;
    try {
      shell = await this.o.openShell(uuid);
    } catch (err) {
      log.warn('serial console shell could not start', { error: (err as Error).message });
      return void socket.destroy();
    }
    log.info('serial console shell started', { pid: shell.pid });
    const decoder = new LinkDecoder();
    const onData = (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn('serial console link broken', { error: (err as Error).message });
        return socket.destroy();
      }
      for (const f of frames) {
        if (f.type === LinkFrame.DATA) shell.input.write(f.payload);
        else if (f.type === LinkFrame.RESIZE) {
          const [rows, cols] = f.payload.toString().split(' ').map(Number);
          shell.resize(rows, cols);
        }
      }
    };
    shell.output.pipe(socket);
    socket.on('data', onData);
    socket.on('close', () => shell.hangup());
    socket.resume();
    if (rest.length) onData(rest);
    const code = await shell.exited.catch((err: Error) => {
      log.warn('serial console shell failed', { error: err.message });
      return -1;
    });
    log.info('serial console shell ended', { exit_code: code });
    socket.end();
  }
}
