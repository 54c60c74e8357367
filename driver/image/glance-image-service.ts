/**
 * The ImageService of a compute host whose images live in an image
 * service: `berth api`'s embedded one, or a real Glance (reference
 * §5). Metadata calls go to Glance (failing over across the servers of
 * [glance] api_servers); an image's data is streamed once, resumed after a
 * dropped connection and verified against os_hash_value and checksum, into
 * the host's own store under the same id, and booted from there: "local
 * cache first, then Glance". Concurrent builds of one image share one
 * download. Without a host store (the control plane) it only reads
 * metadata, with the caller's token (`withToken`).
 */
import fs from 'node:fs';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'winston';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import { glanceDownload } from './glance-download';
import { GlanceServers, glanceError } from './glance-servers';
import { CONFIG_PROPERTY, fromGlanceImage, type GlanceImage } from './glance-wire';
import {
  type ImageData,
  type ImageMetadata,
  type ImageRecord,
  type ImageService,
  type ImportOptions,
  type NewImage,
  type PreparedImage,
  type PrepareOptions,
  type UploadOptions,
} from './image-service';
import type { LocalImageStore } from './local-image-store';
import { REF_PROPERTY } from './registry/registry-record';
import { checkExpected, checkImport, looksLikeTar, streamWithDigests, UUID } from './image-record';

export interface GlanceImageServiceOptions {
  /**
   * The unversioned image endpoints ([glance] api_servers), e.g.
   * `http://127.0.0.1:8774/image`, tried in turn; a GlanceServers to share
   * which one answered last between services (one per token).
   */
  endpoint: string | readonly string[] | GlanceServers;
  /** sent as X-Auth-Token: fixed (noauth2 "admin:admin"), or asked for per request (Keystone); none for a noauth Glance */
  token?: string | (() => string | Promise<string>);
  /** this host's store, where downloaded images are kept and unpacked; none for the control plane, which only reads metadata */
  cache?: LocalImageStore;
  /** for metadata calls; data transfers are not limited. Default 30 s. */
  timeoutMs?: number;
  /** connections after the first that a download may resume on. Default 5. */
  maxResumes?: number;
  log?: Logger;
}

export class GlanceImageService implements ImageService {
  readonly servers: GlanceServers;
  private readonly downloads = new Map<string, Promise<ImageRecord>>();

  constructor(private readonly opts: GlanceImageServiceOptions) {
    this.servers =
      opts.endpoint instanceof GlanceServers ? opts.endpoint : new GlanceServers(opts.endpoint);
  }

  /** The same image service as `token` sees it (Nova's per-request context): servers shared, no cache. */
  withToken(token: string | undefined): GlanceImageService {
    return new GlanceImageService({
      ...this.opts,
      endpoint: this.servers,
      token,
      cache: undefined,
    });
  }

  async show(ref: string): Promise<ImageRecord> {
    if (UUID.test(ref)) {
      const cached = await this.opts.cache?.show(ref).catch(ignoreNotFound);
      if (cached) return cached;
      return this.remote(ref);
    }
    const named = (await this.list({ name: ref })).filter((r) => r.name === ref);
    if (named.length > 1)
      throw new ConflictError(`${named.length} images are named ${ref}; use the image id`);
    if (!named.length) throw new NotFoundError(`image ${ref} not found`);
    return named[0];
  }

