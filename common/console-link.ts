/**
 * The serial proxy's connection to a compute's console endpoint: first the
 * one-connection secret the compute handed out (get_serial_console's
 * internal_access_path) and a newline; then, proxy to compute, frames of a
 * type byte, a 4-byte big-endian length and the payload (DATA: terminal
 * input; RESIZE: `rows cols`); compute to proxy, the terminal's raw output.
 */
export const LinkFrame = { DATA: 0, RESIZE: 1 } as const;

/** Largest frame payload either side accepts. */
export const MAX_LINK_PAYLOAD = 1 << 20;

export function encodeLinkFrame(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits the proxy's stream into frames; throws on a frame past MAX_LINK_PAYLOAD. */
export class LinkDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_LINK_PAYLOAD) throw new Error(`console link frame of ${len} bytes`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf[0], payload: Buffer.from(this.buf.subarray(5, 5 + len)) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}
