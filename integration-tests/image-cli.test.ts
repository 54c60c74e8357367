/** `berth image` as an operator uses it: ids on stdout, readable listings, clear refusals. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { berthCli, imageTar, needsRoot, projectRoot, tempStateDir } from './harness';

// Unpacking keeps the image's owners, which takes root.
describe('berth image', { skip: needsRoot() }, () => {
  const stateDir = tempStateDir('image-cli');

  function berth(args: string[], env: NodeJS.ProcessEnv = { BERTH_DEFAULT_STATE_PATH: stateDir }) {
    const r = spawnSync(process.execPath, [berthCli, 'image', ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** `show`'s two columns as a map. */
  function fields(stdout: string): Map<string, string> {
    return new Map(
      stdout
        .trimEnd()
        .split('\n')
        .map((line) => {
          const [key, ...value] = line.split(/\s{2,}/);
          return [key, value.join('  ')];
        }),
    );
  }

  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  test('import prints the new id; list, show and delete find it by id or name', () => {
    const imported = berth([
      'import',
      'busybox-cli',
      imageTar,
      '--command',
      '["sh", "-c", "echo hi"]',
      '--property',
      'os_command_line=sleep 5',
    ]);
    assert.equal(imported.code, 0, imported.stderr);
    const id = imported.stdout.trim();
    assert.match(
      imported.stdout,
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/,
    );

    const list = berth(['list']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^ID\s+NAME\s+STATUS\s+SIZE$/m);
    assert.match(
      list.stdout,
      new RegExp(`^${id}\\s+busybox-cli\\s+active\\s+${fs.statSync(imageTar).size}$`, 'm'),
    );

    for (const ref of [id, 'busybox-cli']) {
      const show = berth(['show', ref]);
      assert.equal(show.code, 0, show.stderr);
      const f = fields(show.stdout);
      assert.equal(f.get('id'), id);
      assert.equal(f.get('status'), 'active');
      assert.equal(f.get('os_hash_algo'), 'sha512');
      assert.match(f.get('os_hash_value')!, /^[0-9a-f]{128}$/);
      assert.equal(f.get('command'), '["sh","-c","echo hi"]');
      assert.equal(f.get('os_command_line'), 'sleep 5');
    }

    assert.deepEqual(berth(['delete', 'busybox-cli']), { code: 0, stdout: '', stderr: '' });
    const gone = berth(['show', id]);
    assert.equal(gone.code, 125);
    assert.match(gone.stderr, /image .* not found/);
    assert.doesNotMatch(berth(['list']).stdout, new RegExp(id));
  });

  test('--config FILE chooses the state path', () => {
    const otherState = tempStateDir('image-cli-config');
    const configFile = path.join(otherState, 'berth.conf');
    fs.writeFileSync(configFile, `[DEFAULT]\nstate_path = ${otherState}\n`);
    try {
      const r = berth(['import', '--config', configFile, 'configured', imageTar], {});
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      assert.ok(fs.existsSync(path.join(otherState, 'images', 'metadata', `${id}.json`)));
      assert.equal(berth(['show', id]).code, 125, 'landed in the default state path too');
    } finally {
      fs.rmSync(otherState, { recursive: true, force: true });
    }
  });

  test('bad input: a clear message, exit 125, nothing registered', () => {
    const cases: [string[], RegExp][] = [
      [
        ['import', 'x', '/nonexistent/image.tar'],
        /image file \/nonexistent\/image.tar: no such file/,
      ],
      [
        ['import', 'x', imageTar, '--command', '[sh'],
        /invalid --command "\[sh": expected a JSON array/,
      ],
      [['import', 'x', imageTar, '--command', '[]'], /invalid --command/],
      [['import', 'x', path.join(projectRoot, 'package.json')], /not a valid image archive/],
      [['import', 'x', imageTar, '--property', 'novalue'], /invalid --property "novalue"/],
      [['import', 'x'], /missing TAR/],
      [['import', 'x', imageTar, '--frob'], /unknown option --frob/],
      [['show'], /missing IMAGE/],
      [['show', 'no-such-image'], /image no-such-image not found/],
    ];
    for (const [args, message] of cases) {
      const r = berth(args);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const unknownVerb = berth(['frob']);
    assert.equal(unknownVerb.code, 2);
    assert.match(unknownVerb.stderr, /unknown image command "frob"\nusage: berth image import/);
    assert.equal(berth(['list']).stdout.trim().split('\n').length, 1, 'something was registered');
  });
});
