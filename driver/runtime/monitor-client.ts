/**
 * Talks to the per-host berth-monitor over its unix socket, starting the
 * monitor when none runs for this state directory. Frames are a u32
 * length (little-endian) and NUL-separated fields: requests are
 * `verb, request-id, args…`; the monitor answers `reply, request-id,
 * ok|error, …` and broadcasts `exit, id, pid, code, signal, oom`.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorBinary } from '../../native';
import { InternalError, UnavailableError } from '../../common/errors';

export interface ExitEvent {
  id: string;
  pid: number;
  code: number;
  signal: number;
  oomKilled: boolean;
}

interface Pending {
  resolve: (fields: string[]) => void;
  reject: (err: Error) => void;
}

export class MonitorError extends InternalError {}

export class MonitorClient extends EventEmitter<{ exit: [ExitEvent]; close: [] }> {
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private buffer: Buffer = Buffer.alloc(0);

  private constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => {
      for (const p of this.pending.values())
        p.reject(new UnavailableError('berth-monitor connection closed'));
      this.pending.clear();
      this.emit('close');
    });
    socket.on('error', () => {}); // 'close' follows and fails what is pending
  }

  static paths(stateDir: string) {
    return {
      socket: path.join(stateDir, 'monitor.sock'),
      lock: path.join(stateDir, 'monitor.lock'),
      log: path.join(stateDir, 'monitor.log'),
    };
  }

  /** Connects to the state directory's monitor, starting one if none runs. */
  static async connect(stateDir: string): Promise<MonitorClient> {
    const p = MonitorClient.paths(stateDir);
    const existing = await tryConnect(p.socket);
    if (existing) return new MonitorClient(existing);
    await startMonitor(p);
    for (let attempt = 0; attempt < 100; attempt++) {
      const socket = await tryConnect(p.socket);
      if (socket) return new MonitorClient(socket);
      await sleep(10); // another process's monitor won the lock and is still binding
    }
    throw new UnavailableError(`berth-monitor did not come up on ${p.socket} (see ${p.log})`);
  }

  request(verb: string, args: Buffer = Buffer.alloc(0)): Promise<string[]> {
    const id = String(this.nextId++);
    const head = Buffer.from(`${verb}\0${id}\0`);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length + args.length);
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed)
        return reject(new UnavailableError('berth-monitor connection closed'));
      this.pending.set(id, { resolve, reject });
      this.socket.write(Buffer.concat([len, head, args]));
    });
  }

  /** Asks the monitor to kill every container and exit, and waits until it is gone. */
  async shutdown(): Promise<void> {
    const [pid] = await this.request('ping');
    await this.request('shutdown');
    // Polling with a live timer keeps this process running until the
    // monitor is gone (and, when it is our child, reaped by libuv).
    const deadline = Date.now() + 5000;
    while (processExists(Number(pid)) && Date.now() < deadline) await sleep(5);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 4) {
      const len = this.buffer.readUInt32LE(0);
      if (this.buffer.length < 4 + len) break;
      const fields = this.buffer
        .subarray(4, 4 + len)
        .toString()
        .split('\0');
      fields.pop(); // every field ends with NUL
      this.buffer = this.buffer.subarray(4 + len);
      this.onFrame(fields);
    }
  }

  private onFrame(fields: string[]): void {
    if (fields[0] === 'exit') {
      const [, id, pid, code, signal, oom] = fields;
      this.emit('exit', { id, pid: +pid, code: +code, signal: +signal, oomKilled: oom === '1' });
      return;
    }
    if (fields[0] !== 'reply') return;
    const pending = this.pending.get(fields[1]);
    if (!pending) return;
    this.pending.delete(fields[1]);
    if (fields[2] === 'ok') pending.resolve(fields.slice(3));
    else pending.reject(new MonitorError(fields[3] ?? 'berth-monitor error'));
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tryConnect(socketPath: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined));
  });
}

async function startMonitor(p: ReturnType<typeof MonitorClient.paths>) {
  fs.mkdirSync(path.dirname(p.socket), { recursive: true, mode: 0o700 });
  const log = fs.openSync(p.log, 'a');
  // Detached (own session) so that a terminal's ^C or the service's exit
  // never reaches the process that owns the containers.
  const child = spawn(monitorBinary, ['serve', p.socket, p.lock], {
    detached: true,
    stdio: ['ignore', 'pipe', log],
  });
  fs.closeSync(log);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(out.trim() || `exited with ${code}`));
  });
  child.stdout!.destroy();
  child.unref();
  if (/^ready \d+$/.test(line) || line === 'already running') return;
  throw new UnavailableError(`berth-monitor failed to start: ${line} (see ${p.log})`);
}
