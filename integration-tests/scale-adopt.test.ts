/**
 * A compute restart on a full host kills nothing: 1000 containers started
 * through the runtime as the compute service does, the service killed with
 * kill -9, and a new one adopts every one of them, running. (The list that
 * tells the new process what runs was once cut at 8 KiB, about 180
 * containers, and the rest were killed as lost.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { MonitorClient } from '../driver/runtime/monitor-client';
import { ContainerRuntime } from '../driver/runtime/runtime';
import { needsRoot, processAlive, runName, tempStateDir } from './harness';

const COUNT = 1000;

/** The child's first line of output; fails if it exits first. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code, signal) => reject(new Error(`holder exited: ${code ?? signal}`)));
  });
}

function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

test(
  `${COUNT} containers survive kill -9 of the compute process and are all re-adopted`,
  { skip: needsRoot() },
  async (t) => {
    const stateDir = tempStateDir('scale');
    const cgroupParent = runName('scale');
    const holder = spawn(
      process.execPath,
      [
        path.join(__dirname, 'fixtures', 'hold-containers.js'),
        stateDir,
        cgroupParent,
        String(COUNT),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let rt: ContainerRuntime | undefined;
    try {
      const report = JSON.parse(await firstLine(holder)) as Record<string, number>;
      const { berth, startMs, ...pids } = report;
      assert.equal(Object.keys(pids).length, COUNT);
      t.diagnostic(`started ${COUNT} containers in ${startMs} ms (8 in flight)`);
      holder.kill('SIGKILL');
      await once(holder, 'exit');
      assert.equal(processAlive(berth), false);

      const started = process.hrtime.bigint();
      rt = await ContainerRuntime.open({ stateDir, cgroupParent });
      const adoptMs = Number(process.hrtime.bigint() - started) / 1e6;
      t.diagnostic(`re-adopted ${COUNT} running containers in ${adoptMs.toFixed(0)} ms`);

      const lost = Object.entries(pids).filter(([id, pid]) => {
        const info = rt!.info(id);
        return info.state !== 'running' || info.pid !== pid || !processAlive(pid);
      });
      assert.deepEqual(lost, [], 'every container is adopted running, with its own pid');

      const client = await MonitorClient.connect(stateDir);
      const { monitor, keeper } = await client.pids();
      client.close();
      const perInstance = ((rssKiB(monitor) + rssKiB(keeper)) / COUNT).toFixed(1);
      t.diagnostic(
        `monitor + keeper RSS: ${rssKiB(monitor)} + ${rssKiB(keeper)} KiB (${perInstance} KiB per instance)`,
      );
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
      rt ??= await ContainerRuntime.open({ stateDir, cgroupParent });
      await rt.shutdown();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);
