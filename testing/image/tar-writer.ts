/**
 * Builds tar archives byte by byte for tests: image layers, `docker save`
 * and OCI layout archives, and the malicious archives an extractor must
 * refuse (`..` names, absolute names, links out of the tree, device nodes,
 * whiteouts, huge declared sizes). A real tar program would refuse to
 * write most of these, which is why the bytes are made here.
 */
import { createHash } from 'node:crypto';

export type TarEntry =
  | {
      type: 'file';
      name: string;
      data?: Buffer | string;
      mode?: number;
      uid?: number;
      gid?: number;
      pax?: Record<string, string>;
    }
  | {
      type: 'dir';
      name: string;
      mode?: number;
      uid?: number;
      gid?: number;
      pax?: Record<string, string>;
    }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'hardlink'; name: string; target: string }
  | { type: 'char' | 'block'; name: string; major: number; minor: number; mode?: number }
  | { type: 'fifo'; name: string }
  /** a header claiming `size` bytes with only `data` behind it (a truncated or lying archive) */
  | { type: 'raw'; header: { name: string; size: number; typeflag?: string }; data: Buffer };

const TYPEFLAG = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** A whole archive: entries, then the two zero blocks. */
export function tarArchive(entries: TarEntry[]): Buffer {
  return Buffer.concat([...entries.map(entryBytes), Buffer.alloc(1024)]);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function entryBytes(e: TarEntry): Buffer {
  if (e.type === 'raw') {
    const h = tarHeader({
      name: e.header.name,
      size: e.header.size,
      typeflag: e.header.typeflag ?? '0',
    });
    return Buffer.concat([h, padded(e.data)]);
  }
  const parts: Buffer[] = [];
  const pax = { ...('pax' in e ? e.pax : undefined) };
  // ustar holds 100 bytes of name (plus a 155-byte prefix we do not use) and 100 of link target.
  if (Buffer.byteLength(e.name) > 99) pax.path = e.name;
  if ('target' in e && Buffer.byteLength(e.target) > 99) pax.linkpath = e.target;
  if (Object.keys(pax).length) {
    const body = Buffer.from(
      Object.entries(pax)
        .map(([k, v]) => paxRecord(k, v))
        .join(''),
    );
    parts.push(tarHeader({ name: 'PaxHeader', size: body.length, typeflag: 'x' }), padded(body));
  }
  const data = e.type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
  parts.push(
    tarHeader({
      name: e.name.slice(0, 99),
      size: data.length,
      typeflag: TYPEFLAG[e.type],
      mode: 'mode' in e && e.mode !== undefined ? e.mode : e.type === 'dir' ? 0o755 : 0o644,
      uid: 'uid' in e ? e.uid : 0,
      gid: 'gid' in e ? e.gid : 0,
      linkname: 'target' in e ? e.target.slice(0, 99) : '',
      major: 'major' in e ? e.major : 0,
      minor: 'minor' in e ? e.minor : 0,
    }),
    padded(data),
  );
  return Buffer.concat(parts);
}

/** A pax record is "<len> key=value\n" where len counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len)
    len = String(len).length + Buffer.byteLength(rest);
  return `${len}${rest}`;
}

/** One ustar header block (for tests that stream an entry's data themselves). */
export function tarHeader(h: {
  name: string;
  size: number;
  typeflag: string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  major?: number;
  minor?: number;
}): Buffer {
  const b = Buffer.alloc(512);
  const str = (off: number, len: number, s: string) => b.write(s, off, len, 'utf8');
  const oct = (off: number, len: number, n: number) =>
    str(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  str(0, 100, h.name);
  oct(100, 8, h.mode ?? 0o644);
  oct(108, 8, h.uid ?? 0);
  oct(116, 8, h.gid ?? 0);
  oct(124, 12, h.size);
  oct(136, 12, 1700000000);
  b.fill(' ', 148, 156);
  b.write(h.typeflag, 156, 1, 'latin1');
  str(157, 100, h.linkname ?? '');
  b.write('ustar\0', 257, 6, 'latin1');
  b.write('00', 263, 2, 'latin1');
  str(265, 32, 'root');
  str(297, 32, 'root');
  oct(329, 8, h.major ?? 0);
  oct(337, 8, h.minor ?? 0);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

function padded(data: Buffer): Buffer {
  const rem = data.length % 512;
  return rem ? Buffer.concat([data, Buffer.alloc(512 - rem)]) : data;
}
