/**
 * Talks to the per-host berth-monitor over its unix socket, starting the
 * monitor (under its keeper) when none runs for this state directory.
 * The frames, verbs and fields are those of native/helper/protocol.h,
 * mirrored in monitor-protocol.ts.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorBinary } from '../../native';
import { InternalError, InvalidArgumentError, UnavailableError } from '../../common/errors';
import {
  decodeFault,
  EVENTS,
  MAX_FRAME,
  type NativeFault,
  STATUSES,
  type Verb,
} from './monitor-protocol';

const [REPLY, EXIT] = EVENTS;
const [OK] = STATUSES;

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

/** A request the monitor refused; `fault` says which syscall failed, with which errno and path. */
export class MonitorError extends InternalError {
  constructor(readonly nativeFault: NativeFault) {
    super(`${nativeFault.message} (${nativeFault.code})`, { fault: nativeFault });
  }
}

export class MonitorClient extends EventEmitter<{ exit: [ExitEvent]; close: [] }> {
  private nextId = 1;
  private pending = new Map<string, Pending>();
  /** bytes received and not yet a whole frame, in arrival order */
  private chunks: Buffer[] = [];
  private buffered = 0;

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
      await sleep(10); // another process's keeper won the lock and is still binding
    }
    throw new UnavailableError(`berth-monitor did not come up on ${p.socket} (see ${p.log})`);
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  request(verb: Verb, args: Buffer = Buffer.alloc(0)): Promise<string[]> {
    const id = String(this.nextId++);
    const head = Buffer.from(`${verb}\0${id}\0`);
    const size = head.length + args.length;
    if (size > MAX_FRAME)
      return Promise.reject(
        new InvalidArgumentError(`berth-monitor ${verb}: ${size} bytes is over the frame limit`),
      );
    const len = Buffer.alloc(4);
    len.writeUInt32LE(size);
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed)
        return reject(new UnavailableError('berth-monitor connection closed'));
      this.pending.set(id, { resolve, reject });
      this.socket.write(Buffer.concat([len, head, args]));
    });
  }

  /** The monitor's pid and its keeper's (0 when it has none). */
  async pids(): Promise<{ monitor: number; keeper: number }> {
    const [monitor, keeper] = await this.request('ping');
    return { monitor: Number(monitor), keeper: Number(keeper) };
  }

  /** Asks the monitor to kill every container and exit, and waits until it and its keeper are gone. */
  async shutdown(): Promise<void> {
    const { monitor, keeper } = await this.pids();
    await this.request('shutdown');
    // Polling with a live timer keeps this process running until both are
    // gone (and, when the keeper is our child, reaped by libuv).
    const deadline = Date.now() + 5000;
    while ((processExists(monitor) || processExists(keeper)) && Date.now() < deadline)
      await sleep(5);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // Joined only once a whole frame is here: a large reply arrives in
    // many chunks, and joining each time would copy it over and over.
    while (this.buffered >= 4) {
      if (this.chunks[0].length < 4) this.join();
      const len = this.chunks[0].readUInt32LE(0);
      if (this.buffered < 4 + len) return;
      if (this.chunks[0].length < 4 + len) this.join();
      const head = this.chunks[0];
      const fields = head
        .subarray(4, 4 + len)
        .toString()
        .split('\0');
      fields.pop(); // every field ends with NUL
      const rest = head.subarray(4 + len);
      if (rest.length) this.chunks[0] = rest;
      else this.chunks.shift();
      this.buffered -= 4 + len;
      this.onFrame(fields);
    }
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks)];
  }

  private onFrame(fields: string[]): void {
    if (fields[0] === EXIT) {
      const [, id, pid, code, signal, oom] = fields;
      this.emit('exit', { id, pid: +pid, code: +code, signal: +signal, oomKilled: oom === '1' });
      return;
    }
    if (fields[0] !== REPLY) return;
    const pending = this.pending.get(fields[1]);
    if (!pending) return;
    this.pending.delete(fields[1]);
    if (fields[2] === OK) pending.resolve(fields.slice(3));
    else pending.reject(new MonitorError(decodeFault(fields.slice(3))));
  }
}

function processExists(pid: number): boolean {
  if (!pid) return false;
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
  // never reaches the processes that own the containers.
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
