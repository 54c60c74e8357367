/**
 * Image data in one file, told apart by content: a root filesystem tar, a
 * `docker save` archive (top-level manifest.json) or an OCI image layout
 * archive (oci-layout + index.json), each plain or compressed. An image
 * archive's blobs go into the host's BlobStore, verified against the digest
 * their name gives, in one streaming pass over the (decompressed) archive;
 * the manifest is then read from the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../../common/log';
import type { BlobStore, StoredBlob } from './cache/blob-store';
import { ImageChecksumError, ImageFormatError } from './image-errors';
import {
  DIGEST,
  MEDIA,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type LayerRef,
} from './oci';
import { readTar } from './tar-reader';
import { compressionOf, decompressed, type Compression } from './unpack';

export type ArchiveKind = 'rootfs' | 'docker-archive' | 'oci-archive';

export interface ImageArchive {
  manifest: ImageManifest;
  config: ImageConfig;
  /** bottom-most first */
  layers: LayerRef[];
}

/** JSON documents of an archive are small; a bigger one is not what it claims. */
const MAX_DOCUMENT = 16 << 20;
const BLOB_NAME = /^blobs\/sha256\/([0-9a-f]{64})$/;
/** top-level names an image archive holds; any other means a root filesystem */
const IMAGE_TOP =
  /^(manifest\.json|repositories|oci-layout|index\.json|blobs|[0-9a-f]{64}(\.json|\.tar)?)$/;

export async function detectArchive(
  file: string,
): Promise<{ kind: ArchiveKind; compression: Compression }> {
  const compression = compressionOf(await head(file));
  const seen = new Set<string>();
  let imageLike = true;
  await readTar(decompressed(file), path.basename(file), async (m) => {
    const name = memberName(m.name);
    const top = name.split('/')[0];
    if (top && !IMAGE_TOP.test(top)) {
      imageLike = false;
      return false; // a root filesystem: no need to read on
    }
    seen.add(name);
  });
  let kind: ArchiveKind = 'rootfs';
  if (imageLike && seen.has('oci-layout') && seen.has('index.json')) kind = 'oci-archive';
  else if (imageLike && seen.has('manifest.json')) kind = 'docker-archive';
  return { kind, compression };
}

/**
 * Stores every blob of a `docker save` or OCI layout archive into `blobs`
 * (verified when the member's name gives its digest; a blob that does not
 * hash to its name is refused and not kept) and returns its image, the
 * linux/amd64 one of an index.
 */
export async function readImageArchive(
  file: string,
  blobs: BlobStore,
  opts: { label?: string; log?: Logger } = {},
): Promise<ImageArchive> {
  const label = opts.label ?? path.basename(file);
  const members = await storeMembers(file, blobs, label);
  const docs = members.documents;
  const image =
    docs.has('oci-layout') && docs.has('index.json')
      ? await fromOciLayout(docs.get('index.json')!, blobs, label)
      : docs.has('manifest.json')
        ? await fromDockerSave(docs.get('manifest.json')!, members, blobs, label)
        : undefined;
  if (!image)
    throw new ImageFormatError(
      `archive ${label}: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout, index.json)`,
    );
  opts.log?.info('image archive read', {
    label,
    config: image.manifest.config.digest,
    layers: image.layers.length,
  });
  return image;
}

interface ArchiveMembers {
  /** top-level JSON documents by name */
  documents: Map<string, Buffer>;
  /** member name → the blob it was stored as */
  stored: Map<string, StoredBlob>;
  /** member name → the member name it links to */
  links: Map<string, string>;
}

async function storeMembers(
  file: string,
  blobs: BlobStore,
  label: string,
): Promise<ArchiveMembers> {
  const out: ArchiveMembers = { documents: new Map(), stored: new Map(), links: new Map() };
  await readTar(decompressed(file, { label }), label, async (m, body) => {
    const name = memberName(m.name);
    if (m.type === '2')
      out.links.set(name, memberName(path.posix.join(path.posix.dirname(name), m.linkname)));
    if (m.type === '1') out.links.set(name, memberName(m.linkname));
    if (m.type !== '0') return;
    if (['manifest.json', 'index.json', 'oci-layout', 'repositories'].includes(name)) {
      out.documents.set(name, await document(body, m.size, `${label}: ${name}`));
      return;
    }
    const hex = BLOB_NAME.exec(name)?.[1] ?? /^([0-9a-f]{64})\.json$/.exec(name)?.[1];
    if (hex) out.stored.set(name, await blobs.put(body, { digest: `sha256:${hex}`, size: m.size }));
    else if (name.endsWith('.tar')) out.stored.set(name, await blobs.put(body)); // docker save's <id>/layer.tar
  });
  return out;
}

async function fromOciLayout(
  indexDoc: Buffer,
  blobs: BlobStore,
  label: string,
): Promise<ImageArchive> {
  let index = parseJson<ImageIndex>(indexDoc, `${label}: index.json`);
  for (let depth = 0; ; depth++) {
    const chosen = pickManifest(index, label);
    if (chosen.mediaType !== MEDIA.ociIndex && chosen.mediaType !== MEDIA.dockerList) {
      const manifest = await readBlobJson<ImageManifest>(blobs, chosen, label);
      return withConfig(manifest, blobs, label);
    }
    if (depth >= 4) throw new ImageFormatError(`archive ${label}: image indexes nest too deep`);
    index = await readBlobJson<ImageIndex>(blobs, chosen, label);
  }
}

