/**
 * Layer archives to files and back, through the native berth-unpack helper
 * (native/unpack): it resolves every entry inside the layer directory with
 * openat2(RESOLVE_IN_ROOT), guards against decompression bombs and hashes
 * the archive and its tar stream on the way. This module is its policy and
 * its error mapping: which limits, where the result goes, what a failure
 * means to the user (UnsafeArchiveError, ImageFormatError), and that a
 * failed unpack leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InternalError,
  InvalidArgumentError,
  ResourceExhaustedError,
  type BerthError,
} from '../../common/errors';
import type { Logger } from '../../common/log';
import { unpackBinary } from '../../native';
import { ImageFormatError, UnsafeArchiveError } from './image-errors';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

export interface UnpackLimits {
  /** uncompressed bytes in all (default 64 GiB) */
  maxBytes?: number;
  /** uncompressed / compressed, enforced past the first 8 MiB (default 200) */
  maxRatio?: number;
}

export interface UnpackOptions {
  limits?: UnpackLimits;
  /** names the archive in errors and logs (a layer digest, an image name) */
  label?: string;
  log?: Logger;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream */
  diffId: string;
  /** sha256 of the file as given */
  digest: string;
  /** bytes of the uncompressed tar stream */
  size: number;
  compressedSize: number;
  compression: Compression;
  /** entries left out (device nodes, unknown types) */
  skipped: string[];
}

/** What the helper reports on stderr: events, and a failure as the last line. */
interface HelperFailure {
  error: string;
  reason: 'escape' | 'bomb' | 'format' | 'io';
  entry: string;
  errno?: number;
  code?: string;
  syscall?: string;
  path?: string;
}
interface HelperEvent {
  event: string;
  entry: string;
  why: string;
}

/** The compression of a file by its first bytes (6 are enough). */
export function compressionOf(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

/**
 * Unpacks a plain, gzip, xz or zstd layer tar into `dest`, which must not
 * exist: it is created, and removed entirely when anything fails.
 */
export async function unpackLayer(
  file: string,
  dest: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const label = opts.label ?? path.basename(file);
  if (fs.existsSync(dest))
    throw new InvalidArgumentError(`layer ${label}: unpack target ${dest} already exists`);
  const started = Date.now();
  try {
    const out = await runHelper(['unpack', file, dest, ...limitArgs(opts.limits)], label, opts.log);
    const result = JSON.parse(out) as UnpackResult & { entries: number };
    opts.log?.info('layer unpacked', {
      label,
      diffId: result.diffId,
      bytes: result.size,
      compression: result.compression,
      entries: result.entries,
      skipped: result.skipped.length,
      ms: Date.now() - started,
    });
    return {
      diffId: result.diffId,
      digest: result.digest,
      size: result.size,
      compressedSize: result.compressedSize,
      compression: result.compression,
      skipped: result.skipped,
    };
  } catch (err) {
    await fs.promises.rm(dest, { recursive: true, force: true });
    throw err;
  }
}

/**
 * An overlayfs upper directory as an uncompressed OCI layer tar at
 * `destFile` (overlay whiteouts as `.wh.` names, opaque directories as
 * `.wh..wh..opq`); its diffId is hashed while it is written. The file is a
 * scratch copy on its way elsewhere (an upload): it is not synced to disk,
 * its reader finds it in the page cache.
 */
export async function packLayer(
  upperDir: string,
  destFile: string,
  opts: { log?: Logger } = {},
): Promise<{ diffId: string; size: number }> {
  const child = spawn(unpackBinary, ['pack', upperDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = helperExit(child, upperDir, opts.log);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await Promise.all([
      pipeline(child.stdout, tap, fs.createWriteStream(destFile, { mode: 0o600 })),
      done,
    ]);
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    await fs.promises.rm(destFile, { force: true });
    throw err;
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

/**
 * The decompressed bytes of a plain, gzip, xz or zstd file. A corrupt or
 * oversized stream ends in an error on the stream, never in a silent end.
 */
export function decompressed(
  file: string,
  opts: { limits?: UnpackLimits; label?: string; log?: Logger } = {},
): Readable {
  const label = opts.label ?? path.basename(file);
  const child = spawn(unpackBinary, ['cat', file, ...limitArgs(opts.limits)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  // The end is only passed on once the helper says the stream was whole.
  child.stdout.pipe(out, { end: false });
  helperExit(child, label, opts.log).then(
    () => out.end(),
    (err: Error) => out.destroy(err),
  );
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}

function limitArgs(limits: UnpackLimits = {}): string[] {
  const args: string[] = [];
  if (limits.maxBytes !== undefined) args.push('--max-bytes', String(Math.floor(limits.maxBytes)));
  if (limits.maxRatio !== undefined) args.push('--max-ratio', String(limits.maxRatio));
  return args;
}

/** Runs the helper to its end; resolves with its stdout. */
async function runHelper(args: string[], label: string, log?: Logger): Promise<string> {
  const child = spawn(unpackBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  await helperExit(child, label, log);
  return Buffer.concat(chunks).toString('utf8');
}

/** Logs the helper's events as they come and rejects with its failure, mapped. */
function helperExit(child: ReturnType<typeof spawn>, label: string, log?: Logger): Promise<void> {
  let failure: HelperFailure | undefined;
  let rest = '';
  const other: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const msg = parseLine(line);
      if (msg && 'error' in msg) failure = msg;
      else if (msg)
        log?.warn(`archive entry ${msg.event}: ${msg.why}`, { label, entry: msg.entry });
      else if (line.trim()) other.push(line);
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', (err) =>
      reject(new InternalError(`berth-unpack ${unpackBinary}: ${err.message}`, { cause: err })),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      if (failure) return reject(mapFailure(failure, label));
      const why = signal ? `killed by ${signal}` : `exit status ${code}`;
      reject(new InternalError(`layer ${label}: berth-unpack ${why} ${other.join('; ')}`.trim()));
    });
  });
}

function parseLine(line: string): HelperFailure | HelperEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as HelperFailure | HelperEvent;
  } catch {
    return undefined;
  }
}

function mapFailure(f: HelperFailure, label: string): BerthError {
  const entry = f.entry && !f.error.includes(f.entry) ? ` (entry "${f.entry}")` : '';
  const message = `archive ${label}: ${f.error}${entry}`;
  switch (f.reason) {
    case 'escape':
    case 'bomb':
      return new UnsafeArchiveError(message);
    case 'format':
      return new ImageFormatError(message);
    default: {
      const fault = {
        errno: f.errno ?? 0,
        code: f.code ?? 'EIO',
        syscall: f.syscall ?? '',
        path: f.path,
      };
      if (fault.code === 'ENOSPC' || fault.code === 'EDQUOT')
        return new ResourceExhaustedError(message, { fault });
      return new InternalError(message, { fault });
    }
  }
}
