/**
 * Containers outlive the berth process that started them: after kill -9
 * of that process a new one re-adopts them, including an exit that
 * happened while no berth process was running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { needsRoot, processAlive, tempStateDir, waitFor, runName } from './harness';

test(
  'kill -9 of the berth process leaves containers running; a new process re-adopts them',
  { skip: needsRoot() },
  async () => {
    const stateDir = tempStateDir('survival');
    const cgroupParent = runName('survival');
    const holder = spawn(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'hold-containers.js'), stateDir, cgroupParent],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let rt: ContainerRuntime | undefined;
    try {
      const [line] = (await once(readline.createInterface({ input: holder.stdout! }), 'line')) as [
        string,
      ];
      const pids = JSON.parse(line) as { long: number; short: number; berth: number };

      holder.kill('SIGKILL');
      await once(holder, 'exit');
      assert.ok(processAlive(pids.long), 'the long-running container died with berth');
      assert.ok(processAlive(pids.short), 'the short container died with berth');

      // 'short' exits with 7 while no berth process is running.
      process.kill(pids.short, 'SIGUSR1');
      await waitFor('short container to exit', () => !processAlive(pids.short));

      rt = await ContainerRuntime.open({ stateDir, cgroupParent });
      const long = rt.info('long');
      assert.deepEqual([long.state, long.pid], ['running', pids.long]);
      const short = rt.info('short');
      assert.equal(short.state, 'exited');
      assert.equal(short.exit?.code, 7);
      assert.equal(short.exit?.oomKilled, false);
      assert.match(await rt.consoleOutput('short'), /finishing/);

      // The re-adopted container is fully manageable.
      assert.equal(
        (await rt.exec('long', ['cat', '/proc/1/cmdline'])).stdout.replace(/\0/g, ' ').trim(),
        'sleep 1000',
      );
      const exited = rt.wait('long');
      await rt.kill('long', 'SIGKILL');
      assert.equal((await exited).code, 137);
      await rt.delete('short');
      await rt.delete('long');
      assert.deepEqual(fs.readdirSync(path.join(stateDir, 'containers')), []);
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
      rt ??= await ContainerRuntime.open({ stateDir, cgroupParent });
      await rt.shutdown();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);
