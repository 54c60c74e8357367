import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageFormatError, ImageUserError } from './image-errors';
import { imageUser, parseGroup, parsePasswd, resolveUser } from './image-user';
import { readImageFile } from './layer-files';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment, and a line that does not parse:
broken:x:notanumber:0::/:/bin/false
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
staff:x:50:app
app:x:1000:
nogroup:x:65534:
`;
const files = { passwd: parsePasswd(PASSWD), group: parseGroup(GROUP) };

describe('image user resolution (Docker rules)', () => {
  test('passwd and group parse; malformed lines are skipped', () => {
    assert.deepEqual(
      files.passwd.map((e) => e.name),
      ['root', 'daemon', 'app', 'nobody'],
    );
    assert.deepEqual(files.group[1], { name: 'wheel', gid: 10, members: ['root', 'app'] });
  });

  test('a name takes its uid, gid and home from passwd and its memberships from group', () => {
    assert.deepEqual(resolveUser('app', files), {
      uid: 1000,
      gid: 1000,
      groups: [10, 50],
      home: '/home/app',
    });
    assert.deepEqual(resolveUser('nobody', files), {
      uid: 65534,
      gid: 65534,
      groups: [],
      home: '/nonexistent',
    });
  });

  test('a number in passwd is that entry; one that is not stands alone with gid 0', () => {
    assert.deepEqual(resolveUser('1000', files).groups, [10, 50]);
    assert.deepEqual(resolveUser('4242', files), { uid: 4242, gid: 0, groups: [], home: '/' });
    assert.deepEqual(resolveUser('4242', {}), { uid: 4242, gid: 0, groups: [], home: '/' });
  });

  test('a named group replaces the primary one and brings no supplementary groups', () => {
    assert.deepEqual(resolveUser('app:staff', files), {
      uid: 1000,
      gid: 50,
      groups: [],
      home: '/home/app',
    });
    assert.equal(resolveUser('app:4321', files).gid, 4321);
    assert.equal(resolveUser('4242:wheel', files).gid, 10);
    assert.equal(resolveUser('4242:77', {}).gid, 77);
  });

  test('names the files lack, and malformed specs, are clear errors', () => {
    const cases: [string, Parameters<typeof resolveUser>[1], RegExp][] = [
      ['ghost', files, /^image user 'ghost' not found in \/etc\/passwd$/],
      ['ghost', {}, /image user 'ghost' not found in \/etc\/passwd \(the image has no/],
      ['app:ghosts', files, /^image group 'ghosts' not found in \/etc\/group$/],
      ['4242:ghosts', { passwd: files.passwd }, /the image has no \/etc\/group/],
      [':wheel', files, /not of the form user\[:group\]/],
      ['app:', files, /not of the form/],
      ['4294967295', files, /not found/],
    ];
    for (const [spec, f, message] of cases)
      assert.throws(
        () => resolveUser(spec, f),
        (err: Error) => {
          assert.ok(err instanceof ImageUserError, spec);
          assert.match(err.message, message);
          return true;
        },
      );
  });
});

describe('reading account files from the layers on the host', () => {
  let root: string;
  let outside: string;
  /** layer dirs, top-most first */
  const layers: string[] = [];
  const layer = (i: number, ...p: string[]) => path.join(layers[i], ...p);

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-user-'));
    outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
    for (const name of ['top', 'middle', 'base']) {
      layers.push(path.join(root, name));
      fs.mkdirSync(path.join(root, name, 'etc'), { recursive: true });
    }
    fs.writeFileSync(layer(2, 'etc', 'passwd'), PASSWD);
    fs.writeFileSync(layer(2, 'etc', 'group'), GROUP);
    fs.writeFileSync(layer(1, 'etc', 'passwd'), 'app:x:2000:2000::/srv:/bin/sh\n');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('the top-most layer that has the file wins', async () => {
    assert.deepEqual(await imageUser('app', layers), {
      uid: 2000,
      gid: 2000,
      groups: [10, 50],
      home: '/srv',
    });
    assert.equal(await imageUser(undefined, layers), undefined);
    assert.equal(await imageUser('', layers), undefined);
  });

  test('an image with no /etc/passwd: numbers work, names fail', async () => {
    const bare = path.join(root, 'bare');
    fs.mkdirSync(bare);
    assert.deepEqual(await imageUser('7:7', [bare]), { uid: 7, gid: 7, groups: [], home: '/' });
    await assert.rejects(imageUser('nobody', [bare]), ImageUserError);
  });

  test('symlinks resolve inside the image, never on the host', async () => {
    const l = path.join(root, 'links');
    fs.mkdirSync(path.join(l, 'usr', 'share', 'base'), { recursive: true });
    fs.writeFileSync(path.join(l, 'usr', 'share', 'base', 'passwd'), 'linked:x:5:5::/:/bin/sh\n');
    fs.mkdirSync(path.join(l, 'etc'));
    // An in-image link, relative and absolute: followed.
    fs.symlinkSync('../usr/share/base/passwd', path.join(l, 'etc', 'passwd'));
    fs.symlinkSync('/usr/share/base/passwd', path.join(l, 'etc', 'group'));
    assert.match(String(await readImageFile([l], '/etc/passwd', 1 << 20)), /^linked:/);
    assert.match(String(await readImageFile([l], '/etc/group', 1 << 20)), /^linked:/);

    // Links aimed at the host's copy: read as image paths, which hold nothing.
    const hostile = path.join(root, 'hostile');
    fs.mkdirSync(hostile);
    fs.symlinkSync(outside, path.join(hostile, 'etc'));
    assert.equal(await readImageFile([hostile], '/etc/passwd', 1 << 20), undefined);
    fs.rmSync(path.join(hostile, 'etc'));
    fs.symlinkSync('../../../../../../../..' + outside, path.join(hostile, 'etc'));
    assert.equal(await readImageFile([hostile], '/etc/passwd', 1 << 20), undefined);
    fs.rmSync(path.join(hostile, 'etc'));
    fs.mkdirSync(path.join(hostile, 'etc'));
    fs.symlinkSync(path.join(outside, 'passwd'), path.join(hostile, 'etc', 'passwd'));
    assert.equal(await readImageFile([hostile], '/etc/passwd', 1 << 20), undefined);
    await assert.rejects(imageUser('evil', [hostile]), /image user 'evil' not found/);

    // A lower layer's symlinked parent is not walked through either, under an upper /etc.
    const upper = path.join(root, 'upper-etc');
    fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
    const lower = path.join(root, 'lower-link');
    fs.mkdirSync(lower);
    fs.symlinkSync(outside, path.join(lower, 'etc'));
    assert.equal(await readImageFile([upper, lower], '/etc/passwd', 1 << 20), undefined);
  });

  test('a link loop, a directory and an oversized file are refused, not followed', async () => {
    const l = path.join(root, 'odd');
    fs.mkdirSync(path.join(l, 'etc', 'group'), { recursive: true });
    fs.symlinkSync('/etc/passwd', path.join(l, 'etc', 'passwd'));
    await assert.rejects(readImageFile([l], '/etc/passwd', 1 << 20), ImageFormatError);
    await assert.rejects(readImageFile([l], '/etc/group', 1 << 20), /not a regular file/);
    fs.writeFileSync(path.join(l, 'big'), Buffer.alloc(100));
    await assert.rejects(readImageFile([l], '/big', 99), /over 99 bytes/);
  });

  test('an overlay whiteout in an upper layer hides the file below', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mknod of a whiteout needs root');
    const wh = path.join(root, 'whiteout');
    fs.mkdirSync(path.join(wh, 'etc'), { recursive: true });
    execFileSync('mknod', [path.join(wh, 'etc', 'passwd'), 'c', '0', '0']);
    assert.equal(await readImageFile([wh, ...layers], '/etc/passwd', 1 << 20), undefined);
    assert.ok(await readImageFile([wh, ...layers], '/etc/group', 1 << 20));
  });
});
