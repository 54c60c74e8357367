/**
 * The container runtime against the real kernel: namespaces, mounts,
 * cgroups, security defaults, the monitor, console logs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BerthError, InvalidArgumentError, NotFoundError } from '../common/errors';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { ContainerRuntime } from '../driver/runtime/runtime';
import type { ContainerConfig } from '../driver/runtime/spec';
import { containerConfig, needsRoot, tempStateDir, waitFor, runName } from './harness';

const skip = needsRoot();

describe('container runtime', { skip }, () => {
  let rt: ContainerRuntime;
  let stateDir: string;
  const cgroupParent = runName('runtime');

  before(async () => {
    stateDir = tempStateDir('runtime');
    rt = await ContainerRuntime.open({ stateDir, cgroupParent });
  });

  after(async () => {
    await rt?.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  /** Runs a container to completion and returns its exit status and console output. */
  async function runToEnd(command: string[], overrides: Partial<ContainerConfig> = {}) {
    const config = containerConfig(command, overrides);
    await rt.run(config);
    const exit = await rt.wait(config.id);
    const output = await rt.consoleOutput(config.id);
    await rt.delete(config.id);
    return { exit, output, id: config.id };
  }

  test('the workload is PID 1 and sees only its own processes', async () => {
    // The trailing `true` keeps sh from exec'ing ps in its own place.
    const { exit, output } = await runToEnd(['sh', '-c', 'echo "pid=$$"; ps -o pid,comm; true']);
    assert.equal(exit.code, 0);
    assert.match(output, /^pid=1$/m);
    const procs = output
      .split('\n')
      .filter((l) => /^\s*\d+\s/.test(l))
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      procs.map((p) => p[1]),
      ['sh', 'ps'],
      `expected sh and ps only, got:\n${output}`,
    );
    assert.equal(procs[0][0], '1');
  });

  test('hostname is set and only lo exists with no network', async () => {
    const { output } = await runToEnd(['sh', '-c', 'hostname; ls /sys/class/net'], {
      hostname: 'box-one',
    });
    assert.deepEqual(output.trim().split('\n'), ['box-one', 'lo']);
  });

  test('/sys is read-only and /proc paths are masked or read-only', async () => {
    const { output } = await runToEnd([
      'sh',
      '-c',
      'touch /sys/x 2>&1; echo 1 > /proc/sys/kernel/domainname 2>&1; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; grep " /sys " /proc/mounts',
    ]);
    assert.match(output, /touch: \/sys\/x: Read-only file system/);
    assert.match(output, /domainname: Read-only file system/);
    assert.match(
      output,
      /^0\n0$/m,
      '/proc/timer_list (a file) and /sys/firmware (a directory) are masked',
    );
    assert.match(output, /sysfs \/sys sysfs ro,/);
  });

  test('mount and unshare are refused; capabilities are reduced; seccomp and no_new_privs are on', async () => {
    const { output } = await runToEnd([
      'sh',
      '-c',
      'mkdir -p /mnt/t; mount -t tmpfs t /mnt/t; echo "mount=$?"; unshare -U true; echo "unshare=$?"; unshare -n true; echo "unsharenet=$?"; probe caps',
    ]);
    assert.match(output, /^mount=[1-9]/m);
    assert.match(output, /^unshare=[1-9]/m);
    assert.match(output, /^unsharenet=[1-9]/m);
    const capEff = BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(output)![1]);
    assert.equal(capEff & (1n << 21n), 0n, 'no CAP_SYS_ADMIN');
    assert.equal(capEff & (1n << 27n), 0n, 'no CAP_MKNOD');
    assert.notEqual(capEff & (1n << 0n), 0n, 'CAP_CHOWN kept');
    assert.match(output, /NoNewPrivs:\s*1/);
    assert.match(output, /Seccomp:\s*2/);
  });

  test('the environment, working directory and argv reach the workload', async () => {
    const { output } = await runToEnd(
      ['sh', '-c', 'echo "$GREETING|$(pwd)|$0|$1"', 'arg zero', 'arg one'],
      {
        env: ['PATH=/bin:/usr/bin', 'GREETING=hello world'],
        cwd: '/tmp',
      },
    );
    assert.equal(output.trim(), 'hello world|/tmp|arg zero|arg one');
  });

  test('the root filesystem is a copy-on-write overlay: writes stay in the container', async () => {
    const { output } = await runToEnd([
      'sh',
      '-c',
      'echo changed > /etc/hostname; cat /etc/hostname; grep " / " /proc/mounts',
    ]);
    assert.match(output, /^changed$/m);
    assert.match(output, /^overlay \/ overlay/m);
    assert.notEqual(
      fs.readFileSync(path.join(containerConfig([]).layers[0], 'etc/hostname'), 'utf8').trim(),
      'changed',
    );
  });

  test('a memory allocation past the limit is OOM-killed: exit 137 recorded as OOM', async () => {
    const { exit, output } = await runToEnd(['probe', 'memhog', '256'], {
      limits: { memoryBytes: 32 << 20, pids: 64 },
    });
    assert.equal(exit.code, 137);
    assert.equal(exit.signal, 9);
    assert.equal(exit.oomKilled, true);
    assert.doesNotMatch(output, /memhog: 64 MiB/);
  });

  test('exit listeners hear each exit with its status; a failing listener harms no other', async () => {
    const heard: [string, number, number][] = [];
    rt.onExit(() => {
      throw new Error('listener bug');
    });
    rt.onExit((id, status) => heard.push([id, status.code, status.signal]));
    const config = containerConfig(['sh', '-c', 'exit 5']);
    await rt.run(config);
    assert.equal((await rt.wait(config.id)).code, 5);
    await rt.start(config.id);
    await rt.wait(config.id);
    assert.deepEqual(
      heard.filter(([id]) => id === config.id),
      [
        [config.id, 5, 0],
        [config.id, 5, 0],
      ],
    );
    await rt.delete(config.id);
  });

  test('a SIGKILL that is not the OOM killer is not recorded as OOM', async () => {
    const config = containerConfig(['sleep', '60']);
    await rt.run(config);
    await rt.kill(config.id, 'SIGKILL');
    const exit = await rt.wait(config.id);
    assert.deepEqual([exit.code, exit.oomKilled], [137, false]);
    await rt.delete(config.id);
  });

  test('the pids limit contains a fork bomb', async () => {
    const config = containerConfig(['probe', 'forkbomb'], {
      limits: { memoryBytes: 128 << 20, pids: 32 },
    });
    await rt.run(config);
    await waitFor('pids limit reached', () => (rt.stats(config.id).pids ?? 0) >= 32);
    await sleep(300);
    assert.ok(rt.stats(config.id).pids! <= 32);
    assert.equal(rt.info(config.id).state, 'running');
    const exit = await rt.stop(config.id, 0);
    assert.equal(exit.code, 137);
    await rt.delete(config.id);
  });

  test('pause freezes the workload and unpause resumes it', async () => {
    const config = containerConfig(['probe', 'counter', '/tmp/count']);
    await rt.run(config);
    const read = async () => Number((await rt.exec(config.id, ['cat', '/tmp/count'])).stdout || 0);
    await waitFor('counter running', async () => (await read()) > 3);
    await rt.pause(config.id);
    assert.equal(rt.info(config.id).state, 'paused');
    const upper = path.join(rt.stateDir, 'containers', config.id, 'upper', 'tmp', 'count');
    const frozenAt = fs.readFileSync(upper, 'utf8');
    await sleep(300);
    assert.equal(fs.readFileSync(upper, 'utf8'), frozenAt, 'counter moved while paused');
    await rt.unpause(config.id);
    assert.equal(rt.info(config.id).state, 'running');
    await waitFor(
      'counter resumed',
      () => Number(fs.readFileSync(upper, 'utf8')) > Number(frozenAt) + 3,
    );
    await rt.stop(config.id, 0);
    await rt.delete(config.id);
  });

  test('a paused container can still be killed', async () => {
    const config = containerConfig(['sleep', '60']);
    await rt.run(config);
    await rt.pause(config.id);
    const exit = await rt.stop(config.id, 500);
    assert.equal(exit.code, 137);
    await rt.delete(config.id);
  });

  test('exec runs inside the container: its pid namespace, hostname, filesystem and limits', async () => {
    const config = containerConfig(['sh', '-c', 'echo marker > /tmp/m; sleep 60'], {
      hostname: 'exec-host',
    });
    await rt.run(config);
    await waitFor(
      'marker',
      async () => (await rt.exec(config.id, ['cat', '/tmp/m'])).stdout.trim() === 'marker',
    );
    const r = await rt.exec(config.id, [
      'sh',
      '-c',
      'hostname; ps -o pid,comm | grep -c sleep; cat /proc/1/cmdline | tr "\\0" " "; probe caps',
    ]);
    assert.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'exec-host');
    assert.equal(lines[1], '1');
    assert.match(lines[2], /^sleep 60/);
    assert.match(r.stdout, /NoNewPrivs:\s*1/);
    const failing = await rt.exec(config.id, ['sh', '-c', 'echo oops >&2; exit 4']);
    assert.deepEqual([failing.code, failing.stderr.trim()], [4, 'oops']);
    await assert.rejects(rt.exec(config.id, ['/no/such/binary']), InvalidArgumentError);
    await rt.stop(config.id, 0);
    await rt.delete(config.id);
  });

  test('stop sends SIGTERM first and SIGKILL only after the grace period', async () => {
    // A SIGTERM before the shell has set its trap would end it at once: wait for its word.
    const trapped = (id: string) =>
      waitFor('the TERM trap set', async () => /trapped/.test(await rt.consoleOutput(id)));
    const graceful = containerConfig([
      'sh',
      '-c',
      'trap "echo bye; exit 0" TERM; echo trapped; while :; do sleep 0.05; done',
    ]);
    await rt.run(graceful);
    await trapped(graceful.id);
    assert.equal((await rt.stop(graceful.id, 5000)).code, 0);
    assert.match(await rt.consoleOutput(graceful.id), /bye/);
    await rt.delete(graceful.id);

    const stubborn = containerConfig([
      'sh',
      '-c',
      'trap "" TERM; echo trapped; while :; do sleep 0.05; done',
    ]);
    await rt.run(stubborn);
    await trapped(stubborn.id);
    const started = Date.now();
    const exit = await rt.stop(stubborn.id, 400);
    assert.equal(exit.code, 137);
    assert.ok(Date.now() - started >= 350, 'SIGKILL came before the grace period ended');
    await rt.delete(stubborn.id);
  });

  test('the console log captures stdout and stderr and is capped with rotation', async () => {
    const { output } = await runToEnd(['sh', '-c', 'echo to-stdout; echo to-stderr >&2']);
    assert.match(output, /to-stdout/);
    assert.match(output, /to-stderr/);

    const config = containerConfig(['probe', 'spam', String(1 << 20)], {
      consoleLog: { maxBytes: 64 << 10, backups: 2 },
    });
    await rt.run(config);
    await rt.wait(config.id);
    const log = rt.consoleLogPath(config.id);
    const sizes = [log, `${log}.1`, `${log}.2`].map((f) => fs.statSync(f).size);
    assert.ok(
      sizes.every((s) => s <= 64 << 10),
      `a log file exceeds the cap: ${sizes}`,
    );
    assert.equal(sizes[1], 64 << 10);
    assert.ok(!fs.existsSync(`${log}.3`), 'more backups than configured');
    await rt.delete(config.id);
  });

  test('a container joins a prepared network namespace', async () => {
    const { native } = await import('../native');
    const nsPath = path.join(stateDir, 'netns-prepared');
    native().netnsCreate(nsPath);
    try {
      const { execFileSync } = await import('node:child_process');
      execFileSync('nsenter', [
        `--net=${nsPath}`,
        'ip',
        'link',
        'add',
        'bt-in0',
        'type',
        'veth',
        'peer',
        'name',
        'bt-in1',
      ]);
      const { output } = await runToEnd(['ls', '/sys/class/net'], {
        network: { mode: 'netns', path: nsPath },
      });
      assert.deepEqual(output.trim().split('\n').sort(), ['bt-in0', 'bt-in1', 'lo']);
    } finally {
      native().umount(nsPath, true);
      fs.rmSync(nsPath);
    }
  });

  test('a user namespace maps container root to an unprivileged host uid', async () => {
    const config = containerConfig(
      ['sh', '-c', 'cat /proc/self/uid_map; id -u; echo ok > /root/file; cat /root/file; sleep 60'],
      {
        userNamespace: { base: 200000, size: 65536 },
      },
    );
    await rt.run(config);
    await waitFor('output', async () => (await rt.consoleOutput(config.id)).includes('ok'));
    const output = await rt.consoleOutput(config.id);
    assert.match(output, /^\s*0\s+200000\s+65536$/m);
    assert.match(output, /^0$/m);
    const hostUid = fs
      .readFileSync(`/proc/${rt.info(config.id).pid}/status`, 'utf8')
      .match(/^Uid:\s+(\d+)/m)![1];
    assert.equal(hostUid, '200000');
    const inside = await rt.exec(config.id, ['id', '-u']);
    assert.equal(inside.stdout.trim(), '0');
    await rt.stop(config.id, 0);
    await rt.delete(config.id);
  });

  test('a user runs the workload and exec with its groups and no capabilities, in a user namespace too', async () => {
    const script =
      'echo "ids=$(id -u):$(id -g):$(id -G)"; grep -E "^Cap(Eff|Prm|Inh|Bnd)" /proc/self/status; ' +
      'mkdir -p /mnt/t; mount -t tmpfs t /mnt/t 2>/dev/null; echo "mount=$?"; ' +
      'echo x > /root/x 2>/dev/null; echo "root=$?"; pwd; echo ready; sleep 60';
    for (const userNamespace of [undefined, { base: 200000, size: 65536 }]) {
      const config = containerConfig(['sh', '-c', script], {
        user: { uid: 65534, gid: 65534, groups: [4242, 4343] },
        cwd: '/srv/app',
        userNamespace,
      });
      await rt.run(config);
      await waitFor('output', async () => (await rt.consoleOutput(config.id)).includes('ready'));
      const output = await rt.consoleOutput(config.id);
      const where = userNamespace ? 'with a user namespace' : 'without one';
      assert.match(output, /^ids=65534:65534:65534 4242 4343$/m, where);
      for (const set of ['Eff', 'Prm', 'Inh'])
        assert.match(output, new RegExp(`^Cap${set}:\\s*0+$`, 'm'), `Cap${set} ${where}`);
      assert.doesNotMatch(output, /^CapBnd:\s*0+$/m, 'the bounding set is the default one');
      assert.match(output, /^mount=[1-9]/m);
      assert.match(output, /^root=[1-9]/m, "the container's root files are not the user's");
      assert.match(output, /^\/srv\/app$/m, 'a missing working directory is made, as Docker does');
      const status = fs.readFileSync(`/proc/${rt.info(config.id).pid}/status`, 'utf8');
      const hostUid = userNamespace ? String(200000 + 65534) : '65534';
      assert.match(status, new RegExp(`^Uid:\\s+${hostUid}\\s+${hostUid}\\s`, 'm'), where);
      const inside = await rt.exec(config.id, ['id', '-u']);
      assert.equal(inside.stdout.trim(), '65534', `exec runs as the user ${where}`);
      await rt.stop(config.id, 0);
      await rt.delete(config.id);
    }
  });

  test('a root disk size caps the writable layer, spares its neighbours and is unmounted on delete', async () => {
    const fill = 'dd if=/dev/zero of=/big bs=1M count=64 2>&1; echo "dd=$?"';
    const config = containerConfig(['sh', '-c', fill], { rootDiskBytes: 32 << 20 });
    // Made from the same template, writing while the first one's disk is full.
    const neighbour = containerConfig(['sh', '-c', fill.replace('64', '16')], {
      rootDiskBytes: 32 << 20,
    });
    await rt.run(config);
    await rt.wait(config.id);
    await rt.run(neighbour);
    await rt.wait(neighbour.id);
    const output = await rt.consoleOutput(config.id);
    assert.match(output, /No space left on device/);
    assert.match(output, /^dd=1$/m);
    assert.match(await rt.consoleOutput(neighbour.id), /^dd=0$/m);
    const disk = path.join(rt.stateDir, 'containers', config.id, 'disk');
    assert.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(disk), 'the sized disk is mounted');
    await rt.delete(config.id);
    await rt.delete(neighbour.id);
    assert.ok(
      !fs.readFileSync('/proc/mounts', 'utf8').includes(disk),
      'the sized disk is still mounted',
    );
  });

  test('a spawn that fails reports the syscall, errno and path, and leaves nothing behind', async () => {
    const containers = path.join(stateDir, 'containers');
    const before = fs.readdirSync(containers).sort();
    /** Runs `config` expecting the failure `fault` (and `cls`), with all three in the message. */
    async function failsWith(
      config: ContainerConfig,
      cls: new (...args: never[]) => BerthError,
      fault: { syscall: string; code: string; path: string },
    ) {
      await assert.rejects(rt.run(config), (err: BerthError) => {
        assert.ok(err instanceof cls, `${err.name}: ${err.message}`);
        assert.equal(err.fault?.syscall, fault.syscall);
        assert.equal(err.fault?.code, fault.code);
        assert.equal(err.fault?.path, fault.path);
        assert.equal(
          err.fault?.errno,
          os.constants.errno[fault.code as keyof typeof os.constants.errno],
        );
        for (const part of [fault.syscall, fault.code, fault.path])
          assert.ok(err.message.includes(part), `"${part}" in: ${err.message}`);
        return true;
      });
    }
    // In the child, after the clone: the command does not exist.
    await failsWith(containerConfig(['/bin/does-not-exist']), InvalidArgumentError, {
      syscall: 'execve',
      code: 'ENOENT',
      path: '/bin/does-not-exist',
    });
    // In the child: the overlay root cannot be mounted (its image layer vanished after create).
    const vanishing = fs.mkdtempSync(path.join(stateDir, 'layer-'));
    const badMount = containerConfig(['true'], { layers: [vanishing] });
    await rt.create(badMount);
    fs.rmdirSync(vanishing);
    await assert.rejects(rt.start(badMount.id), (err: BerthError) => {
      assert.equal(err.fault?.syscall, 'mount');
      assert.equal(err.fault?.code, 'ENOENT');
      assert.match(err.message, /mount '.*rootfs'.*\(ENOENT\)/);
      return true;
    });
    await rt.delete(badMount.id);
    // In the monitor, before the clone: the network namespace refuses setns (not a namespace).
    const notNetns = path.join(stateDir, 'not-a-netns');
    fs.writeFileSync(notNetns, '');
    await failsWith(
      containerConfig(['true'], { network: { mode: 'netns', path: notNetns } }),
      InvalidArgumentError,
      { syscall: 'setns', code: 'EINVAL', path: notNetns },
    );
    // exec reports the same way.
    const running = await rt.run(containerConfig(['sleep', '100']));
    await assert.rejects(rt.exec(running.id, ['/bin/nope']), (err: BerthError) => {
      assert.deepEqual(
        [err.fault?.syscall, err.fault?.code, err.fault?.path],
        ['execve', 'ENOENT', '/bin/nope'],
      );
      return err instanceof InvalidArgumentError;
    });
    await rt.stop(running.id, 0);
    await rt.delete(running.id);
    fs.rmSync(notNetns);
    assert.deepEqual(fs.readdirSync(containers).sort(), before);
  });

  test('bad input gets a clear error and leaves nothing behind', async () => {
    const containers = path.join(stateDir, 'containers');
    const before = fs.readdirSync(containers).sort();
    const missingCommand = containerConfig(['/bin/does-not-exist']);
    await assert.rejects(
      rt.run(missingCommand),
      (err: Error) => err instanceof InvalidArgumentError && /does-not-exist/.test(err.message),
    );
    const missingRoot = containerConfig(['true'], { layers: ['/nonexistent/rootfs'] });
    await assert.rejects(rt.run(missingRoot), /nonexistent\/rootfs/);
    await assert.rejects(
      rt.run(containerConfig(['true'], { limits: { memoryBytes: 12 } })),
      InvalidArgumentError,
    );
    await assert.rejects(
      rt.run(containerConfig(['true'], { id: '../escape' })),
      InvalidArgumentError,
    );
    assert.throws(() => rt.info(missingCommand.id), NotFoundError);
    assert.deepEqual(fs.readdirSync(containers).sort(), before);
    const layout = detectCgroupLayout();
    for (const id of [missingCommand.id, missingRoot.id]) {
      for (const mount of layout.v1.values())
        assert.ok(!fs.existsSync(path.join(mount, cgroupParent, id)));
    }
  });
});

