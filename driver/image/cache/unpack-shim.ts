/**
 * TEMPORARY (cache branch only; the lead deletes it at merge): the unpack
 * helper's `driver/image/unpack.ts` contract, implemented just well enough
 * with GNU tar for the cache's tests to run before that branch lands. It
 * is NOT the safe extractor of issue 10 Build 5. At merge, replace every
 * `from './unpack-shim'` / `from './cache/unpack-shim'` import with
 * `../unpack` / `./unpack` and delete this file.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Logger } from 'winston';
import { ImageFormatError } from '../image-errors';
import type { ImageConfig, ImageIndex, ImageManifest, LayerRef } from '../oci';
import { MEDIA } from '../oci';
import type { BlobStore } from './blob-store';

export interface UnpackOptions {
  limits?: { maxBytes?: number; maxRatio?: number };
  label?: string;
  log?: Logger;
}

export interface UnpackedLayer {
  diffId: string;
  digest: string;
  size: number;
  compressedSize: number;
  skipped: string[];
}

type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

async function compressionOf(file: string): Promise<Compression> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    await fd.read(head, 0, 6, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    return 'none';
  } finally {
    await fd.close();
  }
}

function decompressedAs(file: string, compression: Compression): Readable {
  const raw = fs.createReadStream(file);
  if (compression === 'none') return raw;
  if (compression === 'gzip') return raw.pipe(zlib.createGunzip());
  const child = spawn(compression, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  raw.pipe(child.stdin);
  return child.stdout;
}

export function decompressed(file: string): Readable {
  const out = new PassThrough();
  compressionOf(file).then(
    (c) => decompressedAs(file, c).pipe(out),
    (err: Error) => out.destroy(err),
  );
  return out;
}

function tar(args: string[], input?: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    if (input) {
      input.on('error', (err) => child.kill() && reject(err));
      input.pipe(child.stdin!);
      child.stdin!.on('error', () => undefined);
    }
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(stderr.trim() || `tar exited ${code}`)),
    );
  });
}

export async function unpackLayer(
  file: string,
  dest: string,
  opts: UnpackOptions = {},
): Promise<UnpackedLayer> {
  const label = opts.label ?? file;
  await fs.promises.mkdir(dest, { mode: 0o755 });
  try {
    const digest = createHash('sha256');
    await pipeline(fs.createReadStream(file), digest);
    const diff = createHash('sha256');
    let size = 0;
    const tee = new PassThrough();
    tee.on('data', (c: Buffer) => {
      diff.update(c);
      size += c.length;
    });
    const stream = decompressed(file).pipe(tee);
    await tar(['-x', '-C', dest, '--numeric-owner', '--same-owner', '-p'], stream);
    return {
      diffId: `sha256:${diff.digest('hex')}`,
      digest: `sha256:${digest.digest('hex')}`,
      size,
      compressedSize: (await fs.promises.stat(file)).size,
      skipped: [],
    };
  } catch (err) {
    await fs.promises.rm(dest, { recursive: true, force: true });
    throw new ImageFormatError(`layer ${label}: not a valid layer tar: ${(err as Error).message}`);
  }
}

export async function detectArchive(file: string): Promise<{
  kind: 'rootfs' | 'docker-archive' | 'oci-archive';
  compression: Compression;
}> {
  const compression = await compressionOf(file);
  let names: string[];
  try {
    names = (await tar(['-t'], decompressedAs(file, compression))).split('\n');
  } catch (err) {
    throw new ImageFormatError(`${file}: not a tar archive: ${(err as Error).message}`);
  }
  const top = new Set(names.map((n) => n.replace(/^\.\//, '')));
  if (top.has('oci-layout') && top.has('index.json')) return { kind: 'oci-archive', compression };
  if (top.has('manifest.json')) return { kind: 'docker-archive', compression };
  return { kind: 'rootfs', compression };
}

export async function readImageArchive(
  file: string,
  blobs: BlobStore,
): Promise<{ manifest: ImageManifest; config: ImageConfig; layers: LayerRef[] }> {
  const dir = path.join(path.dirname(blobs.dir), `.archive-${randomBytes(6).toString('hex')}`);
  await fs.promises.mkdir(dir, { recursive: true });
  try {
    await tar(['-x', '-C', dir], decompressed(file));
    const read = (p: string) => fs.promises.readFile(path.join(dir, p), 'utf8');
    const store = (p: string, digest?: string) =>
      blobs.put(fs.createReadStream(path.join(dir, p)), digest ? { digest } : undefined);
    if (fs.existsSync(path.join(dir, 'oci-layout'))) {
      const index = JSON.parse(await read('index.json')) as ImageIndex;
      const blobPath = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
      const desc = index.manifests[0];
      const manifest = JSON.parse(await read(blobPath(desc.digest))) as ImageManifest;
      await store(blobPath(manifest.config.digest), manifest.config.digest);
      const config = JSON.parse(await read(blobPath(manifest.config.digest))) as ImageConfig;
      const layers: LayerRef[] = [];
      for (const [i, l] of manifest.layers.entries()) {
        await store(blobPath(l.digest), l.digest);
        layers.push({ ...l, diffId: config.rootfs?.diff_ids[i] });
      }
      return { manifest, config, layers };
    }
    const [entry] = JSON.parse(await read('manifest.json')) as {
      Config: string;
      Layers: string[];
    }[];
    const configBlob = await store(entry.Config);
    const config = JSON.parse(await read(entry.Config)) as ImageConfig;
    const layers: LayerRef[] = [];
    for (const [i, l] of entry.Layers.entries()) {
      const b = await store(l);
      layers.push({
        digest: b.digest,
        size: b.size,
        mediaType: MEDIA.ociLayer,
        diffId: config.rootfs?.diff_ids[i],
      });
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      config: { mediaType: MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size },
      layers: layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType })),
    };
    return { manifest, config, layers };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
