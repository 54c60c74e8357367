/**
 * Atomic replacement of small state files (design §4): a reader sees the
 * old content or the new, never a torn write.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Survives a power cut too: for records nothing else can rebuild. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(4).toString('hex')}`,
  );
  try {
    const handle = await fs.promises.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(content);
      // Without the fsync, ext4/xfs may commit the rename before the data and
      // leave an empty file after a crash.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** Makes a rename or unlink in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Survives a crash of this process, not a power cut: for state on the
 * spawn path, where an fsync would cost more than the spawn, and that a
 * power cut makes moot (the containers it describes die with the host).
 */
export function replaceFileSync(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}