function pickManifest(index: ImageIndex, label: string): Descriptor {
  const all = Array.isArray(index.manifests) ? index.manifests : [];
  const amd64 = all.find((d) => d.platform?.os === 'linux' && d.platform.architecture === 'amd64');
  const chosen = amd64 ?? all.find((d) => !d.platform);
  if (!chosen) throw new ImageFormatError(`archive ${label}: the index has no linux/amd64 image`);
  return chosen;
}

async function withConfig(
  manifest: ImageManifest,
  blobs: BlobStore,
  label: string,
): Promise<ImageArchive> {
  if (!manifest.config || !Array.isArray(manifest.layers))
    throw new ImageFormatError(`archive ${label}: the manifest has no config or layers`);
  const config = await readBlobJson<ImageConfig>(blobs, manifest.config, label);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length)
    throw new ImageFormatError(
      `archive ${label}: ${manifest.layers.length} layers but ${diffIds.length} diff_ids in the config`,
    );
  const layers: LayerRef[] = [];
  for (const [i, d] of manifest.layers.entries()) {
    await present(blobs, d, label);
    layers.push({ digest: d.digest, size: d.size, mediaType: d.mediaType, diffId: diffIds[i] });
  }
  return { manifest, config, layers };
}

async function fromDockerSave(
  manifestDoc: Buffer,
  members: ArchiveMembers,
  blobs: BlobStore,
  label: string,
): Promise<ImageArchive> {
  const entries = parseJson<{ Config?: string; RepoTags?: string[]; Layers?: string[] }[]>(
    manifestDoc,
    `${label}: manifest.json`,
  );
  const entry = Array.isArray(entries) ? entries[0] : undefined;
  if (!entry?.Config || !Array.isArray(entry.Layers))
    throw new ImageFormatError(`archive ${label}: manifest.json names no Config and Layers`);
  const blobOf = (member: string): StoredBlob => {
    let name = memberName(member);
    for (let hops = 0; members.links.has(name) && hops < 16; hops++)
      name = members.links.get(name)!;
    const blob = members.stored.get(name);
    if (!blob)
      throw new ImageFormatError(`archive ${label}: manifest.json names ${member}, which it lacks`);
    return blob;
  };
  const configBlob = blobOf(entry.Config);
  const config = await readBlobJson<ImageConfig>(blobs, configBlob, label);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== entry.Layers.length)
    throw new ImageFormatError(
      `archive ${label}: ${entry.Layers.length} layers but ${diffIds.length} diff_ids in the config`,
    );
  const layers: LayerRef[] = [];
  for (const [i, member] of entry.Layers.entries()) {
    const blob = blobOf(member);
    const compression = compressionOf(await head(blob.path));
    // a plain layer tar is its own diff: its digest must be the config's diff_id
    if (compression === 'none' && blob.digest !== diffIds[i]) {
      await blobs.remove(blob.digest);
      throw new ImageChecksumError(
        `archive ${label}: layer ${member} checksum mismatch (hashes to ${blob.digest}, the config says ${diffIds[i]})`,
      );
    }
    layers.push({
      digest: blob.digest,
      size: blob.size,
      mediaType: LAYER_MEDIA[compression],
      diffId: diffIds[i],
    });
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  return { manifest, config, layers };
}

const LAYER_MEDIA: Record<Compression, string> = {
  none: MEDIA.ociLayer,
  gzip: MEDIA.ociLayerGzip,
  zstd: MEDIA.ociLayerZstd,
  // OCI names no xz layer type; berth-unpack tells compression by content anyway
  xz: MEDIA.ociLayer,
};

/** A member's name as a path inside the archive: no leading "/" or "./", no "." parts. */
function memberName(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

async function present(blobs: BlobStore, d: Descriptor, label: string): Promise<StoredBlob> {
  if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest))
    throw new ImageFormatError(`archive ${label}: invalid digest ${JSON.stringify(d?.digest)}`);
  const blob = await blobs.stat(d.digest);
  if (!blob) throw new ImageFormatError(`archive ${label}: lacks blob ${d.digest}`);
  if (d.size !== undefined && blob.size !== d.size)
    throw new ImageChecksumError(
      `archive ${label}: blob ${d.digest} has ${blob.size} bytes, its descriptor says ${d.size}`,
    );
  return blob;
}

async function readBlobJson<T>(
  blobs: BlobStore,
  d: Pick<Descriptor, 'digest' | 'size'>,
  label: string,
): Promise<T> {
  const blob = await present(blobs, d as Descriptor, label);
  if (blob.size > MAX_DOCUMENT)
    throw new ImageFormatError(`archive ${label}: blob ${d.digest} is too big for a JSON document`);
  return parseJson<T>(await fs.promises.readFile(blob.path), `${label}: blob ${d.digest}`);
}

async function document(body: Readable, size: number, what: string): Promise<Buffer> {
  if (size > MAX_DOCUMENT) throw new ImageFormatError(`archive ${what} is ${size} bytes, too big`);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new ImageFormatError(`archive ${what}: not valid JSON (${(err as Error).message})`);
  }
}

async function head(file: string): Promise<Buffer> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fd.read(buf, 0, 8, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}
