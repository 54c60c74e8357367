/**
 * The RFC 6455 pieces the serial console needs: the handshake's accept key,
 * and frames encoded and decoded, with fragmentation and masking. Frames
 * larger than `maxPayload` are refused rather than buffered without end.
 */
import { createHash, randomBytes } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** The Sec-WebSocket-Accept answer to a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** One frame; a client masks what it sends (RFC 6455 5.3), a server must not. */
export function encodeFrame(opcode: number, payload: Buffer, mask = false): Buffer {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(len, 2);
  if (lenBytes === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, body]);
}

/** A close frame's payload: the status code and a reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, Buffer.from(reason)]);
}

export interface Message {
  opcode: number;
  payload: Buffer;
}

export class ProtocolError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Turns a byte stream into whole messages: data frames joined across
 * continuations, control frames (which may arrive between fragments)
 * delivered as they come. `requireMask`: a server refuses unmasked frames.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = -1;

  constructor(private readonly o: { requireMask: boolean; maxPayload: number }) {}

  push(chunk: Buffer): Message[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Message[] = [];
    for (;;) {
      const m = this.next();
      if (m === undefined) return out;
      if (m) out.push(m);
    }
  }

  /** A message, null for a fragment taken in, undefined when more bytes are needed. */
  private next(): Message | null | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const fin = (b[0] & 0x80) !== 0;
    if (b[0] & 0x70) throw new ProtocolError(1002, 'reserved bits set without an extension');
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    if (this.o.requireMask && !masked) throw new ProtocolError(1002, 'client frame not masked');
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(this.o.maxPayload)) throw new ProtocolError(1009, 'frame too large');
      len = Number(big);
      at = 10;
    }
    if (len > this.o.maxPayload) throw new ProtocolError(1009, 'frame too large');
    const control = opcode >= 0x8;
    if (control && (len > 125 || !fin))
      throw new ProtocolError(1002, 'control frames are short and unfragmented');
    const keyAt = at;
    if (masked) at += 4;
    if (b.length < at + len) return undefined;
    const payload = Buffer.from(b.subarray(at, at + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[keyAt + (i & 3)];
    this.buf = b.subarray(at + len);
    if (control) return { opcode, payload };
    return this.data(opcode, fin, payload);
  }

  private data(opcode: number, fin: boolean, payload: Buffer): Message | null {
    if (opcode === Opcode.CONTINUATION) {
      if (this.fragmentOpcode < 0) throw new ProtocolError(1002, 'continuation without a start');
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.fragmentOpcode >= 0)
        throw new ProtocolError(1002, 'new message inside a fragmented one');
      this.fragmentOpcode = opcode;
    } else {
      throw new ProtocolError(1002, `unknown opcode ${opcode}`);
    }
    this.fragments.push(payload);
    const total = this.fragments.reduce((n, f) => n + f.length, 0);
    if (total > this.o.maxPayload) throw new ProtocolError(1009, 'message too large');
    if (!fin) return null;
    const message = { opcode: this.fragmentOpcode, payload: Buffer.concat(this.fragments) };
    this.fragments = [];
    this.fragmentOpcode = -1;
    return message;
  }
}
