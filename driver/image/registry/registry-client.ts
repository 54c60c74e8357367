/**
 * An OCI Distribution client (distribution spec 1.0; Docker's schema2
 * and manifest lists read as their OCI twins): resolve a reference to a
 * manifest, its config and its layers; fetch blobs verified by sha256 and
 * size, resuming a dropped download with `Range` and starting over when
 * the server ignores it. Every blob fetch of one client shares one
 * concurrency limit. The bytes of every manifest and blob are checked
 * against their digest before anything is believed or kept.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../common/log';
import type { RegistrySection } from '../../../config/schema';
import {
  ImageChecksumError,
  ImageFormatError,
  ImageReferenceNotFound,
  ImageSourceUnavailable,
} from '../image-errors';
import {
  DIGEST,
  MEDIA,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type LayerRef,
} from '../oci';
import { BlobWriter } from '../cache/blob-writer';
import { type Credentials, readAuthFile, RegistryAuth } from './auth';
import { DownloadSlots } from './download-slots';
import {
  formatReference,
  type ImageReference,
  manifestReference,
  parseReference,
} from './reference';
import { readBody, RegistryTransport, type HttpResponse } from './transport';

export interface RegistryClientOptions {
  /** host:port pairs spoken to over plain HTTP */
  insecureRegistries: string[];
  /** PEM CA bundle trusted besides Node's */
  caFile?: string;
  /** a Docker / containers auth.json */
  authFile?: string;
  /** used for every registry, ahead of the auth file */
  credentials?: Credentials;
  maxConcurrentDownloads: number;
  log: Logger;
  /** dropped connections a blob download survives; default 5 */
  retries?: number;
  /** a connection silent this long counts as dropped; default 30 s */
  idleTimeoutMs?: number;
}

export interface ResolvedImage {
  reference: ImageReference;
  /** the digest of the linux/amd64 image manifest: what pins the image */
  manifestDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** bottom-most first, with diffId from the config's rootfs.diff_ids */
  layers: LayerRef[];
}

const ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(
  ', ',
);
const INDEX_TYPES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);
const MANIFEST_TYPES = new Set<string>([MEDIA.ociManifest, MEDIA.dockerManifest]);
const MANIFEST_LIMIT = 4 << 20;
const CONFIG_LIMIT = 8 << 20;
/** configs resolved recently, by digest: content-addressed, so never stale */
const CONFIG_MEMO = 64;

export class RegistryClient {
  private readonly transport: RegistryTransport;
  private readonly auth: RegistryAuth;
  private readonly slots: DownloadSlots;
  private readonly configs = new Map<string, Promise<Buffer>>();
  private readonly resolving = new Map<string, Promise<ResolvedImage>>();
  private readonly retries: number;
  private readonly log: Logger;

  constructor(opts: RegistryClientOptions) {
    this.log = opts.log;
    this.retries = opts.retries ?? 5;
    this.transport = new RegistryTransport(opts);
    const fromFile = opts.authFile ? readAuthFile(opts.authFile) : new Map<string, Credentials>();
    this.auth = new RegistryAuth(
      this.transport,
      (registry) => opts.credentials ?? fromFile.get(registry),
      opts.log,
    );
    this.slots = new DownloadSlots(opts.maxConcurrentDownloads);
  }

  /** The linux/amd64 image a reference names; concurrent resolves of one reference share one. */
  resolve(ref: ImageReference): Promise<ResolvedImage> {
    const key = formatReference(ref);
    let job = this.resolving.get(key);
    if (!job) {
      job = this.resolveOnce(ref).finally(() => this.resolving.delete(key));
      this.resolving.set(key, job);
    }
    return job;
  }

