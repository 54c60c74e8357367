/** `berth run` as an operator uses it: output, exit status, errors, and nothing left behind. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { berthCli, imageDir, imageTar, needsRoot, tempStateDir, runName } from './harness';

describe('berth run', { skip: needsRoot() }, () => {
  const stateDir = tempStateDir('cli');
  const cgroupParent = runName('cli');
  const env = {
    ...process.env,
    BERTH_DEFAULT_STATE_PATH: stateDir,
    BERTH_COMPUTE_CGROUP_PARENT: cgroupParent,
  };

  function berth(...args: string[]) {
    const r = spawnSync(process.execPath, [berthCli, 'run', ...args], {
      env,
      encoding: 'utf8',
      timeout: 60000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function assertNothingLeft() {
    assert.deepEqual(fs.readdirSync(path.join(stateDir, 'containers')), []);
    for (const mount of detectCgroupLayout().v1.values())
      assert.ok(!fs.existsSync(path.join(mount, cgroupParent)), `cgroup left in ${mount}`);
  }

  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  test('streams output and exits with the workload status', () => {
    const r = berth(
      '--hostname',
      'clibox',
      imageTar,
      '--',
      'sh',
      '-c',
      'hostname; echo err >&2; exit 3',
    );
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'clibox\n', 'err\n']);
    assertNothingLeft();
  });

  test('applies limits and runs from a rootfs directory too', () => {
    const r = berth(
      '--memory',
      '48M',
      '--cpus',
      '0.5',
      '--pids',
      '16',
      imageDir,
      'sh',
      '-c',
      'cat /sys/fs/cgroup/pids.max 2>/dev/null; echo ok',
    );
    assert.equal(r.code, 0);
    assert.match(r.stdout, /ok/);
    assertNothingLeft();
  });

  test('exits 137 and says so when the workload is OOM-killed', () => {
    const r = berth('--memory', '32M', imageTar, 'probe', 'memhog', '200');
    assert.equal(r.code, 137);
    assert.match(r.stderr, /out of memory/);
    assertNothingLeft();
  });

  test('--net none leaves only lo; --user-ns maps root', () => {
    assert.equal(berth('--net', 'none', imageTar, 'ls', '/sys/class/net').stdout, 'lo\n');
    const r = berth('--user-ns', imageTar, 'cat', '/proc/self/uid_map');
    assert.match(r.stdout, /^\s*0\s+100000\s+65536\s*$/);
    assertNothingLeft();
  });

  test('bad input: clear errors, distinct exit codes, nothing left behind', () => {
    const badMemory = berth('--memory', 'lots', imageTar, 'true');
    assert.equal(badMemory.code, 125);
    assert.match(badMemory.stderr, /invalid --memory "lots": expected a size/);
    const missingImage = berth('/nonexistent/image.tar', 'true');
    assert.equal(missingImage.code, 125);
    assert.match(missingImage.stderr, /image \/nonexistent\/image.tar: no such file or directory/);
    const missingCommand = berth(imageTar, '/bin/nope');
    assert.equal(missingCommand.code, 127);
    assert.match(
      missingCommand.stderr,
      /cannot start container: execve '\/bin\/nope': No such file or directory/,
    );
    const badOption = berth('--memroy', '1G', imageTar, 'true');
    assert.equal(badOption.code, 125);
    assert.match(badOption.stderr, /unknown option --memroy/);
    assertNothingLeft();
  });
});
