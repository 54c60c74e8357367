/**
 * Reads a file of an image from its unpacked layer directories on the
 * host, as the container will see it through overlayfs (the top-most
 * layer that has it wins, a whiteout hides it), without ever leaving the
 * layers: no host path is handed to the kernel with a symlink in it.
 * Every component is looked up with lstat inside one layer, and an image
 * symlink is resolved against the image's own root, as Docker's securejoin
 * does: a hostile layer's `/etc -> /host-etc` reads the image's /host-etc,
 * never the host's. Opaque directories are not honoured (they only hide
 * lower files, so at worst a lower layer's file is read where overlay
 * would show none).
 */
import { constants, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ImageFormatError } from './image-errors';

/** Linux's own bound (MAXSYMLINKS): a link loop fails instead of spinning. */
const MAX_SYMLINKS = 40;

interface Hit {
  /** the host path of the entry, every component of it a real directory */
  host: string;
  stat: Stats;
}

/** The bytes of `file` (an absolute path inside the image), or undefined when it has none. */
export async function readImageFile(
  layers: readonly string[],
  file: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  const hit = await resolveImageFile(layers, file);
  if (!hit) return undefined;
  if (!hit.stat.isFile()) throw new ImageFormatError(`image file ${file} is not a regular file`);
  if (hit.stat.size > maxBytes)
    throw new ImageFormatError(`image file ${file} is over ${maxBytes} bytes`);
  // O_NOFOLLOW: the last component was a regular file when looked up; it must still be one.
  const handle = await fs.open(hit.host, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const data = await handle.readFile();
    if (data.length > maxBytes)
      throw new ImageFormatError(`image file ${file} is over ${maxBytes} bytes`);
    return data;
  } finally {
    await handle.close();
  }
}

/** Where `file` is in the merged view of the layers (top-most first), following image symlinks. */
export async function resolveImageFile(
  layers: readonly string[],
  file: string,
): Promise<Hit | undefined> {
  let pending = file.split('/');
  let resolved: string[] = [];
  let links = 0;
  let hit: Hit | undefined;
  while (pending.length) {
    const name = pending.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      resolved.pop(); // `..` at the root stays at the root, as the kernel does
      continue;
    }
    hit = await lookupMerged(layers, [...resolved, name]);
    if (!hit) return undefined;
    if (hit.stat.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS)
        throw new ImageFormatError(`image path ${file}: too many levels of symbolic links`);
      const target = await fs.readlink(hit.host);
      if (target.startsWith('/')) resolved = [];
      pending = [...target.split('/'), ...pending];
      continue;
    }
    if (pending.some((p) => p !== '' && p !== '.') && !hit.stat.isDirectory()) return undefined;
    resolved.push(name);
  }
  return resolved.length ? hit : undefined;
}

/** The top-most layer's entry at `parts`, or undefined when none has it or a whiteout hides it. */
async function lookupMerged(layers: readonly string[], parts: string[]): Promise<Hit | undefined> {
  for (const layer of layers) {
    const hit = await lookupInLayer(layer, parts);
    if (hit === 'absent') continue;
    // An overlay whiteout (a 0:0 character device) hides the name in every lower layer.
    if (hit.stat.isCharacterDevice() && hit.stat.rdev === 0) return undefined;
    return hit;
  }
  return undefined;
}

/** lstat of each component in turn, so that a symlinked parent in this layer is never followed. */
async function lookupInLayer(layer: string, parts: string[]): Promise<Hit | 'absent'> {
  let host = layer;
  for (let i = 0; i < parts.length; i++) {
    host = path.join(host, parts[i]);
    let stat: Stats;
    try {
      stat = await fs.lstat(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
      throw err;
    }
    if (i === parts.length - 1) return { host, stat };
    if (!stat.isDirectory()) return 'absent';
  }
  return 'absent';
}