  /**
   * Writes the blob to `dest`, verified: a path the caller owns and
   * removes on failure, or a BlobStore's writer (which then knows the
   * digest of what it was given without reading it back); `onProgress`
   * gets the bytes received so far.
   */
  async fetchBlob(
    ref: ImageReference,
    want: { digest: string; size: number },
    dest: string | BlobWriter,
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    const writer = typeof dest === 'string' ? new BlobWriter(dest) : dest;
    try {
      const memo = this.configs.get(want.digest);
      if (memo) {
        const bytes = await memo;
        await writer.restart();
        await writer.write(bytes);
        onProgress?.(bytes.length);
      } else await this.slots.run(() => this.download(ref, want, writer, onProgress));
      if (writer !== dest) await writer.finish();
    } finally {
      if (writer !== dest) await writer.close();
    }
  }

  close(): void {
    this.transport.close();
  }

  private async resolveOnce(ref: ImageReference): Promise<ResolvedImage> {
    const what = `image ${formatReference(ref)}`;
    let top = await this.manifest(ref, manifestReference(ref), what);
    if (INDEX_TYPES.has(top.mediaType)) {
      const chosen = pickPlatform(top.doc as unknown as ImageIndex, what);
      top = await this.manifest(ref, chosen.digest, `${what} (linux/amd64)`);
    }
    const manifest = checkManifest(top.doc, top.mediaType, what);
    const config = parseConfig(await this.configBlob(ref, manifest.config, what), what);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length)
      throw new ImageFormatError(
        `${what}: its config lists ${diffIds?.length ?? 0} diff_ids for ${manifest.layers.length} layers`,
      );
    const layers = manifest.layers.map((d, i): LayerRef => ({
      digest: d.digest,
      size: d.size,
      mediaType: d.mediaType,
      diffId: diffIds[i],
    }));
    this.log.info('registry image resolved', {
      image: formatReference(ref),
      manifest: top.digest,
      layers: layers.length,
    });
    return { reference: ref, manifestDigest: top.digest, manifest, config, layers };
  }

  /** A GET answered with the registry's credentials; 401/403 after the auth flow is RegistryAuthError. */
  private async authorizedGet(
    ref: ImageReference,
    path: string,
    headers: Record<string, string>,
    what: string,
  ): Promise<HttpResponse> {
    const url = new URL(`${this.transport.origin(ref.registry)}/v2/${ref.repository}/${path}`);
    const send = (authorization: string | undefined) =>
      this.transport.get(url, {
        what,
        headers: authorization ? { ...headers, authorization } : headers,
      });
    let res = await send(this.auth.header(ref.registry, ref.repository));
    if (res.status === 401) {
      res.body.resume();
      const header = res.headers['www-authenticate'];
      res = await send(await this.auth.answer(ref.registry, ref.repository, header));
    }
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw this.auth.refused(ref.registry, ref.repository);
    }
    return res;
  }

  private async manifest(
    ref: ImageReference,
    reference: string,
    what: string,
  ): Promise<{ doc: Record<string, unknown>; mediaType: string; digest: string }> {
    const res = await this.authorizedGet(ref, `manifests/${reference}`, { accept: ACCEPT }, what);
    await expectOk(res, what, `not found in registry ${ref.registry}`);
    const bytes = await readBody(res, MANIFEST_LIMIT, what);
    const digest = sha256(bytes);
    const claimed = res.headers['docker-content-digest'];
    const promised = DIGEST.test(reference)
      ? reference
      : typeof claimed === 'string' && DIGEST.test(claimed)
        ? claimed
        : undefined;
    if (promised && promised !== digest)
      throw new ImageChecksumError(
        `${what}: manifest checksum mismatch: ${promised} expected, the bytes hash to ${digest}`,
      );
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ImageFormatError(`${what}: the manifest is not JSON`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc))
      throw new ImageFormatError(`${what}: the manifest is not a JSON object`);
    const contentType = String(res.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : contentType;
    return { doc, mediaType, digest };
  }

  private configBlob(ref: ImageReference, desc: Descriptor, what: string): Promise<Buffer> {
    let job = this.configs.get(desc.digest);
    if (!job) {
      job = this.slots.run(() => this.smallBlob(ref, desc, `${what}: config ${desc.digest}`));
      this.configs.set(desc.digest, job);
      // A failed fetch is not remembered; the oldest entries make room.
      job.catch(() => this.configs.delete(desc.digest));
      while (this.configs.size > CONFIG_MEMO)
        this.configs.delete(this.configs.keys().next().value!);
    }
    return job;
  }

  private async smallBlob(ref: ImageReference, desc: Descriptor, what: string): Promise<Buffer> {
    if (desc.size > CONFIG_LIMIT)
      throw new ImageFormatError(`${what}: ${desc.size} bytes is larger than a config may be`);
    const res = await this.authorizedGet(ref, `blobs/${desc.digest}`, {}, what);
    await expectOk(res, what, `not found in registry ${ref.registry}`);
    const bytes = await readBody(res, CONFIG_LIMIT, what);
    verify(bytes.length, sha256(bytes), desc, what);
    return bytes;
  }

  private async download(
    ref: ImageReference,
    want: { digest: string; size: number },
    writer: BlobWriter,
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    const what = `blob ${want.digest} of ${formatReference(ref)}`;
    await writer.restart();
    for (let failures = 0; ;) {
      const outcome = await this.downloadPart(ref, want, writer, what, onProgress);
      if (outcome === 'done') break;
      if (++failures > this.retries)
        throw new ImageSourceUnavailable(
          `${what}: the connection failed ${failures} times, the last at byte ${writer.size} of ${want.size}: ${outcome.message}`,
          { cause: outcome },
        );
      this.log.warn('registry download interrupted, resuming', {
        blob: want.digest,
        at: writer.size,
        size: want.size,
        error: outcome.message,
      });
    }
    const got = writer.digest();
    verify(got.size, got.digest, want, what);
  }

  /**
   * One GET of the rest of a blob, appended through `writer`. 'done' once
   * all bytes are in; the error when the transfer broke off and may resume.
   */
  private async downloadPart(
    ref: ImageReference,
    want: { digest: string; size: number },
    writer: BlobWriter,
    what: string,
    onProgress?: (bytes: number) => void,
  ): Promise<'done' | Error> {
    const have = writer.size;
    const headers: Record<string, string> = have ? { range: `bytes=${have}-` } : {};
    let res: HttpResponse;
    try {
      res = await this.authorizedGet(ref, `blobs/${want.digest}`, headers, what);
    } catch (err) {
      if (err instanceof ImageSourceUnavailable) return err;
      throw err;
    }
    if (res.status >= 500) {
      res.body.resume();
      return new ImageSourceUnavailable(`${what}: the registry answered ${res.status}`);
    }
    const resumed = res.status === 206 && rangeStart(res) === have;
    if (!resumed) {
      await expectOk(res, what, `not found in registry ${ref.registry}`);
      if (have)
        this.log.info('registry ignored the range, downloading again', { blob: want.digest });
      // The server sent the whole blob again (or a range we did not ask for): start over.
      if (have) await writer.restart();
    }
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (writer.size + chunk.length > want.size) {
          res.body.destroy();
          throw new ImageChecksumError(
            `${what}: more bytes than the ${want.size} its descriptor says, so its checksum cannot match`,
          );
        }
        await writer.write(chunk);
        onProgress?.(writer.size);
      }
    } catch (err) {
      // A full or broken disk is not a dropped connection: fetching again would not help.
      if (err instanceof ImageChecksumError || writer.failed) throw err;
      return err as Error;
    }
    return writer.size < want.size ? new Error(`the answer ended at byte ${writer.size}`) : 'done';
  }
}

