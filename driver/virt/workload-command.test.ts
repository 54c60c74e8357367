import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../../common/errors';
import { parseCommandLine, workloadCommand } from './workload-command';

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
});
