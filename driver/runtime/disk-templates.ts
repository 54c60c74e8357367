/**
 * Formatted, empty ext4 images, one per root disk size, kept in the state
 * dir: a sized root disk is a sparse copy of its size's template (under a
 * millisecond: a fresh ext4 holds well under a MiB of metadata per GiB of
 * size) instead of an mkfs on the build path. mkfs.ext4 runs once per size
 * per host, in the background of the first build that asks for it, and
 * the template outlives restarts.
 *
 * Why images rather than project quotas on one file system: a loop-mounted
 * ext4 of exactly root_gb enforces the size on every kernel (ENOSPC in the
 * instance, nothing shared with its neighbours), while prjquota needs a
 * state_path file system mounted with it and a kernel with quota support.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { InternalError } from '../../common/errors';

const execFileAsync = promisify(execFile);

/** The templates of one state dir (several objects may share it: files are made atomically). */
export class DiskTemplates {
  private readonly making = new Map<number, Promise<string>>();
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'disk-templates');
  }

  /** The template of `bytes`: there already, or made now (once, however many ask at once). */
  get(bytes: number): Promise<string> {
    const file = this.fileOf(bytes);
    if (fs.existsSync(file)) return Promise.resolve(file);
    let made = this.making.get(bytes);
    if (!made) {
      made = this.make(bytes, file).finally(() => this.making.delete(bytes));
      this.making.set(bytes, made);
    }
    return made;
  }

  private fileOf(bytes: number): string {
    return path.join(this.dir, `ext4-${bytes}.img`);
  }

  /** Formats beside the template and renames it in: a crash leaves no half-made template. */
  private async make(bytes: number, file: string): Promise<string> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const partial = `${file}.${randomUUID()}.partial`;
    fs.writeFileSync(partial, '');
    try {
      fs.truncateSync(partial, bytes);
      // No reserved blocks: the whole size is the instance's. Lazy init keeps
      // the image sparse; the kernel zeroes inode tables in the background.
      const args = ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1'];
      await execFileAsync('mkfs.ext4', [...args, partial]).catch(
        (err: Error & { stderr?: string }) => {
          throw new InternalError(`mkfs.ext4 ${partial}: ${err.stderr?.trim() || err.message}`);
        },
      );
      fs.renameSync(partial, file);
      return file;
    } finally {
      fs.rmSync(partial, { force: true });
    }
  }
}
