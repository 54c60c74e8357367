/**
 * A process on a terminal of its own inside a running container: the
 * helper's `exec pty` mode. Bytes go in on `input`, the terminal's output
 * comes out on `output`, `resize` sets the window size, `hangup` ends it
 * as closing a terminal does (SIGHUP to its session).
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { monitorBinary } from '../../native';
import { decodeFault } from './monitor-protocol';
import { nativeError } from './native-errors';

export interface InteractiveExec {
  readonly pid: number;
  readonly input: Writable;
  readonly output: Readable;
  resize(rows: number, cols: number): void;
  hangup(): void;
  /** the exit code (128 + signal when killed); rejects when the process could not be started */
  readonly exited: Promise<number>;
}

const FAILURE_CAP = 64 << 10;

/** Starts the helper with `spec` (from encodeExecSpec); `what` names it in errors. */
export function startInteractiveExec(spec: Buffer, what: string): InteractiveExec {
  // fd 3 the spec, fd 4 a setup failure, fd 5 window sizes; stderr is the helper's own.
  const child = spawn(monitorBinary, ['exec', 'pty'], {
    stdio: ['pipe', 'pipe', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  const sizes = (child.stdio as unknown as Writable[])[5];
  // The helper may be gone before a write lands: that is the exit's news, not an error.
  for (const s of [child.stdin!, sizes]) s.on('error', () => undefined);
  let failure = '';
  (child.stdio[4] as Readable).on('data', (d: Buffer) => {
    if (failure.length < FAILURE_CAP) failure += d.toString();
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (failure) return reject(nativeError(`${what}: exec`, decodeFault(failure.split('\0'))));
      resolve(code ?? 128 + (os.constants.signals[signal!] ?? 0));
    });
  });
  (child.stdio[3] as Writable).end(spec);
  return {
    pid: child.pid ?? -1,
    input: child.stdin!,
    output: child.stdout!,
    resize: (rows, cols) => {
      if (Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)
        sizes.write(`${rows} ${cols}\n`);
    },
    hangup: () => child.stdin!.end(),
    exited,
  };
}