describe('container runtime without cgroup2 (pure v1 layout)', { skip }, () => {
  test('freezer, limits and OOM work through the v1 controllers alone', async () => {
    const stateDir = tempStateDir('v1');
    const layout = { ...detectCgroupLayout(), v2: undefined };
    const cgroupParent = runName('v1');
    const rt = await ContainerRuntime.open({
      stateDir,
      cgroupParent,
      cgroupLayout: layout,
    });
    try {
      const config = containerConfig(['sleep', '60']);
      await rt.run(config);
      const freezerState = path.join(
        layout.v1.get('freezer')!,
        cgroupParent,
        config.id,
        'freezer.state',
      );
      await rt.pause(config.id);
      assert.equal(fs.readFileSync(freezerState, 'utf8').trim(), 'FROZEN');
      assert.equal((await rt.stop(config.id, 200)).code, 137);
      await rt.delete(config.id);
      const hog = containerConfig(['probe', 'memhog', '256'], {
        limits: { memoryBytes: 32 << 20 },
      });
      await rt.run(hog);
      assert.equal((await rt.wait(hog.id)).oomKilled, true);
      await rt.delete(hog.id);
    } finally {
      await rt.shutdown();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

test(
  'a container that dies while a new process adopts it is seen to exit',
  // Ten starts and adoptions: a busy host needs seconds for each; a lost exit hangs for good.
  { skip, timeout: 120_000 },
  async () => {
    const stateDir = tempStateDir('adopt-race');
    const opts = { stateDir, cgroupParent: runName('adopt-race') };
    let rt = await ContainerRuntime.open(opts);
    try {
      // The kill races the monitor's list reply: repeated, so that the
      // exit lands both before and after the new process's table is built.
      for (let i = 0; i < 10; i++) {
        const config = containerConfig(['sleep', '60']);
        const { pid } = await rt.run(config);
        await rt.close();
        process.kill(pid!, 'SIGKILL');
        rt = await ContainerRuntime.open(opts);
        const exit = await rt.wait(config.id);
        assert.equal(exit.signal, 9);
        await rt.delete(config.id);
      }
    } finally {
      await rt.shutdown();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);
