/**
 * Root disks made and mounted ahead of the builds that take them: for each
 * size a build asked for, a few directories laid out as a container's
 * (DISK_IMAGE, a sparse copy of the size's template, loop-mounted on
 * DISK_MOUNT), so that a build renames one into place (the mount moves
 * with its directory) instead of attaching a loop device and mounting
 * ext4 on its own path. Refilled in the background after each take.
 * Nothing here is kept across processes: a ready disk is an empty file
 * system, and the next process unmounts and removes what an earlier one left.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { native } from '../../native';
import type { DiskTemplates } from './disk-templates';
import { DISK_IMAGE, DISK_MOUNT } from './spec';

/** Disks kept ready per size: enough for a burst of builds while the refill catches up. */
const DEPTH = 4;

export class ReadyDisks {
  private readonly ready = new Map<number, string[]>();
  private readonly filling = new Set<number>();
  private closed = false;

  /** `dir` must be on the containers' file system: a build renames its disk out of it. */
  constructor(
    private readonly dir: string,
    private readonly templates: DiskTemplates,
    private readonly log?: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const entry of fs.readdirSync(dir)) discardDisk(path.join(dir, entry));
  }

  /**
   * A directory holding a mounted, empty disk of `bytes`, now the caller's
   * to rename into place (or to discardDisk): a ready one, or one made now
   * when none is. Either way the size's disks are topped up in the background.
   */
  async take(bytes: number): Promise<string> {
    const queue = this.ready.get(bytes) ?? [];
    this.ready.set(bytes, queue);
    const entry = queue.shift();
    this.refill(bytes, queue);
    return entry ?? this.make(await this.templates.get(bytes));
  }

  /** Unmounts and removes the disks not taken; no more are made. */
  close(): void {
    this.closed = true;
    for (const queue of this.ready.values())
      for (const entry of queue.splice(0)) discardDisk(entry);
  }

  private refill(bytes: number, queue: string[]): void {
    if (this.filling.has(bytes) || this.closed) return;
    this.filling.add(bytes);
    void (async () => {
      try {
        const template = await this.templates.get(bytes);
        while (queue.length < DEPTH && !this.closed) {
          // One per turn of the event loop: each holds the thread for a mount.
          await new Promise((resolve) => setImmediate(resolve));
          if (!this.closed) queue.push(this.make(template));
        }
      } catch (err) {
        this.log?.warn('root disk not made ahead', { bytes, error: (err as Error).message });
      } finally {
        this.filling.delete(bytes);
      }
    })();
  }

  private make(template: string): string {
    const entry = path.join(this.dir, randomUUID());
    fs.mkdirSync(entry, { mode: 0o711 });
    try {
      // No fsync: a disk half-made by a crash is removed at the next start, or with its container.
      native().sparseCopy(template, path.join(entry, DISK_IMAGE), { sync: false });
      fs.mkdirSync(path.join(entry, DISK_MOUNT));
      native().loopMount({
        file: path.join(entry, DISK_IMAGE),
        target: path.join(entry, DISK_MOUNT),
        fstype: 'ext4',
      });
    } catch (err) {
      discardDisk(entry);
      throw err;
    }
    return entry;
  }
}

/** Unmounts and removes a disk's directory (a container's, or a ready disk's). */
export function discardDisk(dir: string): void {
  unmountDisk(path.join(dir, DISK_MOUNT));
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Lazily, and idempotent: reconcile after a crash runs it on half-removed containers. */
export function unmountDisk(mountPoint: string): void {
  try {
    native().umount(mountPoint, true);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
}
