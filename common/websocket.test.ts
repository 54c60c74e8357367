import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptKey,
  encodeFrame,
  FrameDecoder,
  type Message,
  Opcode,
  ProtocolError,
} from './websocket';

const server = (maxPayload = 1 << 20) => new FrameDecoder({ requireMask: true, maxPayload });
const text = (m: Message) => ({ opcode: m.opcode, payload: m.payload.toString() });

/** A frame with FIN as asked (encodeFrame always sets it). */
function fragment(opcode: number, payload: string, fin: boolean): Buffer {
  const f = encodeFrame(opcode, Buffer.from(payload), true);
  if (!fin) f[0] &= 0x7f;
  return f;
}

test("the accept key is RFC 6455's example", () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('masked frames of each length encoding decode to what was sent, split anywhere', () => {
  for (const size of [0, 125, 126, 65535, 65536]) {
    const payload = Buffer.alloc(size, 'x');
    const frame = encodeFrame(Opcode.BINARY, payload, true);
    assert.ok(frame[1] & 0x80, 'the mask bit is set');
    // A zero key (one in 2^32) would leave the body as it was.
    if (size) assert.ok(!frame.subarray(frame.length - size).equals(payload), 'the body is masked');
    const d = server();
    const out = [...d.push(frame.subarray(0, 3)), ...d.push(frame.subarray(3))];
    assert.equal(out.length, 1, `size ${size}`);
    assert.equal(out[0].payload.length, size);
    assert.ok(out[0].payload.equals(payload));
  }
});

test('a server refuses unmasked frames; a client takes them', () => {
  const frame = encodeFrame(Opcode.TEXT, Buffer.from('hi'));
  assert.throws(() => server().push(frame), { closeCode: 1002 });
  const client = new FrameDecoder({ requireMask: false, maxPayload: 100 });
  assert.deepEqual(client.push(frame).map(text), [{ opcode: Opcode.TEXT, payload: 'hi' }]);
});

test('fragments join into one message, with a ping between them delivered as it comes', () => {
  const d = server();
  const out = d.push(
    Buffer.concat([
      fragment(Opcode.TEXT, 'hel', false),
      encodeFrame(Opcode.PING, Buffer.from('p'), true),
      fragment(Opcode.CONTINUATION, 'lo', true),
    ]),
  );
  assert.deepEqual(out.map(text), [
    { opcode: Opcode.PING, payload: 'p' },
    { opcode: Opcode.TEXT, payload: 'hello' },
  ]);
});

test('broken fragmentation and unknown opcodes are protocol errors (1002)', () => {
  for (const bytes of [
    fragment(Opcode.CONTINUATION, 'x', true),
    Buffer.concat([fragment(Opcode.TEXT, 'a', false), fragment(Opcode.BINARY, 'b', true)]),
    fragment(0x3, 'x', true),
    fragment(Opcode.PING, 'x', false),
    encodeFrame(Opcode.PING, Buffer.alloc(126), true),
  ])
    assert.throws(() => server().push(bytes), { closeCode: 1002 });
});

test('a frame or message past maxPayload is refused with 1009 before it is buffered', () => {
  const head = Buffer.alloc(10);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(1n << 62n, 2);
  assert.throws(
    () => server(1000).push(head),
    (e: unknown) => {
      return e instanceof ProtocolError && e.closeCode === 1009;
    },
  );
  assert.throws(() => server(1000).push(encodeFrame(Opcode.BINARY, Buffer.alloc(1001), true)), {
    closeCode: 1009,
  });
  const d = server(1000);
  d.push(fragment(Opcode.BINARY, 'x'.repeat(600), false));
  assert.throws(() => d.push(fragment(Opcode.CONTINUATION, 'x'.repeat(600), true)), {
    closeCode: 1009,
  });
});
