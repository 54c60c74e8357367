/**
 * How berth reaches a registry: HTTPS with Node's CAs plus `[registry]
 * ca_file`, plain HTTP only to the host:port pairs listed in
 * `insecure_registries` (exact match), redirects followed with the
 * Authorization header dropped when they leave the origin (a blob
 * redirected to object storage must not see registry credentials). Only
 * URLs and statuses are logged, never headers.
 */
import fs from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Logger } from '../../../common/log';
import { InvalidArgumentError } from '../../../common/errors';
import { ImageSourceUnavailable } from '../image-errors';
import { DOCKER_HUB } from './reference';

export interface TransportOptions {
  insecureRegistries: string[];
  caFile?: string;
  /** a socket idle this long counts as dropped; default 30 s */
  idleTimeoutMs?: number;
  log: Logger;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** where the answer came from, after redirects */
  url: URL;
}

export interface HttpRequest {
  headers?: Record<string, string>;
  /** what the request is for, in error messages: "manifest of 127.0.0.1:5000/busybox:1" */
  what: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export class RegistryTransport {
  private readonly insecure: Set<string>;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly idleTimeoutMs: number;

  constructor(private readonly opts: TransportOptions) {
    this.insecure = new Set(opts.insecureRegistries);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30000;
    this.httpsAgent = new https.Agent({ keepAlive: true, ca: caBundle(opts.caFile) });
  }

  /** `https://host:port` for a registry, or `http://` when it is listed as insecure. */
  origin(registry: string): string {
    // Docker Hub's API is not served under its name.
    const host = registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
    return `${this.insecure.has(registry) ? 'http' : 'https'}://${host}`;
  }

  /** A GET; the caller consumes or destroys the body. */
  async get(url: URL, req: HttpRequest): Promise<HttpResponse> {
    let headers = { ...req.headers };
    for (let hop = 0; ; hop++) {
      this.checkScheme(url, req.what);
      const res = await this.once(url, headers, req.what);
      this.opts.log.debug('registry request', { url: url.href, status: res.status });
      if (!REDIRECTS.has(res.status) || !res.headers.location) return res;
      res.body.resume();
      if (hop >= MAX_REDIRECTS)
        throw new ImageSourceUnavailable(`${req.what}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(res.headers.location, url);
      if (next.origin !== url.origin) {
        const { authorization: _auth, ...rest } = headers;
        void _auth;
        headers = rest;
      }
      url = next;
    }
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }

  private checkScheme(url: URL, what: string): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.insecure.has(url.host)) return;
    throw new InvalidArgumentError(
      url.protocol === 'http:'
        ? `${what}: refusing plain HTTP to ${url.host}: it is not in [registry] insecure_registries`
        : `${what}: unsupported URL scheme ${url.protocol}`,
    );
  }

  private once(url: URL, headers: Record<string, string>, what: string): Promise<HttpResponse> {
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, {
        method: 'GET',
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      req.setTimeout(this.idleTimeoutMs, () =>
        req.destroy(new Error(`no data for ${this.idleTimeoutMs} ms`)),
      );
      req.on('response', (body) =>
        resolve({ status: body.statusCode ?? 0, headers: body.headers, body, url }),
      );
      req.on('error', (err) => reject(unreachable(url, what, err, secure)));
      req.end();
    });
  }
}

function caBundle(caFile: string | undefined): string[] | undefined {
  if (!caFile) return undefined;
  try {
    return [...tls.rootCertificates, fs.readFileSync(caFile, 'utf8')];
  } catch (err) {
    throw new InvalidArgumentError(`[registry] ca_file ${caFile}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function unreachable(url: URL, what: string, err: Error, secure: boolean): ImageSourceUnavailable {
  const code = (err as NodeJS.ErrnoException).code;
  // A TLS handshake with a plain-HTTP server fails with this; say what would fix it.
  const hint =
    secure && code === 'EPROTO'
      ? ` (if ${url.host} serves plain HTTP, list it in [registry] insecure_registries)`
      : '';
  return new ImageSourceUnavailable(`${what}: cannot reach ${url.origin}: ${err.message}${hint}`, {
    cause: err,
  });
}

/** A whole small body (a manifest, a config, a token answer), refused past `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        res.body.destroy();
        throw new ImageSourceUnavailable(`${what}: the answer is larger than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ImageSourceUnavailable) throw err;
    throw new ImageSourceUnavailable(`${what}: connection lost: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return Buffer.concat(chunks);
}
