/**
 * berth-unpack against the real kernel: every escape of issue 10's Build 5
 * made by hand (a real tar program refuses to write most of them), each
 * either refused or resolved inside the layer, with a sentinel directory
 * beside the layer that must never change; bombs, truncation, whiteouts,
 * ownership and the pack → unpack round trip.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempStateDir, uniqueId } from '../../integration-tests/harness';
import { sha256, tarArchive, type TarEntry } from '../../testing/image/tar-writer';
import { ImageFormatError, UnsafeArchiveError } from './image-errors';
import { decompressed, packLayer, unpackLayer } from './unpack';

const skip = process.getuid?.() !== 0 ? 'needs root (ownership, whiteouts, trusted xattrs)' : false;

describe('unpackLayer', { skip }, () => {
  let root: string;
  let sentinel: string;
  let victim: string;
  let before_: string;

  /** everything under root but the layers, as a comparable listing */
  const outside = (): string =>
    listTree(root)
      .filter((l) => !l.startsWith('layers/') && !l.startsWith('archives/'))
      .join('\n');

  before(() => {
    root = tempStateDir('unpack');
    sentinel = path.join(root, 'sentinel');
    victim = path.join(sentinel, 'victim');
    fs.mkdirSync(sentinel);
    fs.mkdirSync(path.join(root, 'layers'));
    fs.mkdirSync(path.join(root, 'archives'));
    fs.writeFileSync(victim, 'untouched\n');
    before_ = outside();
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const archive = (entries: TarEntry[] | Buffer, ext = 'tar'): string => {
    const file = path.join(root, 'archives', `${uniqueId('a')}.${ext}`);
    fs.writeFileSync(file, Buffer.isBuffer(entries) ? entries : tarArchive(entries));
    return file;
  };
  const destOf = () => path.join(root, 'layers', uniqueId('layer'));

  const assertUntouched = () => {
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n');
    assert.equal(outside(), before_);
  };

  async function refused(
    entries: TarEntry[] | Buffer,
    cls: typeof UnsafeArchiveError | typeof ImageFormatError,
    message: RegExp,
    limits?: { maxBytes?: number; maxRatio?: number },
  ) {
    const dest = destOf();
    await assert.rejects(unpackLayer(archive(entries), dest, { label: 'evil', limits }), (err) => {
      assert.ok(err instanceof cls, `${String(err)} is not a ${cls.name}`);
      assert.match((err as Error).message, message);
      assert.match((err as Error).message, /archive evil/);
      return true;
    });
    assert.equal(fs.existsSync(dest), false, 'the layer directory is removed');
    assertUntouched();
  }

  async function unpacked(entries: TarEntry[]): Promise<string> {
    const dest = destOf();
    await unpackLayer(archive(entries), dest);
    assertUntouched();
    return dest;
  }

  const file = (name: string, data = 'x'): TarEntry => ({ type: 'file', name, data });

  test('unpacks files, dirs, links and fifos with their metadata', async () => {
    const tar = tarArchive([
      { type: 'dir', name: 'bin/', mode: 0o755 },
      {
        type: 'file',
        name: 'bin/su',
        data: 'suid',
        mode: 0o4755,
        uid: 1234,
        gid: 1234,
        pax: { 'SCHILY.xattr.user.test': 'kept', mtime: '1600000000.5' },
      },
      { type: 'dir', name: 'tmp/', mode: 0o1777 },
      { type: 'symlink', name: 'bin/sh', target: '/bin/busybox' },
      { type: 'hardlink', name: 'bin/su2', target: 'bin/su' },
      { type: 'fifo', name: 'run/fifo' },
      file(`deep/${'n'.repeat(120)}/file`, 'long name'),
    ]);
    const dest = destOf();
    const res = await unpackLayer(archive(tar), dest);
    assert.equal(res.diffId, sha256(tar));
    assert.equal(res.digest, sha256(tar));
    assert.equal(res.compression, 'none');
    assert.equal(res.size, tar.length);
    const su = fs.statSync(path.join(dest, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal(su.uid, 1234);
    assert.equal(su.gid, 1234);
    assert.equal(su.mtimeMs, 1600000000500);
    assert.equal(getfattr(path.join(dest, 'bin/su'), 'user.test'), 'kept');
    assert.equal(fs.statSync(path.join(dest, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(fs.readlinkSync(path.join(dest, 'bin/sh')), '/bin/busybox');
    assert.equal(fs.statSync(path.join(dest, 'bin/su2')).ino, su.ino);
    assert.ok(fs.lstatSync(path.join(dest, 'run/fifo')).isFIFO());
    assert.equal(
      fs.readFileSync(path.join(dest, `deep/${'n'.repeat(120)}/file`), 'utf8'),
      'long name',
    );
  });

  test('a file defined again replaces the first, also through a symlink name', async () => {
    const dest = await unpacked([
      file('etc/conf', 'first'),
      { type: 'symlink', name: 'link', target: `${sentinel}/victim` },
      file('etc/conf', 'second'),
      file('link', 'replaces the symlink, not its target'),
    ]);
    assert.equal(fs.readFileSync(path.join(dest, 'etc/conf'), 'utf8'), 'second');
    assert.ok(fs.lstatSync(path.join(dest, 'link')).isFile());
  });

  describe('escapes', () => {
    test('"../x" is refused', () =>
      refused([file('ok'), file('../x')], UnsafeArchiveError, /"\.\.\/x" leaves the layer/));

    test('"a/../../x" is refused', () =>
      refused([file('a/../../x')], UnsafeArchiveError, /leaves the layer/));

    test('an absolute name lands inside the layer', async () => {
      const dest = await unpacked([file(victim, 'inside')]);
      assert.equal(fs.readFileSync(path.join(dest, victim), 'utf8'), 'inside');
    });

    test('a file through a symlink to / lands inside the layer', async () => {
      const dest = await unpacked([
        { type: 'symlink', name: 'l', target: '/' },
        file(`l${victim}`, 'inside'),
      ]);
      assert.equal(fs.readFileSync(path.join(dest, victim), 'utf8'), 'inside');
    });

    test('a file through a symlink climbing out lands inside the layer', async () => {
      const dest = await unpacked([
        { type: 'symlink', name: 'l', target: '../../..' },
        file('l/x', 'inside'),
      ]);
      assert.equal(fs.readFileSync(path.join(dest, 'x'), 'utf8'), 'inside');
    });

    test('a file through a symlink to a directory outside is refused', () =>
      refused(
        [{ type: 'symlink', name: 's', target: sentinel }, file('s/victim', 'overwritten?')],
        UnsafeArchiveError,
        /symlink to nothing inside the layer/,
      ));

    test('a directory through a symlink to what the layer lacks is refused', () =>
      refused(
        [
          { type: 'symlink', name: 'd', target: path.dirname(sentinel) },
          { type: 'dir', name: 'd/made', mode: 0o700 },
        ],
        UnsafeArchiveError,
        /symlink to nothing inside the layer/,
      ));

    test('a directory through a symlink to a directory of the layer lands there', async () => {
      const dest = await unpacked([
        { type: 'dir', name: 'usr/lib/' },
        { type: 'symlink', name: 'lib', target: '/usr/lib' },
        file('lib/libc.so', 'c'),
      ]);
      assert.equal(fs.readFileSync(path.join(dest, 'usr/lib/libc.so'), 'utf8'), 'c');
    });

    test('a hardlink to an absolute path outside is refused', () =>
      refused(
        [{ type: 'hardlink', name: 'h', target: victim }],
        UnsafeArchiveError,
        /hardlink "h" .* not inside the layer/,
      ));

    test('a hardlink to /etc/passwd is refused', () =>
      refused(
        [{ type: 'hardlink', name: 'h', target: '/etc/passwd' }],
        UnsafeArchiveError,
        /not inside the layer/,
      ));

    test('a hardlink climbing out with ".." is refused', () =>
      refused(
        [{ type: 'hardlink', name: 'h', target: '../../sentinel/victim' }],
        UnsafeArchiveError,
        /hardlink target .* leaves the layer/,
      ));

    test('a hardlink through a symlink made by an earlier entry is refused', () =>
      refused(
        [
          { type: 'symlink', name: 's', target: sentinel },
          { type: 'hardlink', name: 'h', target: 's/victim' },
        ],
        UnsafeArchiveError,
        /not inside the layer/,
      ));

    test('a hardlink to a symlink made earlier links the symlink itself', async () => {
      const dest = await unpacked([
        { type: 'symlink', name: 's', target: victim },
        { type: 'hardlink', name: 'h', target: 's' },
      ]);
      assert.equal(fs.readlinkSync(path.join(dest, 'h')), victim);
    });

    test('whiteouts that point outside are refused', async () => {
      await refused([file('.wh.../x', '')], UnsafeArchiveError, /whiteout prefix/);
      await refused([file('a/.wh...', '')], UnsafeArchiveError, /names no entry/);
      await refused([file('.wh..', '')], UnsafeArchiveError, /names no entry/);
      await refused([file('a/.wh.../../x', '')], UnsafeArchiveError, /leaves the layer/);
    });

    test('a device node is skipped and the rest unpacked', async () => {
      const dest = destOf();
      const res = await unpackLayer(
        archive([
          { type: 'char', name: 'dev/null', major: 1, minor: 3 },
          { type: 'block', name: 'dev/sda', major: 8, minor: 0 },
          file('etc/hostname', 'box'),
        ]),
        dest,
      );
      assert.deepEqual(res.skipped, ['dev/null', 'dev/sda']);
      assert.equal(fs.existsSync(path.join(dest, 'dev/null')), false);
      assert.equal(fs.readFileSync(path.join(dest, 'etc/hostname'), 'utf8'), 'box');
      assertUntouched();
    });
  });

  test('OCI whiteouts and opaque directories become overlay whiteouts', async () => {
    const dest = await unpacked([
      { type: 'dir', name: 'd/' },
      file('d/.wh.gone', ''),
      { type: 'dir', name: 'o/' },
      file('o/.wh..wh..opq', ''),
      file('o/kept'),
    ]);
    const wh = fs.lstatSync(path.join(dest, 'd/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(fs.existsSync(path.join(dest, 'd/.wh.gone')), false);
    assert.equal(getfattr(path.join(dest, 'o'), 'trusted.overlay.opaque'), 'y');
    assert.equal(fs.existsSync(path.join(dest, 'o/.wh..wh..opq')), false);
    assert.ok(fs.existsSync(path.join(dest, 'o/kept')));
  });

  test('trusted.overlay xattrs from the archive itself are not set', async () => {
    const dest = await unpacked([
      { type: 'dir', name: 'r/', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
    ]);
    assert.equal(getfattr(path.join(dest, 'r'), 'trusted.overlay.redirect'), undefined);
  });

  for (const [tool, compression] of [
    ['gzip', 'gzip'],
    ['xz', 'xz'],
    ['zstd', 'zstd'],
  ] as const) {
    test(`a ${compression} layer is detected by content and unpacked`, async () => {
      const tar = tarArchive([file('etc/os-release', 'ID=test\n'), file('bin/x', 'y'.repeat(1e5))]);
      const packed = execFileSync(tool, ['-c'], { input: tar });
      const file_ = archive(packed, 'layer'); // no telling extension
      const dest = destOf();
      const res = await unpackLayer(file_, dest);
      assert.equal(res.compression, compression);
      assert.equal(res.diffId, sha256(tar));
      assert.equal(res.digest, sha256(packed));
      assert.equal(res.compressedSize, packed.length);
      assert.equal(fs.readFileSync(path.join(dest, 'etc/os-release'), 'utf8'), 'ID=test\n');
      const back = await collect(decompressed(file_));
      assert.ok(back.equals(tar));
    });
  }

  describe('bombs and lies', () => {
    let bomb: Buffer;
    before(() => {
      // 200 MB of zeros behind one header: gzip makes ~200 KB of it
      const header = tarArchive([
        { type: 'raw', header: { name: 'zeros', size: 200 << 20 }, data: Buffer.alloc(0) },
      ]).subarray(0, 512);
      const script = `cat; head -c ${(200 << 20) + 1024} /dev/zero`;
      bomb = execFileSync('sh', ['-c', `(${script}) | gzip -1`], {
        input: header,
        maxBuffer: 1 << 30,
      });
    });

    test('more than maxBytes uncompressed is refused', () =>
      refused(bomb, UnsafeArchiveError, /decompression bomb: .* limit of 10485760 bytes/, {
        maxBytes: 10 << 20,
        maxRatio: 1e6,
      }));

    test('an expansion past maxRatio is refused', () =>
      refused(bomb, UnsafeArchiveError, /decompression bomb: .* more than 200 times/));

    test('the same archive passes with limits that allow it', async () => {
      const dest = destOf();
      const res = await unpackLayer(archive(bomb), dest, { limits: { maxRatio: 5000 } });
      assert.equal(fs.statSync(path.join(dest, 'zeros')).size, 200 << 20);
      assert.equal(res.size, (200 << 20) + 1536);
    });

    test('an entry declaring more bytes than the archive holds is refused', () =>
      refused(
        [{ type: 'raw', header: { name: 'big', size: 1 << 20 }, data: Buffer.from('short') }],
        ImageFormatError,
        /truncated archive: the entry declares 1048576 bytes/,
      ));

    test('a compressed stream cut short is refused', () => {
      const gz = execFileSync('gzip', ['-c'], {
        input: tarArchive([file('a', 'z'.repeat(1e6))]),
      });
      return refused(gz.subarray(0, gz.length >> 1), ImageFormatError, /truncated archive/);
    });

    test('bytes that are no tar are refused', () =>
      refused(Buffer.alloc(2048, 'garbage'), ImageFormatError, /not a tar archive/));

    test('an existing destination is refused and left alone', async () => {
      const dest = destOf();
      fs.mkdirSync(dest);
      await assert.rejects(unpackLayer(archive([file('a')]), dest), /already exists/);
      assert.ok(fs.existsSync(dest));
    });
  });

  describe('packLayer', () => {
    test('an upper dir packs to OCI whiteouts and unpacks back to the same tree', async () => {
      const upper = path.join(root, 'layers', uniqueId('upper'));
      fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(upper, 'etc/motd'), 'hello\n');
      fs.chownSync(path.join(upper, 'etc/motd'), 1234, 1234);
      fs.chmodSync(path.join(upper, 'etc/motd'), 0o4750);
      execFileSync('setfattr', ['-n', 'user.test', '-v', 'kept', path.join(upper, 'etc/motd')]);
      fs.linkSync(path.join(upper, 'etc/motd'), path.join(upper, 'etc/motd.link'));
      fs.symlinkSync('motd', path.join(upper, 'etc/alias'));
      execFileSync('mknod', [path.join(upper, 'etc/removed'), 'c', '0', '0']);
      fs.mkdirSync(path.join(upper, 'var/opaque'), { recursive: true });
      fs.writeFileSync(path.join(upper, 'var/opaque/new'), 'n');
      execFileSync('setfattr', [
        '-n',
        'trusted.overlay.opaque',
        '-v',
        'y',
        path.join(upper, 'var/opaque'),
      ]);
      fs.writeFileSync(path.join(upper, 'big'), Buffer.alloc(3 << 20, 7));

      const tarFile = path.join(root, 'archives', `${uniqueId('snap')}.tar`);
      const packed = await packLayer(upper, tarFile);
      const bytes = fs.readFileSync(tarFile);
      assert.equal(packed.diffId, sha256(bytes));
      assert.equal(packed.size, bytes.length);
      const names = execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n');
      assert.ok(names.includes('etc/.wh.removed'));
      assert.ok(names.includes('var/opaque/.wh..wh..opq'));

      const again = path.join(root, 'archives', `${uniqueId('snap')}.tar`);
      assert.equal((await packLayer(upper, again)).diffId, packed.diffId, 'deterministic');

      const dest = destOf();
      const res = await unpackLayer(tarFile, dest);
      assert.equal(res.diffId, packed.diffId);
      assert.deepEqual(describeTree(dest), describeTree(upper));
      assertUntouched();
    });

    test('a missing upper dir fails and leaves no file', async () => {
      const tarFile = path.join(root, 'archives', `${uniqueId('snap')}.tar`);
      await assert.rejects(packLayer(path.join(root, 'nope'), tarFile), /open .*nope/);
      assert.equal(fs.existsSync(tarFile), false);
    });
  });

  test('throughput: a ~200 MB gzip layer', async () => {
    // many files of mixed sizes, as a real layer has, of poorly compressible bytes
    const dir = path.join(root, 'layers', uniqueId('bulk-src'));
    fs.mkdirSync(dir);
    // repeats 1 MiB apart are out of gzip's 32 KiB window: as incompressible as random
    const block = randomBytes(1 << 20);
    for (let i = 0; i < 2000; i++) {
      const size = i % 100 === 0 ? 8 << 20 : (i * 7919) % (64 << 10);
      const data = Buffer.alloc(size);
      for (let off = 0; off < size; off += block.length)
        block.copy(data, off, 0, Math.min(block.length, size - off));
      data.writeUInt32LE(i, 0);
      fs.mkdirSync(path.join(dir, `d${i % 50}`), { recursive: true });
      fs.writeFileSync(path.join(dir, `d${i % 50}`, `f${i}`), data);
    }
    const gz = path.join(root, 'archives', `${uniqueId('bulk')}.tar.gz`);
    execFileSync('sh', ['-c', `tar -C "${dir}" -cf - . | gzip -1 > "${gz}"`]);
    fs.rmSync(dir, { recursive: true });
    const dest = destOf();
    const t0 = process.hrtime.bigint();
    const res = await unpackLayer(gz, dest, { limits: { maxRatio: 1e6 } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const mb = res.size / 1e6;
    const t1 = process.hrtime.bigint();
    execFileSync('sh', ['-c', `gzip -dc "${gz}" > /dev/null`]);
    const gzipMs = Number(process.hrtime.bigint() - t1) / 1e6;
    console.log(
      `unpack throughput: ${mb.toFixed(0)} MB (${(res.compressedSize / 1e6).toFixed(0)} MB gzip) ` +
        `in ${ms.toFixed(0)} ms = ${((mb * 1000) / ms).toFixed(0)} MB/s; ` +
        `gzip -dc to /dev/null of the same file: ${gzipMs.toFixed(0)} ms`,
    );
    assert.ok(mb > 150);
  });
});

function getfattr(file: string, name: string): string | undefined {
  try {
    return execFileSync('getfattr', ['--only-values', '-h', '-n', name, file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}

/** Every path under dir, relative, sorted; directories end in "/". */
function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(path.join(dir, prefix)).sort()) {
    const rel = path.join(prefix, name);
    if (!fs.lstatSync(path.join(dir, rel)).isDirectory()) out.push(rel);
    else out.push(`${rel}/`, ...listTree(dir, rel));
  }
  return out;
}

/** What a layer tree means: types, modes, owners, contents, link targets, inode sharing, xattrs. */
function describeTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  for (const rel of listTree(dir)) {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    let what = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isFile()) {
      what += ` ${createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 12)}`;
      what += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
      if (st.nlink > 1) {
        what += ` inode-of=${inodes.get(st.ino) ?? rel}`;
        if (!inodes.has(st.ino)) inodes.set(st.ino, rel);
      }
    }
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(p)}`;
    if (st.isCharacterDevice()) what += ` rdev=${st.rdev}`;
    if (!st.isSymbolicLink()) {
      what += ` user.test=${getfattr(p, 'user.test') ?? '-'}`;
      what += ` opaque=${getfattr(p, 'trusted.overlay.opaque') ?? '-'}`;
    }
    out[rel] = what;
  }
  return out;
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
