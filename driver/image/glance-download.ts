/**
 * An image's data from Glance as one verified stream: a connection that
 * drops part-way is resumed with `Range: bytes=N-` (Glance answers 206) on
 * the next server of the list, the hashes carry on over the resumed part,
 * and the stream fails instead of ending when the whole does not match
 * what the record promised, so a consumer never takes bad data for good.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { BerthError, ConflictError } from '../../common/errors';
import { ImageChecksumError, ImageSourceUnavailable } from './image-errors';
import { describe, glanceError, type GlanceServers } from './glance-servers';
import type { ImageRecord } from './image-service';

export interface GlanceDownloadOptions {
  servers: GlanceServers;
  headers: () => Promise<Record<string, string>>;
  image: Pick<ImageRecord, 'id' | 'size' | 'checksum' | 'os_hash_algo' | 'os_hash_value'>;
  /** connections after the first; each resumes where the last one stopped. Default 5. */
  maxResumes?: number;
  /** a connection that brings no byte for this long is dropped and resumed. Default 60 s. */
  idleTimeoutMs?: number;
  /** told of every resume: where, from which byte, why */
  onResume?: (e: { server: string; offset: number; reason: string }) => void;
}

/** The verified bytes of `o.image`, resumed across dropped connections and servers. */
export function glanceDownload(o: GlanceDownloadOptions): Readable {
  return Readable.from(verifiedChunks(o), { objectMode: false });
}

async function* verifiedChunks(o: GlanceDownloadOptions): AsyncGenerator<Buffer> {
  const { id } = o.image;
  const sha512 = createHash('sha512');
  const md5 = createHash('md5');
  let offset = 0;
  let resumes = 0;
  for (;;) {
    const abort = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => abort.abort(new Error(`no data for ${o.idleTimeoutMs ?? 60_000} ms`)),
        o.idleTimeoutMs ?? 60_000,
      );
    };
    const server = o.servers.preferred;
    try {
      arm();
      const res = await o.servers.send({
        method: 'GET',
        path: `/v2/images/${id}/file`,
        headers: { ...(await o.headers()), ...(offset ? { range: `bytes=${offset}-` } : {}) },
        signal: abort.signal,
      });
      let skip = await startOf(res, id, offset);
      for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
        arm();
        let bytes = chunk as Buffer;
        // A server that ignored the range sent the whole again: pass over what we have.
        if (skip) {
          const n = Math.min(skip, bytes.length);
          skip -= n;
          bytes = bytes.subarray(n);
          if (!bytes.length) continue;
        }
        sha512.update(bytes);
        md5.update(bytes);
        offset += bytes.length;
        yield bytes;
      }
      if (o.image.size !== null && offset < o.image.size)
        throw new Error(`connection closed at byte ${offset} of ${o.image.size}`);
      break;
    } catch (err) {
      if (!(err instanceof Error) || isFinal(err)) throw err;
      if (resumes >= (o.maxResumes ?? 5))
        throw new ImageSourceUnavailable(
          `image ${id}: download failed at byte ${offset} after ${resumes} resumes: ${describe(err)}`,
          { cause: err },
        );
      resumes++;
      o.servers.failed();
      o.onResume?.({ server, offset, reason: describe(err) });
    } finally {
      clearTimeout(idle);
      abort.abort();
    }
  }
  checkDigests(o.image, offset, sha512.digest('hex'), md5.digest('hex'));
}

/** How many leading bytes of `res` to pass over: 0 for a 206 starting at `offset`. */
async function startOf(res: Response, id: string, offset: number): Promise<number> {
  if (res.status >= 400) throw await glanceError(res, `GET /v2/images/${id}/file`);
  if (res.status === 204 || !res.body)
    throw new ConflictError(`image ${id} has no data in the image service`);
  if (res.status !== 206) return offset;
  const span = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  if (!span || Number(span[1]) !== offset)
    throw new Error(
      `asked for bytes from ${offset}, got ${res.headers.get('content-range') ?? 'no Content-Range'}`,
    );
  return 0;
}

/** The image service's own answers, which another connection would not change. */
function isFinal(err: Error): boolean {
  return err instanceof BerthError;
}

function checkDigests(
  image: GlanceDownloadOptions['image'],
  size: number,
  sha512: string,
  md5: string,
): void {
  const { id } = image;
  if (image.size !== null && size !== image.size)
    throw new ImageChecksumError(
      `image ${id}: checksum mismatch: ${size} bytes downloaded, the record says ${image.size}`,
    );
  if (image.os_hash_algo === 'sha512' && image.os_hash_value && image.os_hash_value !== sha512)
    throw new ImageChecksumError(
      `image ${id}: checksum mismatch: the data's sha512 is ${sha512}, os_hash_value is ${image.os_hash_value}`,
    );
  if (image.checksum && image.checksum !== md5)
    throw new ImageChecksumError(
      `image ${id}: checksum mismatch: the data's md5 is ${md5}, checksum is ${image.checksum}`,
    );
}