  /** every image the token may list, following Glance's `next` links */
  async list(filters: Record<string, string> = {}): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    let next: string | undefined =
      `/v2/images?${new URLSearchParams({ ...filters, limit: '1000' })}`;
    while (next) {
      const body = (await this.json('GET', next)) as { images: GlanceImage[]; next?: string };
      out.push(...body.images.map(fromGlanceImage));
      next = body.next;
    }
    return out;
  }

  /**
   * A registry image has no data: its record is prepared as it is. Any
   * other is copied into this host's store first. A snapshot's base is
   * looked up here too, so a base in the image service works.
   */
  async prepare(ref: string, opts: PrepareOptions = {}): Promise<PreparedImage> {
    const record = await this.show(ref);
    // Size 0: `openstack image create` uploads an empty stdin when it is not a terminal.
    if (record.properties[REF_PROPERTY] && !record.size)
      return this.store().prepareRecord(record, { ...opts, bases: this });
    await this.cached(record.id);
    return this.store().prepare(record.id, { ...opts, bases: this });
  }

  async import(name: string, tarPath: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    await checkImport(name, tarPath, opts);
    if (!(await looksLikeTar(tarPath)))
      throw new InvalidArgumentError(`image ${tarPath}: not a valid image archive`);
    const { id } = await this.create({
      name,
      container_format: 'bare',
      disk_format: 'raw',
      visibility: opts.visibility ?? 'public',
      ...(opts.owner ? { owner: opts.owner } : {}),
      properties: opts.properties,
      ...(opts.command ? { config: { cmd: opts.command } } : {}),
    });
    try {
      return await this.upload(id, fs.createReadStream(tarPath));
    } catch (err) {
      await this.delete(id).catch(() => undefined);
      throw err;
    }
  }

  async delete(ref: string): Promise<void> {
    const { id } = await this.show(ref);
    await this.request('DELETE', `/v2/images/${id}`);
    await this.forget(id);
  }

  async create(image: NewImage): Promise<ImageRecord> {
    const { properties, config, ...base } = image;
    const body: GlanceImage = { ...properties, ...base };
    if (config) body[CONFIG_PROPERTY] = JSON.stringify(config);
    return fromGlanceImage((await this.json('POST', '/v2/images', { body })) as GlanceImage);
  }

  async update(id: string, changes: ImageMetadata): Promise<ImageRecord> {
    const current = await this.remote(id);
    const patch = patchFor(current, changes);
    if (!patch.length) return current;
    const updated = await this.json('PATCH', `/v2/images/${id}`, {
      body: patch,
      contentType: 'application/openstack-images-v2.1-json-patch',
    });
    return fromGlanceImage(updated as GlanceImage);
  }

  async upload(id: string, data: Readable, opts: UploadOptions = {}): Promise<ImageRecord> {
    const body = opts.expect ? data.pipe(verifiedBeforeLastChunk(opts.expect)) : data;
    try {
      await this.request('PUT', `/v2/images/${id}/file`, {
        body,
        contentType: 'application/octet-stream',
        timeout: false,
      });
    } catch (err) {
      // The image service puts a failed upload back to queued once it sees the abort.
      await this.settled(id);
      throw body.errored ?? err;
    }
    return this.remote(id);
  }

  async download(
    id: string,
    range?: { start: number; end: number },
  ): Promise<ImageData | undefined> {
    const res = await this.request('GET', `/v2/images/${id}/file`, {
      headers: range ? { range: `bytes=${range.start}-${range.end}` } : {},
      timeout: false,
    });
    if (res.status === 204 || !res.body) return undefined;
    const length = Number(res.headers.get('content-length'));
    const span = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
    return {
      size: span ? Number(span[3]) : length,
      start: span ? Number(span[1]) : 0,
      end: span ? Number(span[2]) : length - 1,
      stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
    };
  }

  /** The image in this host's store, downloading it first if needed; one download per id. */
  private cached(id: string): Promise<ImageRecord> {
    let job = this.downloads.get(id);
    if (!job) {
      job = this.copyToCache(id).finally(() => this.downloads.delete(id));
      this.downloads.set(id, job);
    }
    return job;
  }

  /**
   * Streams the image into this host's store: resumed across dropped
   * connections and servers, verified before the store may keep it
   * (ImageChecksumError otherwise, and nothing is kept).
   */
  private async copyToCache(id: string): Promise<ImageRecord> {
    const cache = this.store();
    const local = await cache.show(id).catch(ignoreNotFound);
    if (local?.status === 'active') return local;
    if (local) await this.forget(id); // a copy that failed part-way
    const image = await this.remote(id);
    if (image.status !== 'active')
      throw new ConflictError(`image ${id} is ${image.status} in the image service, not active`);
    const { id: _id, status: _s, size, checksum, os_hash_value, ...meta } = image;
    void [_id, _s];
    await cache.create({ ...pickMetadata(meta), id });
    try {
      const data = glanceDownload({
        servers: this.servers,
        headers: () => this.headers(),
        image,
        maxResumes: this.opts.maxResumes,
        onResume: (e) => this.opts.log?.warn('image download resumed', { image: id, ...e }),
      });
      return await cache.upload(id, data, { expect: { size, checksum, os_hash_value } });
    } catch (err) {
      await this.forget(id);
      throw err;
    }
  }

  private store(): LocalImageStore {
    if (!this.opts.cache)
      throw new ConflictError('this image service client keeps no images: it has no host store');
    return this.opts.cache;
  }

  /** Drops the local copy, protected or not: protection is the image service's business. */
  private async forget(id: string): Promise<void> {
    const cache = this.opts.cache;
    const local = await cache?.show(id).catch(ignoreNotFound);
    if (!cache || !local) return;
    if (local.protected) await cache.update(id, { protected: false });
    await cache.delete(id);
  }

  private async remote(id: string): Promise<ImageRecord> {
    return fromGlanceImage((await this.json('GET', `/v2/images/${id}`)) as GlanceImage);
  }

  /** Waits (briefly) until an upload's failure has been seen and the image is no longer saving. */
  private async settled(id: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const image = await this.remote(id).catch(() => undefined);
      if (image?.status !== 'saving') return;
      await sleep(20);
    }
  }

  private async json(
    method: string,
    path: string,
    o: { body?: unknown; contentType?: string } = {},
  ): Promise<unknown> {
    const res = await this.request(method, path, {
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      contentType: o.contentType ?? 'application/json',
    });
    return res.json();
  }

  private async headers(): Promise<Record<string, string>> {
    const t = this.opts.token;
    const token = typeof t === 'function' ? await t() : t;
    return { accept: 'application/json', ...(token ? { 'x-auth-token': token } : {}) };
  }

  private async request(
    method: string,
    path: string,
    o: {
      body?: RequestInit['body'] | Readable;
      contentType?: string;
      headers?: Record<string, string>;
      timeout?: false;
    } = {},
  ): Promise<Response> {
    const headers = { ...(await this.headers()), ...o.headers };
    if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await this.servers.send({
      method,
      path,
      headers,
      body: o.body,
      timeoutMs: o.timeout === false ? undefined : (this.opts.timeoutMs ?? 30000),
    });
    if (res.status >= 400) throw await glanceError(res, `${method} ${path}`);
    return res;
  }
}

