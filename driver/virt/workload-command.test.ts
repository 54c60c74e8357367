import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../../common/errors';
import { DEFAULT_ENV } from '../runtime/security';
import { parseCommandLine, workloadCommand, workloadCwd, workloadEnv } from './workload-command';

describe('workload command', () => {
  const DEFAULT = '/sbin/init';

  test('an image that records nothing boots compute.default_command', () => {
    assert.deepEqual(workloadCommand({ properties: {} }, DEFAULT), ['/sbin/init']);
    assert.deepEqual(workloadCommand({ properties: {} }, '/bin/sh -c "exec init"'), [
      '/bin/sh',
      '-c',
      'exec init',
    ]);
  });

  test("the image's own command (Cmd, e.g. from --command at import) comes next", () => {
    const image = { config: { cmd: ['/bin/app', '--serve'] }, properties: {} };
    assert.deepEqual(workloadCommand(image, DEFAULT), ['/bin/app', '--serve']);
  });

  test('os_command_line replaces Cmd but keeps the Entrypoint', () => {
    const image = {
      config: { entrypoint: ['/entry.sh'], cmd: ['serve'] },
      properties: { os_command_line: "migrate --to 'v2 final'" },
    };
    assert.deepEqual(workloadCommand(image, DEFAULT), ['/entry.sh', 'migrate', '--to', 'v2 final']);
    assert.deepEqual(workloadCommand({ ...image, properties: {} }, DEFAULT), [
      '/entry.sh',
      'serve',
    ]);
    assert.deepEqual(
      workloadCommand(
        { config: { cmd: ['x'] }, properties: { os_command_line: 'sleep 5' } },
        DEFAULT,
      ),
      ['sleep', '5'],
    );
  });

  test('an empty os_command_line with no Entrypoint falls back to the default', () => {
    assert.deepEqual(workloadCommand({ properties: { os_command_line: '  ' } }, DEFAULT), [
      '/sbin/init',
    ]);
  });

  test('os_command_line may be a JSON array', () => {
    assert.deepEqual(parseCommandLine('p', '["sh", "-c", "echo $HOME; ls"]'), [
      'sh',
      '-c',
      'echo $HOME; ls',
    ]);
  });

  test('shell-like lines split as shlex.split does, without expansion', () => {
    const cases: [string, string[]][] = [
      ['  a   b\tc\n', ['a', 'b', 'c']],
      [`sh -c 'echo "hi there"; exit 3'`, ['sh', '-c', 'echo "hi there"; exit 3']],
      [`echo "a \\"quoted\\" \\$HOME \\\\ x"`, ['echo', 'a "quoted" \\$HOME \\ x']],
      [`a\\ b c\\'d`, ['a b', "c'd"]],
      [`x'y'"z" '' ""`, ['xyz', '', '']],
      ['echo $HOME | wc', ['echo', '$HOME', '|', 'wc']],
    ];
    for (const [line, argv] of cases) assert.deepEqual(parseCommandLine('p', line), argv, line);
  });

  test('malformed command lines are InvalidArgumentError naming their source', () => {
    const bad: unknown[] = ['sh -c "unclosed', "it's", 'trailing\\', '[1, 2]', '["a", ', 42];
    for (const value of bad)
      assert.throws(
        () => parseCommandLine('os_command_line', value),
        (err: Error) =>
          err instanceof InvalidArgumentError && /^os_command_line /.test(err.message),
        String(value),
      );
  });

  test("the image's Env overrides berth's defaults by name, keeping their order", () => {
    assert.deepEqual(workloadEnv({ properties: {} }), DEFAULT_ENV);
    const env = workloadEnv({
      config: { env: ['FOO=bar', 'PATH=/opt/app/bin:/bin', 'EMPTY=', 'A=b=c'] },
      properties: {},
    });
    assert.deepEqual(env, ['PATH=/opt/app/bin:/bin', 'FOO=bar', 'EMPTY=', 'A=b=c']);
    assert.deepEqual(
      workloadEnv({ config: { env: ['X=1', 'X=2'] }, properties: {} }),
      [...DEFAULT_ENV, 'X=2'],
      'the last of two wins',
    );
  });

  test("HOME comes from the image user's passwd entry unless the image sets it", () => {
    const user = { uid: 1000, gid: 1000, groups: [], home: '/home/app' };
    assert.deepEqual(workloadEnv({ properties: {}, user }), [...DEFAULT_ENV, 'HOME=/home/app']);
    assert.deepEqual(workloadEnv({ config: { env: ['HOME=/data'] }, properties: {}, user }), [
      ...DEFAULT_ENV,
      'HOME=/data',
    ]);
  });

  test("the working directory is the image's WorkingDir, else /", () => {
    assert.equal(workloadCwd({ properties: {} }), '/');
    assert.equal(workloadCwd({ config: { workingDir: '' }, properties: {} }), '/');
    assert.equal(workloadCwd({ config: { workingDir: '/srv/app/' }, properties: {} }), '/srv/app');
    assert.equal(workloadCwd({ config: { workingDir: 'srv/../app' }, properties: {} }), '/app');
  });

  test('os_command_line replaces only the command: env, cwd and user stay', () => {
    const image = {
      config: { entrypoint: ['/e'], cmd: ['c'], env: ['FOO=bar'], workingDir: '/srv' },
      properties: { os_command_line: 'other' },
    };
    assert.deepEqual(workloadCommand(image, DEFAULT), ['/e', 'other']);
    assert.ok(workloadEnv(image).includes('FOO=bar'));
    assert.equal(workloadCwd(image), '/srv');
  });
});
