/**
 * A copy of a running container's writable layer with a frozen time that
 * does not grow with the layer's size, as live migration's pre-copy does:
 * rsync passes while the workload runs move the bulk, then the workload is
 * frozen (cgroup freezer) for one last pass that carries only what changed
 * since, and thawed. Writes made before the freeze are in the page cache
 * of the very inodes rsync reads, so no sync is needed for the copy to
 * have them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
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
  /** milliseconds of each live pass, then of the frozen one */
  passMs: number[];
}

/**
 * Hard links, ACLs, xattrs (overlay's trusted.overlay.opaque among them: rsync
 * copies every namespace but system.* as root), devices (overlay whiteouts are
 * 0:0 character devices), numeric ids. --modify-window=-1 compares mtimes to
 * the nanosecond: a file rewritten at the same size within the same second
 * (a counter) would otherwise be skipped by the last pass.
 */
const RSYNC_FLAGS = ['-aHAX', '--numeric-ids', '--delete', '--modify-window=-1'];
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
  for (let i = 0; i < LIVE_PASSES; i++) passMs.push(await rsyncPass(o.upper, o.staging, true));
  if (!o.freezer) {
    passMs.push(await rsyncPass(o.upper, o.staging, false));
    return { frozenMs: 0, passMs };
  }
  const started = process.hrtime.bigint();
  await o.freezer.freeze();
  try {
    passMs.push(await rsyncPass(o.upper, o.staging, false));
  } finally {
    // Always thawed, whatever the last pass did: a snapshot must never leave the instance frozen.
    await o.freezer.thaw();
  }
  const frozenMs = Number(process.hrtime.bigint() - started) / 1e6;
  o.log.info('writable layer captured', {
    frozen_ms: Math.round(frozenMs * 10) / 10,
    pass_ms: passMs,
  });
  return { frozenMs, passMs };
}

function rsyncPass(from: string, to: string, live: boolean): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('rsync', [...RSYNC_FLAGS, `${from}/`, `${to}/`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    child.on('error', (err) =>
      reject(new InternalError(`rsync of the writable layer ${from}: ${err.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0 || (live && code === VANISHED)) return resolve(Date.now() - started);
      reject(
        new InternalError(
          `rsync of the writable layer ${from} failed (exit ${code}): ${stderr.trim()}`,
        ),
      );
    });
  });
}