function ignoreNotFound(err: unknown): undefined {
  if (err instanceof NotFoundError) return undefined;
  throw err;
}

function pickMetadata(
  meta: Omit<ImageRecord, 'id' | 'status' | 'size' | 'checksum' | 'os_hash_value'>,
): ImageMetadata {
  return {
    name: meta.name,
    container_format: meta.container_format,
    disk_format: meta.disk_format,
    visibility: meta.visibility,
    protected: meta.protected,
    os_hidden: meta.os_hidden,
    min_disk: meta.min_disk,
    min_ram: meta.min_ram,
    owner: meta.owner,
    tags: meta.tags,
    properties: meta.properties,
    ...(meta.config ? { config: meta.config } : {}),
  };
}

/** The JSON-patch (v2.1) that turns `current` into `current` with `changes`. */
function patchFor(current: ImageRecord, changes: ImageMetadata) {
  const ops: { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }[] = [];
  const pointer = (key: string) => `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  const { properties, config, ...base } = changes;
  for (const [key, value] of Object.entries(base))
    if (value !== undefined) ops.push({ op: 'replace', path: pointer(key), value });
  const props = { ...current.properties };
  if (current.config) props[CONFIG_PROPERTY] = JSON.stringify(current.config);
  const wanted = { ...(properties ?? current.properties) };
  if (config) wanted[CONFIG_PROPERTY] = JSON.stringify(config);
  else if (config === undefined && current.config) wanted[CONFIG_PROPERTY] = props[CONFIG_PROPERTY];
  for (const key of Object.keys(props))
    if (!(key in wanted)) ops.push({ op: 'remove', path: pointer(key) });
  for (const [key, value] of Object.entries(wanted))
    if (props[key] !== value) ops.push({ op: 'add', path: pointer(key), value });
  return ops;
}

/**
 * Passes data through but holds its last chunk back until the digests of
 * the whole match `expect`: on a mismatch the upload is cut short, so the
 * image service never activates data it was not promised.
 */
function verifiedBeforeLastChunk(expect: UploadOptions['expect']): Transform {
  let held: Buffer | undefined;
  const tee = new PassThrough();
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const finished = streamWithDigests(tee, discard);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      tee.write(chunk);
      const previous = held;
      held = chunk;
      done(null, previous);
    },
    flush(done) {
      tee.end();
      finished
        .then((got) => {
          checkExpected(got, expect);
          done(null, held);
        })
        .catch((err: Error) => done(err));
    },
  });
}