/** The client `[registry]` describes, with a call's own credentials (`berth image pull --username`). */
export function registryClientFromConfig(
  section: RegistrySection,
  log: Logger,
  credentials?: Credentials,
): RegistryClient {
  return new RegistryClient({
    insecureRegistries: section.insecure_registries,
    caFile: section.ca_file || undefined,
    authFile: section.auth_file || undefined,
    credentials,
    maxConcurrentDownloads: section.max_concurrent_downloads,
    log,
  });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function verify(
  size: number,
  digest: string,
  want: { digest: string; size: number },
  what: string,
) {
  if (size !== want.size)
    throw new ImageChecksumError(
      `${what}: ${size} bytes received, ${want.size} expected, so its checksum cannot match`,
    );
  if (digest !== want.digest)
    throw new ImageChecksumError(`${what}: checksum mismatch (the data hashes to ${digest})`);
}

/** 200, or the registry's own words for why not (its errors[0].message when it sends one). */
async function expectOk(res: HttpResponse, what: string, notFound: string): Promise<void> {
  if (res.status === 200 || res.status === 206) return;
  const body = await readBody(res, 64 << 10, what).catch(() => Buffer.alloc(0));
  if (res.status === 404) throw new ImageReferenceNotFound(`${what}: ${notFound}`);
  let detail = '';
  try {
    const message = (JSON.parse(body.toString('utf8')) as { errors?: { message?: string }[] })
      .errors?.[0]?.message;
    if (message) detail = `: ${message}`;
  } catch {
    // not the registry's error document: the status says enough
  }
  throw new ImageSourceUnavailable(`${what}: the registry answered ${res.status}${detail}`);
}

function rangeStart(res: HttpResponse): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

function pickPlatform(index: ImageIndex, what: string): Descriptor {
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  const chosen = manifests.find(
    (d) =>
      d.platform?.os === 'linux' && d.platform.architecture === 'amd64' && DIGEST.test(d.digest),
  );
  if (chosen) return chosen;
  const have = manifests
    .map((d) =>
      d.platform
        ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}`
        : 'unknown',
    )
    .join(', ');
  throw new ImageReferenceNotFound(
    `${what}: no linux/amd64 image; the index has ${have || 'no platforms at all'}`,
  );
}

function checkManifest(
  doc: Record<string, unknown>,
  mediaType: string,
  what: string,
): ImageManifest {
  if (doc.schemaVersion === 1)
    throw new ImageFormatError(`${what}: Docker schema 1 manifests are not supported`);
  if (INDEX_TYPES.has(mediaType))
    throw new ImageFormatError(`${what}: an index inside an index is not supported`);
  if (mediaType && !MANIFEST_TYPES.has(mediaType))
    throw new ImageFormatError(`${what}: unknown manifest media type ${mediaType}`);
  const m = doc as unknown as ImageManifest;
  const descriptorOk = (d: Descriptor | undefined) =>
    !!d &&
    typeof d.digest === 'string' &&
    DIGEST.test(d.digest) &&
    Number.isSafeInteger(d.size) &&
    d.size >= 0;
  if (
    doc.schemaVersion !== 2 ||
    !descriptorOk(m.config) ||
    !Array.isArray(m.layers) ||
    !m.layers.every(descriptorOk)
  )
    throw new ImageFormatError(`${what}: the manifest is not a schema 2 image manifest`);
  return m;
}

function parseConfig(bytes: Buffer, what: string): ImageConfig {
  try {
    const config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
    if (config && typeof config === 'object' && !Array.isArray(config)) return config;
  } catch {
    // reported below
  }
  throw new ImageFormatError(`${what}: the image config is not a JSON object`);
}

/**
 * What the ImagePreparer needs to fetch a registry image's blobs on a
 * compute host. The client is made at the first fetch: a bad `auth_file`
 * then fails the boot of a registry image with its reason, not the start
 * of a compute that may never boot one.
 */
export function registryAccessFromConfig(section: RegistrySection, log: Logger) {
  let client: RegistryClient | undefined;
  return {
    parseReference,
    client: {
      fetchBlob: (...args: Parameters<RegistryClient['fetchBlob']>) =>
        (client ??= registryClientFromConfig(section, log)).fetchBlob(...args),
    },
  };
}
