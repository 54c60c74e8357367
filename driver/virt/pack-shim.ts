/**
 * TEMPORARY (deleted at merge, replaced by driver/image/unpack.ts
 * packLayer): an overlay upper directory as an uncompressed OCI layer tar,
 * by GNU tar. Overlay whiteouts (0:0 character devices) become `.wh.`
 * files and opaque directories get `.wh..wh..opq`, in place: the directory
 * given is a scratch copy the caller owns.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InternalError } from '../../common/errors';

export async function packLayer(
  upperDir: string,
  destFile: string,
): Promise<{ diffId: string; size: number }> {
  const opaque = await opaqueDirs(upperDir);
  convertWhiteouts(upperDir, opaque);
  await run('tar', [
    '--create',
    '--file',
    destFile,
    '--directory',
    upperDir,
    '--numeric-owner',
    '--sort=name',
    '--xattrs',
    '--xattrs-exclude=trusted.overlay.*',
    '--format=pax',
    '.',
  ]);
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(destFile)) hash.update(chunk as Buffer);
  return { diffId: `sha256:${hash.digest('hex')}`, size: fs.statSync(destFile).size };
}

/** Directories marked opaque (trusted.overlay.opaque=y), by one getfattr over the tree. */
async function opaqueDirs(root: string): Promise<Set<string>> {
  const out = await run('getfattr', [
    '--absolute-names',
    '--recursive',
    '--physical',
    '--match=^trusted\\.overlay\\.opaque$',
    '--dump',
    root,
  ]);
  const dirs = new Set<string>();
  let file = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (line === 'trusted.overlay.opaque="y"') dirs.add(file);
  }
  return dirs;
}

function convertWhiteouts(dir: string, opaque: Set<string>): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    const st = fs.lstatSync(p);
    if (st.isCharacterDevice() && st.rdev === 0) {
      fs.unlinkSync(p);
      fs.writeFileSync(path.join(dir, `.wh.${entry.name}`), '');
    } else if (st.isDirectory()) {
      if (opaque.has(p)) fs.writeFileSync(path.join(p, '.wh..wh..opq'), '');
      convertWhiteouts(p, opaque);
    }
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new InternalError(`${cmd} failed (exit ${code}): ${stderr}`)),
    );
  });
}
