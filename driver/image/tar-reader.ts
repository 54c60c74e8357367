/**
 * A streaming tar reader for image archives (`docker save`, OCI layout):
 * it hands each member's header and a stream of its bytes to a callback and
 * never touches the filesystem, so member names are only ever strings here
 * (layers themselves are unpacked by berth-unpack, which resolves names
 * safely). Members stream with backpressure: a layer is never buffered.
 */
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { ImageFormatError } from './image-errors';

export interface TarMember {
  /** as stored, after pax/GNU long names: may be absolute or hold `..` */
  name: string;
  /** '0' file, '1' hardlink, '2' symlink, '5' dir, … */
  type: string;
  size: number;
  linkname: string;
}

/**
 * What to do with a member: read `body` (or ignore it: the reader drains
 * what is left), and resolve; return false to stop reading the archive.
 */
export type OnMember = (member: TarMember, body: Readable) => Promise<boolean | void>;

const BLOCK = 512;

/** Reads the tar on `stream` member by member; stops at its end, or when onMember says so. */
export async function readTar(stream: Readable, label: string, onMember: OnMember): Promise<void> {
  const bytes = new ByteReader(stream, label);
  try {
    const pending: { name?: string; linkname?: string; size?: number } = {};
    for (;;) {
      const block = await bytes.read(BLOCK);
      if (block.length === 0 || isZero(block)) return;
      if (block.length < BLOCK) throw truncated(label, 'a header is cut short');
      const h = parseHeader(block, label);
      const size = pending.size ?? h.size;
      if (h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K') {
        if (h.size > 1 << 20)
          throw new ImageFormatError(`archive ${label}: oversized tar metadata`);
        const data = await bytes.readExactly(h.size, h.size + pad(h.size));
        if (h.type === 'x') Object.assign(pending, parsePax(data.subarray(0, h.size), label));
        if (h.type === 'L') pending.name = cString(data.subarray(0, h.size));
        if (h.type === 'K') pending.linkname = cString(data.subarray(0, h.size));
        continue;
      }
      const headerOnly = '123456'.includes(h.type);
      const member: TarMember = {
        name: pending.name ?? h.name,
        type: h.type === '\0' || h.type === '7' ? '0' : h.type,
        size: headerOnly ? 0 : size,
        linkname: pending.linkname ?? h.linkname,
      };
      pending.name = pending.linkname = undefined;
      pending.size = undefined;
      const body = new PassThrough({ highWaterMark: 1 << 20 });
      const handled = onMember(member, body).then(
        (go) => {
          body.resume(); // whatever the callback left unread is drained
          return go;
        },
        (err) => {
          body.destroy();
          throw err;
        },
      );
      const [, go] = await Promise.all([
        bytes.pipeTo(body, member.size, pad(member.size)),
        handled,
      ]);
      if (go === false) return;
    }
  } finally {
    stream.destroy();
  }
}

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function truncated(label: string, what: string): ImageFormatError {
  return new ImageFormatError(`archive ${label}: truncated archive: ${what}`);
}

function isZero(b: Buffer): boolean {
  for (const byte of b) if (byte) return false;
  return true;
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function number(b: Buffer, label: string, field: string): number {
  if (b[0] & 0x80) {
    let v = b[0] & 0x3f;
    for (const byte of b.subarray(1)) v = v * 256 + byte;
    return v;
  }
  const s = cString(b).trim();
  if (!/^[0-7]*$/.test(s)) throw new ImageFormatError(`archive ${label}: bad tar ${field} field`);
  return s ? parseInt(s, 8) : 0;
}

function parseHeader(b: Buffer, label: string) {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  if (number(b.subarray(148, 156), label, 'checksum') !== sum)
    throw new ImageFormatError(`archive ${label}: not a tar archive (bad header checksum)`);
  let name = cString(b.subarray(0, 100));
  const prefix = cString(b.subarray(345, 500));
  if (b.subarray(257, 263).toString('latin1') === 'ustar\0' && prefix) name = `${prefix}/${name}`;
  return {
    name,
    size: number(b.subarray(124, 136), label, 'size'),
    type: String.fromCharCode(b[156]),
    linkname: cString(b.subarray(157, 257)),
  };
}

function parsePax(
  data: Buffer,
  label: string,
): { name?: string; linkname?: string; size?: number } {
  const out: { name?: string; linkname?: string; size?: number } = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    const len = parseInt(data.subarray(off, space).toString('latin1'), 10);
    if (space < 0 || !(len > 0) || off + len > data.length)
      throw new ImageFormatError(`archive ${label}: malformed pax record`);
    const rec = data.subarray(space + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    const key = rec.slice(0, eq);
    const value = rec.slice(eq + 1);
    if (key === 'path') out.name = value;
    if (key === 'linkpath') out.linkname = value;
    if (key === 'size') out.size = Number(value);
    off += len;
  }
  return out;
}

/** Pull-based reads over a stream's chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly chunks: AsyncIterator<Buffer>;
  private ended = false;

  constructor(
    stream: Readable,
    private readonly label: string,
  ) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** n bytes, or fewer at the end of the stream */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.pull()));
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  async readExactly(n: number, total: number): Promise<Buffer> {
    const out = await this.read(total);
    if (out.length < total) throw truncated(this.label, `a member declares ${n} bytes`);
    return out;
  }

  /** Writes the next n bytes to body with backpressure, then skips `padding`. */
  async pipeTo(body: PassThrough, n: number, padding: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!this.buf.length && !(await this.pull()))
        throw truncated(this.label, `a member declares ${n} bytes, only ${n - left} are present`);
      const chunk = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(chunk.length);
      left -= chunk.length;
      if (!body.destroyed && !body.write(chunk)) await drained(body);
    }
    body.end();
    if ((await this.read(padding)).length < padding)
      throw truncated(this.label, 'the last member is not padded');
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, next.value]) : next.value;
    return true;
  }
}

function drained(body: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      body.off('drain', done).off('close', done);
      resolve();
    };
    body.on('drain', done).on('close', done);
  });
}
