/**
 * A copy of a running container's writable layer with a frozen time that
 * does not grow with the layer's size, as live migration's pre-copy does:
 * the bulk moves while the workload runs, then the workload is frozen
 * (cgroup freezer) just long enough to read what changed since, and thawed.
 *
 * Every pass first indexes the upper (one lstat per entry), then copies;
 * so whatever the workload changes after an entry was indexed differs from
 * the index at the next pass — its ctime moved — and is taken again. An
 * entry whose ctime is within a clock tick of its indexing is taken again
 * too, as git's "racily clean" entries are: the kernel stamps files with a
 * coarse clock, two writes in one tick leave the same times.
 *
 * The first pass is one rsync (the bulk, with hard links, ACLs, xattrs and
 * devices); later passes, the frozen one among them, run in this process:
 * no spawn, no handshake, one readdir per directory and one lstat per
 * entry against the index in memory. While frozen only what must be read
 * at that instant is read — the changed files' bytes (a reflink where the
 * file system has them), link targets, xattrs — into a scratch directory;
 * putting them in place, removals, devices, owners, modes and times are
 * done after the thaw from what was recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'winston';
import { InternalError } from '../../common/errors';
import { native } from '../../native';

/** Freezes and thaws the workload; absent when it is not running (already frozen or stopped). */
export interface Freezer {
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

export interface CaptureResult {
  /** milliseconds between asking for the freeze and the thaw being done; 0 without a freezer */
  frozenMs: number;
  /** milliseconds of each live pass, then of the frozen one */
  passMs: number[];
  /** entries the frozen pass found changed or removed */
  delta: number;
  /** bytes the frozen pass copied */
  deltaBytes: number;
}

/**
 * Hard links, ACLs, xattrs (overlay's trusted.overlay.opaque among them: rsync
 * copies every namespace but system.* as root), devices (overlay whiteouts are
 * 0:0 character devices), numeric ids.
 */
const RSYNC_FLAGS = ['-aHAX', '--numeric-ids'];
/** rsync's "some files vanished before they could be transferred": normal while the workload runs. */
const VANISHED = 24;
/** More than a tick of the kernel's coarse file clock (4 ms at HZ=250, 10 ms at HZ=100). */
const RACY_NS = 20_000_000n;
/** Live catch-up passes run until one finds less than this to copy, or MAX_CATCH_UPS ran. */
const SETTLED_BYTES = 8 * 1024 * 1024;
const MAX_CATCH_UPS = 3;
/** The thread holding the freeze runs before the host's other work: a busy host must not stretch it. */
const FROZEN_PRIORITY = -20;

export async function copyWritableLayer(o: {
  upper: string;
  staging: string;
  freezer?: Freezer;
  log: Logger;
}): Promise<CaptureResult> {
  fs.mkdirSync(o.staging, { recursive: true, mode: 0o700 });
  const scratch = `${o.staging}.delta`;
  fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
  try {
    const passMs: number[] = [];
    let started = Date.now();
    let index = scan(o.upper);
    await rsync(o.upper, o.staging);
    passMs.push(Date.now() - started);
    for (let i = 0; i < MAX_CATCH_UPS; i++) {
      started = Date.now();
      const d = readDelta(o.upper, index, scratch);
      applyDelta(o.staging, d);
      index = d.index;
      passMs.push(Date.now() - started);
      if (d.bytes < SETTLED_BYTES) break;
    }
    const frozen = await frozenPass(o.upper, index, scratch, o.freezer);
    applyDelta(o.staging, frozen.delta);
    passMs.push(Math.round(frozen.ms));
    const frozenMs = o.freezer ? frozen.ms : 0;
    const delta = frozen.delta.changed.length + frozen.delta.removed.length;
    o.log.info('writable layer captured', {
      frozen_ms: Math.round(frozenMs * 10) / 10,
      pass_ms: passMs,
      // when the freeze held, the delta was read, the thaw done (ms from asking for the freeze)
      frozen_marks_ms: frozen.marks,
      // the host's monotonic clock, which the workload shares: its own stalls can be matched up
      frozen_at_ns: frozen.startedNs.toString(),
      delta,
      delta_bytes: frozen.delta.bytes,
    });
    return { frozenMs, passMs, delta, deltaBytes: frozen.delta.bytes };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function frozenPass(upper: string, index: Index, scratch: string, freezer?: Freezer) {
  const priority = boost();
  const started = process.hrtime.bigint();
  const marks: number[] = [];
  const mark = () => marks.push(Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10);
  try {
    if (freezer) await freezer.freeze();
    mark();
    let delta: Delta;
    try {
      delta = readDelta(upper, index, scratch);
      mark();
    } finally {
      // Always thawed, whatever the pass did: a snapshot must never leave the instance frozen.
      if (freezer) await freezer.thaw();
    }
    mark();
    return {
      delta,
      marks,
      startedNs: started,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    };
  } finally {
    restore(priority);
  }
}

/** Raises this thread's priority; returns what it was, or undefined when it could not. */
function boost(): number | undefined {
  try {
    const was = os.getPriority();
    os.setPriority(FROZEN_PRIORITY);
    return was;
  } catch {
    return undefined; // not root: the freeze is merely less protected from a busy host
  }
}

function restore(priority: number | undefined): void {
  if (priority !== undefined) os.setPriority(priority);
}

/** What an lstat says of an entry, as far as a copy's freshness goes. */
interface Entry {
  mode: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  size: bigint;
  ino: bigint;
  nlink: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The upper's entries by relative path (parents before children), and when the scan began. */
interface Index {
  entries: Map<string, Entry>;
  since: bigint;
}

/** Wall-clock nanoseconds, the clock file ctimes are stamped with. */
const realtimeNs = () => BigInt(Date.now()) * 1_000_000n;

function scan(root: string): Index {
  const index: Index = { entries: new Map(), since: realtimeNs() };
  walk(root, '', (rel, st) => index.entries.set(rel, st));
  return index;
}

/** Every entry under `root` but itself, lstat'd, parents before children; vanished ones are skipped. */
function walk(root: string, rel: string, visit: (rel: string, st: Entry) => void): void {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(root, rel));
  } catch (err) {
    if (gone(err)) return;
    throw err;
  }
  for (const name of names) {
    const p = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(root, p), { bigint: true, throwIfNoEntry: false });
    if (!st) continue;
    visit(p, st);
    if (st.isDirectory()) walk(root, p, visit);
  }
}

const gone = (err: unknown) =>
  ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/** One changed entry: its stat and what had to be read at the scan's instant. */
interface Change {
  rel: string;
  st: Entry;
  xattrs: Record<string, Buffer>;
  /** a regular file's bytes, copied into the scratch directory */
  content?: string;
  /** a regular file that is a hard link to an entry copied before it in this pass */
  linkTo?: string;
  /** a symlink's target */
  target?: string;
}

interface Delta {
  index: Index;
  changed: Change[];
  removed: string[];
  bytes: number;
}

/**
 * Scans the upper against `prev` and reads what changed: new entries,
 * entries of another type or whose size, times, inode, mode, owner or
 * device differ, and racily clean ones. Nothing is written outside the
 * scratch directory.
 */
function readDelta(upper: string, prev: Index, scratch: string): Delta {
  const index = scan(upper);
  const changed: Change[] = [];
  const firstByIno = new Map<bigint, string>();
  let bytes = 0;
  for (const [rel, st] of index.entries) {
    const linked = st.nlink > 1n && !isDir(st) ? firstByIno.get(st.ino) : undefined;
    if (st.nlink > 1n && !linked && !isDir(st)) firstByIno.set(st.ino, rel);
    if (!differs(st, prev.entries.get(rel), prev.since)) continue;
    const from = path.join(upper, rel);
    const c: Change = { rel, st, xattrs: native().getXattrs(from) };
    if (isFile(st) && linked) c.linkTo = linked;
    else if (isFile(st)) {
      c.content = path.join(scratch, String(changed.length));
      // A reflink where the file system has them (btrfs, XFS): no byte is copied while frozen.
      fs.copyFileSync(from, c.content, fs.constants.COPYFILE_FICLONE);
      bytes += Number(st.size);
    } else if (isSymlink(st)) c.target = fs.readlinkSync(from);
    changed.push(c);
  }
  // A removed directory's entries go with it: only the top-most are listed.
  const removed = [...prev.entries.keys()].filter((rel) => !index.entries.has(rel));
  return { index, changed, removed: topMost(removed), bytes };
}

const S_IFMT = 0o170000n;
const isDir = (st: Entry) => (st.mode & S_IFMT) === 0o040000n;
const isFile = (st: Entry) => (st.mode & S_IFMT) === 0o100000n;
const isSymlink = (st: Entry) => (st.mode & S_IFMT) === 0o120000n;
const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');

function topMost(rels: string[]): string[] {
  const set = new Set(rels);
  return rels.filter((rel) => {
    for (let p = parentOf(rel); p; p = parentOf(p)) if (set.has(p)) return false;
    return true;
  });
}

function differs(a: Entry, b: Entry | undefined, since: bigint): boolean {
  return (
    b === undefined ||
    a.ctimeNs + RACY_NS >= since ||
    a.mode !== b.mode ||
    a.ino !== b.ino ||
    a.uid !== b.uid ||
    a.gid !== b.gid ||
    a.rdev !== b.rdev ||
    a.ctimeNs !== b.ctimeNs ||
    a.mtimeNs !== b.mtimeNs ||
    (!isDir(a) && a.size !== b.size)
  );
}

/** Puts a delta in place in the copy: removals, then each change, then the times. */
function applyDelta(staging: string, d: Delta): void {
  const touched = new Set<string>();
  for (const rel of d.removed) {
    fs.rmSync(path.join(staging, rel), { recursive: true, force: true });
    touched.add(parentOf(rel));
  }
  for (const c of d.changed) {
    place(staging, c);
    touched.add(parentOf(c.rel));
  }
  for (const c of d.changed) setXattrs(path.join(staging, c.rel), c.xattrs);
  // Children first: placing an entry changes its directory's mtime.
  const times = new Map<string, Entry>();
  for (const c of d.changed) times.set(c.rel, c.st);
  for (const rel of touched) {
    const st = d.index.entries.get(rel);
    if (st && !times.has(rel)) times.set(rel, st);
  }
  for (const [rel, st] of [...times].sort(([a], [b]) => depth(b) - depth(a)))
    fs.lutimesSync(path.join(staging, rel), seconds(st.atimeNs), seconds(st.mtimeNs));
}

const depth = (rel: string) => (rel ? rel.split('/').length : 0);
const seconds = (ns: bigint) => Number(ns) / 1e9;

function place(staging: string, c: Change): void {
  const to = path.join(staging, c.rel);
  const there = fs.lstatSync(to, { bigint: true, throwIfNoEntry: false });
  const sameType = there !== undefined && (there.mode & S_IFMT) === (c.st.mode & S_IFMT);
  if (there && !(sameType && (isDir(c.st) || isFile(c.st))))
    fs.rmSync(to, { recursive: true, force: true });
  const { st } = c;
  if (isDir(st)) {
    if (!sameType) fs.mkdirSync(to);
  } else if (c.linkTo) {
    fs.rmSync(to, { force: true });
    fs.linkSync(path.join(staging, c.linkTo), to);
  } else if (c.content) fs.renameSync(c.content, to);
  else if (c.target !== undefined) fs.symlinkSync(c.target, to);
  else if ((st.mode & S_IFMT) === 0o140000n)
    return; // a socket: no layer carries one
  else native().mknod(to, Number(st.mode), Number(st.rdev >> 8n) & 0xfff, Number(st.rdev & 0xffn));
  fs.lchownSync(to, Number(st.uid), Number(st.gid));
  if (!isSymlink(st)) fs.chmodSync(to, Number(st.mode & 0o7777n));
}

/** Makes the copy's xattrs those recorded: set what differs, remove what the upper no longer has. */
function setXattrs(to: string, want: Record<string, Buffer>): void {
  const have = native().getXattrs(to);
  for (const [name, value] of Object.entries(want))
    if (!have[name]?.equals(value)) native().setXattr(to, name, value);
  for (const name of Object.keys(have)) if (!(name in want)) native().removeXattr(to, name);
}

/**
 * Copies the layer tree `from` into `to` (whiteouts, xattrs, hard links and
 * owners kept); with `exact`, what `to` has and `from` lacks goes.
 */
export function rsync(from: string, to: string, exact = true): Promise<void> {
  const flags = exact ? [...RSYNC_FLAGS, '--delete'] : RSYNC_FLAGS;
  const child = spawn('rsync', [...flags, `${from}/`, `${to}/`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  return new Promise<void>((resolve, reject) => {
    child.on('error', (err) =>
      reject(new InternalError(`rsync of the writable layer ${from}: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0 || code === VANISHED) return resolve();
      reject(
        new InternalError(
          `rsync of the writable layer ${from} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
        ),
      );
    });
  });
}
