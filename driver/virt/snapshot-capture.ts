/**
 * A copy of a running container's writable layer with a frozen time that
 * does not grow with the layer's size, as live migration's pre-copy does:
 * rsync passes while the workload runs move the bulk, then the workload is
 * frozen (cgroup freezer) for one last pass that carries only what changed
 * since, and thawed. Writes made before the freeze are in the page cache
 * of the very inodes rsync reads, so no sync is needed for the copy to
 * have them.
 *
 * The frozen pass does not run rsync: starting it, its receiver and
 * generator and their exit handshake cost 50–80 ms on a loaded host, most
 * of the budget, even for two changed files. Once frozen, the delta is
 * found by one lstat walk in this process (upper against the copy) and
 * copied here; an rsync reading its file list from stdin, started while
 * the workload still ran, takes only the entries Node cannot make
 * (devices: a whiteout made in the last moments).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { InternalError } from '../../common/errors';

/** Freezes and thaws the workload; absent when it is not running (already frozen or stopped). */
export interface Freezer {
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

export interface CaptureResult {
  /** milliseconds between asking for the freeze and the thaw being done; 0 without a freezer */
  frozenMs: number;
  /** milliseconds of each live pass, then of the last one */
  passMs: number[];
  /** entries the last pass copied or removed */
  delta: number;
}

/**
 * Hard links, ACLs, xattrs (overlay's trusted.overlay.opaque among them: rsync
 * copies every namespace but system.* as root), devices (overlay whiteouts are
 * 0:0 character devices), numeric ids. --modify-window=-1 compares mtimes to
 * the nanosecond: a file rewritten at the same size within the same second
 * (a counter) would otherwise be skipped.
 */
const RSYNC_FLAGS = ['-aHAX', '--numeric-ids', '--modify-window=-1'];
/** rsync's "some files vanished before they could be transferred": normal while the workload runs. */
const VANISHED = 24;
const LIVE_PASSES = 2;

export async function copyWritableLayer(o: {
  upper: string;
  staging: string;
  freezer?: Freezer;
  log: Logger;
}): Promise<CaptureResult> {
  fs.mkdirSync(o.staging, { recursive: true, mode: 0o700 });
  const passMs: number[] = [];
  let since = 0n;
  let last: Rsync | undefined;
  try {
    for (let i = 0; i < LIVE_PASSES; i++) {
      since = realtimeNs();
      // The last pass's rsync starts up beside the final live pass, so it waits ready on stdin.
      if (i === LIVE_PASSES - 1)
        last = startRsync(o.upper, o.staging, ['--files-from=-', '--from0']);
      passMs.push(await runRsync(o.upper, o.staging, ['--delete'], true));
    }
    const started = process.hrtime.bigint();
    const marks: number[] = [];
    const mark = () => marks.push(Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10);
    if (o.freezer) await o.freezer.freeze();
    mark();
    let delta: number;
    try {
      delta = await finalPass(o.upper, o.staging, since, last!, mark);
      last = undefined;
    } finally {
      // Always thawed, whatever the last pass did: a snapshot must never leave the instance frozen.
      if (o.freezer) await o.freezer.thaw();
    }
    mark();
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    passMs.push(Math.round(elapsedMs));
    const frozenMs = o.freezer ? elapsedMs : 0;
    o.log.info('writable layer captured', {
      frozen_ms: Math.round(frozenMs * 10) / 10,
      pass_ms: passMs,
      // when the freeze held, the delta was found, rsync was done, the thaw done (ms from the freeze)
      frozen_marks_ms: marks,
      delta,
    });
    return { frozenMs, passMs, delta };
  } finally {
    last?.child.kill('SIGKILL');
  }
}

/** Wall-clock nanoseconds, the clock file ctimes are in. */
function realtimeNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Removes what the upper no longer has and copies what changed: regular
 * files, directories and symlinks in this process (a few system calls
 * each); anything else (a new whiteout device, a fifo) through the rsync
 * waiting on stdin, which is only asked when there is such an entry —
 * its transfer and exit handshake alone take tens of milliseconds.
 */
async function finalPass(
  upper: string,
  staging: string,
  since: bigint,
  rsync: Rsync,
  mark: () => void,
) {
  const changed: string[] = [];
  const removed = diffTree(upper, staging, '', since, changed);
  mark();
  const special: string[] = [];
  const dirs: [string, fs.BigIntStats][] = [];
  for (const p of changed) {
    const from = path.join(upper, p);
    const to = path.join(staging, p);
    const st = fs.lstatSync(from, { bigint: true });
    if (st.isFile()) {
      // Over the earlier copy's inode when there is one: its xattrs stay.
      fs.copyFileSync(from, to);
      setMetadata(to, st);
    } else if (st.isDirectory()) {
      fs.mkdirSync(to, { recursive: true });
      dirs.push([to, st]);
    } else if (st.isSymbolicLink()) {
      fs.rmSync(to, { force: true });
      fs.symlinkSync(fs.readlinkSync(from), to);
      fs.lchownSync(to, Number(st.uid), Number(st.gid));
      fs.lutimesSync(to, seconds(st.atimeNs), seconds(st.mtimeNs));
    } else special.push(p);
  }
  if (special.length) {
    rsync.child.stdin!.end(special.map((p) => `${p}\0`).join(''));
    await rsync.done;
  } else rsync.child.kill('SIGKILL');
  // Children first: copying into a directory changes its mtime.
  for (const [to, st] of dirs.reverse()) setMetadata(to, st);
  mark();
  return changed.length + removed;
}

function setMetadata(to: string, st: fs.BigIntStats): void {
  fs.chownSync(to, Number(st.uid), Number(st.gid));
  fs.chmodSync(to, Number(st.mode & 0o7777n));
  fs.utimesSync(to, seconds(st.atimeNs), seconds(st.mtimeNs));
}

const seconds = (ns: bigint) => Number(ns) / 1e9;

/**
 * Walks `rel` in both trees: entries only in the copy are removed at once;
 * entries new, of another type, or whose size, mtime, mode, owner or
 * device differ, or whose ctime is after `since` (an xattr change), are
 * pushed to `changed`. Returns how many entries were removed.
 */
function diffTree(upper: string, staging: string, rel: string, since: bigint, changed: string[]) {
  let removed = 0;
  const names = new Set(fs.readdirSync(path.join(upper, rel)));
  for (const name of fs.readdirSync(path.join(staging, rel)))
    if (!names.has(name)) {
      fs.rmSync(path.join(staging, rel, name), { recursive: true, force: true });
      removed++;
    }
  for (const name of names) {
    const p = rel ? `${rel}/${name}` : name;
    const a = fs.lstatSync(path.join(upper, p), { bigint: true });
    const b = fs.lstatSync(path.join(staging, p), { bigint: true, throwIfNoEntry: false });
    const sameType = b !== undefined && (a.mode & 0o170000n) === (b.mode & 0o170000n);
    if (b && !sameType) fs.rmSync(path.join(staging, p), { recursive: true, force: true });
    if (!sameType || differs(a, b!, since)) changed.push(p);
    if (a.isDirectory()) {
      if (!sameType) fs.mkdirSync(path.join(staging, p), { mode: 0o700 });
      removed += diffTree(upper, staging, p, since, changed);
    }
  }
  return removed;
}

function differs(a: fs.BigIntStats, b: fs.BigIntStats, since: bigint): boolean {
  return (
    a.mode !== b.mode ||
    a.uid !== b.uid ||
    a.gid !== b.gid ||
    a.rdev !== b.rdev ||
    a.ctimeNs >= since ||
    (!a.isDirectory() && (a.size !== b.size || a.mtimeNs !== b.mtimeNs))
  );
}

interface Rsync {
  child: ChildProcess;
  done: Promise<number>;
}

function startRsync(from: string, to: string, extra: string[], live = false): Rsync {
  const started = Date.now();
  const child = spawn('rsync', [...RSYNC_FLAGS, ...extra, `${from}/`, `${to}/`], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', (err) =>
      reject(new InternalError(`rsync of the writable layer ${from}: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0 || (live && code === VANISHED)) return resolve(Date.now() - started);
      reject(
        new InternalError(
          `rsync of the writable layer ${from} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
        ),
      );
    });
  });
  done.catch(() => undefined);
  return { child, done };
}

function runRsync(from: string, to: string, extra: string[], live: boolean): Promise<number> {
  const r = startRsync(from, to, extra, live);
  r.child.stdin!.end();
  return r.done;
}
