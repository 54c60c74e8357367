/**
 * Unpacked root filesystem layers, content-addressed by the sha256 of
 * their tar so that every container of an image shares one read-only
 * lower directory. Extraction goes to a temporary directory renamed into
 * place, and concurrent requests for one digest share a single unpack.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';

export class LayerStore {
  private inflight = new Map<string, Promise<string>>();

  constructor(private readonly root: string) {}

  /** Returns a directory usable as a lower layer for `source` (a rootfs tar or directory). */
  async resolve(source: string): Promise<string> {
    const abs = path.resolve(source);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(abs);
    } catch {
      throw new NotFoundError(`image ${source}: no such file or directory`);
    }
    if (st.isDirectory()) return abs;
    if (!st.isFile())
      throw new InvalidArgumentError(`image ${source}: not a tar file or directory`);
    return this.unpack(abs, await sha256File(abs));
  }

  /**
   * The lower directory of a tar whose sha256 the caller already knows (a
   * verified blob); `label` names the archive in errors.
   */
  unpack(tarPath: string, digest: string, label = tarPath): Promise<string> {
    const dir = path.join(this.root, digest);
    if (fs.existsSync(dir)) return Promise.resolve(dir);
    let job = this.inflight.get(digest);
    if (!job) {
      job = extract(tarPath, dir, label).finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, job);
    }
    return job;
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

async function extract(tarPath: string, dir: string, label: string): Promise<string> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await fs.promises.rm(tmp, { recursive: true, force: true });
  await fs.promises.mkdir(tmp, { recursive: true, mode: 0o755 });
  try {
    await gnuTarExtract(tarPath, tmp);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw new InvalidArgumentError(
      `image ${label}: not a valid image archive: ${(err as Error).message}`,
    );
  }
  await fs.promises.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // another process won
  });
  return dir;
}

/**
 * GNU tar rather than a JavaScript extractor: images are full of symlinks
 * with absolute targets (/bin/sh -> /bin/busybox) that must stay verbatim,
 * which node-tar rewrites. GNU tar keeps them, refuses members with '..',
 * strips leading '/', and creates symlinks pointing outside the tree only
 * after everything else, so no entry is ever written through one (design
 * §6). Any such refusal fails the whole image.
 */
function gnuTarExtract(tarPath: string, dir: string): Promise<void> {
  const args = [
    '-x',
    '-f',
    tarPath,
    '-C',
    dir,
    '--numeric-owner',
    '--same-owner',
    '--same-permissions',
  ];
  return new Promise((resolve, reject) => {
    execFile('tar', args, { maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(stderr.trim().split('\n').slice(0, 5).join('; ') || err.message));
      else resolve();
    });
  });
}
