/**
 * The Glance endpoints of `[glance] api_servers`, as Nova's glance client
 * uses them: a request goes to the server that last answered, and moves on
 * to the next one when a server cannot be reached or answers 5xx. A 4xx is
 * the image service's answer, not a failure of the server: it is returned.
 */
import { Readable } from 'node:stream';
import {
  type BerthError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../common/errors';
import { ImageSourceUnavailable } from './image-errors';
import { ImageForbiddenError } from './image-service';

export interface GlanceRequest {
  method: string;
  /** from the version on: `/v2/images/...` */
  path: string;
  headers: Record<string, string>;
  body?: RequestInit['body'] | Readable;
  /** ms; undefined for data transfers, which may take as long as they take */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class GlanceServers {
  readonly urls: readonly string[];
  /** the server that answered last; where the next request starts */
  private current = 0;

  constructor(urls: string | readonly string[]) {
    const list = (typeof urls === 'string' ? urls.split(',') : urls)
      .map((u) => u.trim().replace(/\/+$/, '').replace(/\/v2$/, ''))
      .filter(Boolean);
    if (!list.length) throw new ImageSourceUnavailable('no image service endpoint configured');
    this.urls = list;
  }

  /** the server requests go to now */
  get preferred(): string {
    return this.urls[this.current];
  }

  /**
   * Sends `r` to each server in turn, starting with the preferred one, until
   * one answers below 500. A streamed body can be sent once only, so such a
   * request is not retried elsewhere. ImageSourceUnavailable when none answers.
   */
  async send(r: GlanceRequest): Promise<Response> {
    const once = r.body instanceof Readable;
    const failures: string[] = [];
    for (let i = 0; i < (once ? 1 : this.urls.length); i++) {
      const at = (this.current + i) % this.urls.length;
      const url = `${this.urls[at]}${r.path}`;
      const res = await this.attempt(url, r).catch((err: Error) => {
        failures.push(`${url}: ${describe(err)}`);
        return undefined;
      });
      if (res && res.status >= 500) {
        failures.push(`${url}: ${res.status} ${(await res.text().catch(() => '')).slice(0, 200)}`);
        continue;
      }
      if (!res) continue;
      this.current = at;
      return res;
    }
    this.failed();
    throw new ImageSourceUnavailable(
      `image service ${r.method} ${r.path}: no server answered (${failures.join('; ')})`,
    );
  }

  /** Moves the preference on: the preferred server just failed part-way through a transfer. */
  failed(): void {
    this.current = (this.current + 1) % this.urls.length;
  }

  private attempt(url: string, r: GlanceRequest): Promise<Response> {
    const signals = [r.signal, r.timeoutMs ? AbortSignal.timeout(r.timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return fetch(url, {
      method: r.method,
      headers: r.headers,
      body: r.body,
      signal: signals.length ? AbortSignal.any(signals) : undefined,
      ...(r.body instanceof Readable ? { duplex: 'half' } : {}),
    } as RequestInit);
  }
}

/** fetch's "fetch failed" says nothing: the cause (ECONNREFUSED, a timeout) does. */
export function describe(err: Error): string {
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}

/** The typed error of a Glance answer of 400 or more, with Glance's message. */
export async function glanceError(res: Response, what: string): Promise<BerthError> {
  const text = await res.text().catch(() => '');
  let message = text.trim();
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not JSON: Glance's webob faults are HTML pages; keep their text
    message = message
      .replace(/<[^>]*>/g, ' ')
      .replace(/&#x27;/g, "'")
      .replace(/\s+/g, ' ')
      .trim();
  }
  const m = `image service ${what}: ${res.status} ${message}`;
  switch (res.status) {
    case 400:
    case 416:
      return new InvalidArgumentError(m);
    case 403:
      return new ImageForbiddenError(m);
    case 404:
      return new NotFoundError(m);
    case 409:
      return new ConflictError(m);
    case 413:
      return new ResourceExhaustedError(m);
    default:
      return new UnavailableError(m);
  }
}
