/**
 * No single process's death loses an instance: kill -9 of berth-monitor
 * (here while its keeper is held stopped, so that the outage is real) leaves
 * the workloads running, their console output captured without a gap and
 * an exit that happened meanwhile recorded; the runtime reconnects to the
 * new monitor by itself, and a new process adopts everything.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MonitorClient } from '../driver/runtime/monitor-client';
import { ContainerRuntime, type ExitStatus } from '../driver/runtime/runtime';
import {
  containerConfig,
  needsRoot,
  processAlive,
  runName,
  tempStateDir,
  waitFor,
} from './harness';

/** The state letter of /proc/<pid>/stat (R, S, Z, T...), or undefined once it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

function hostUptime(): number {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

async function monitorPids(stateDir: string) {
  const client = await MonitorClient.connect(stateDir);
  try {
    return await client.pids();
  } finally {
    client.close();
  }
}

/** Lines `<n> <uptime>` of the printer; asserts none is missing and no two are over `maxGap` s apart. */
function assertNoGap(log: string, maxGap: number): { lines: number; last: number } {
  const lines = log
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  for (let i = 1; i < lines.length; i++) {
    assert.equal(lines[i][0], lines[i - 1][0] + 1, `line ${lines[i - 1][0] + 1} was lost`);
    const gap = lines[i][1] - lines[i - 1][1];
    assert.ok(
      gap <= maxGap,
      `${gap.toFixed(2)} s between lines ${lines[i - 1][0]} and ${lines[i][0]}`,
    );
  }
  return { lines: lines.length, last: lines[lines.length - 1][1] };
}

const SLEEPERS = 47;

describe('berth-monitor killed with 50 instances running', { skip: needsRoot() }, () => {
  let stateDir: string;
  let cgroupParent: string;
  let rt: ContainerRuntime;
  const exits = new Map<string, ExitStatus>();

  before(async () => {
    stateDir = tempStateDir('monitor-death');
    cgroupParent = runName('monitor-death');
    rt = await ContainerRuntime.open({ stateDir, cgroupParent });
    rt.onExit((id, status) => exits.set(id, status));
  });

  after(async () => {
    await rt?.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('every instance survives, the console has no gap, an exit meanwhile is recorded', async (t) => {
    const sleepers = [];
    for (let i = 0; i < SLEEPERS; i++)
      sleepers.push(await rt.run(containerConfig(['sleep', '100000'], { id: `sleeper-${i}` })));
    const printer = await rt.run(
      containerConfig(
        [
          'sh',
          '-c',
          'i=0; while :; do echo "$i $(cut -d" " -f1 /proc/uptime)"; i=$((i+1)); sleep 0.1; done',
        ],
        { id: 'printer' },
      ),
    );
    // Ends (code 7) when the test says so, while no monitor runs.
    const ender = await rt.run(
      containerConfig(
        ['sh', '-c', 'trap "exit 7" USR1; echo armed; while :; do sleep 0.05; done'],
        {
          id: 'ender',
        },
      ),
    );
    const killed = await rt.run(containerConfig(['sleep', '100000'], { id: 'killed-later' }));
    await waitFor('the USR1 trap', async () => (await rt.consoleOutput('ender')).includes('armed'));
    const before = await monitorPids(stateDir);
    assert.ok(before.keeper > 0, 'the monitor runs under a keeper');

    // Hold the keeper so that no new monitor starts, then kill the monitor.
    process.kill(before.keeper, 'SIGSTOP');
    try {
      process.kill(before.monitor, 'SIGKILL');
      await waitFor('the monitor to die', () => procState(before.monitor) === 'Z');
      process.kill(ender.pid!, 'SIGUSR1');
      // A zombie: it ended while no monitor ran, and its parent is now the keeper.
      await waitFor('the ender to end', () => procState(ender.pid!) === 'Z');
      // The outage itself: long enough that a lost or blocked console would show a gap.
      await sleep(2000);
    } finally {
      process.kill(before.keeper, 'SIGCONT');
    }
    const outageEnd = hostUptime();

    // The runtime noticed the closed connection and re-adopted from the new monitor.
    await waitFor('the exit to be recorded', () => exits.get('ender'), 60000);
    assert.equal(exits.get('ender')?.code, 7);
    const afterPids = await monitorPids(stateDir);
    assert.equal(afterPids.keeper, before.keeper);
    assert.notEqual(afterPids.monitor, before.monitor);
    for (const c of [...sleepers, printer, killed]) {
      const info = rt.info(c.id);
      assert.deepEqual([info.state, info.pid], ['running', c.pid], c.id);
      assert.ok(processAlive(c.pid!), `${c.id} is alive`);
    }

    // An adopted container is still fully managed: signalled, and its end reported.
    const ended = rt.wait('killed-later');
    await rt.kill('killed-later', 'SIGKILL');
    assert.equal((await ended).code, 137);

    // What the printer wrote during the outage was kept and it never blocked.
    const log = await waitFor('console output from after the outage', async () => {
      const text = await rt.consoleOutput('printer');
      return assertNoGap(text, 1).last > outageEnd + 1 ? text : undefined;
    });
    const { lines } = assertNoGap(log, 1);
    t.diagnostic(`printer: ${lines} lines, none lost, no gap over 1 s`);

    // The next start of a berth process adopts all of it.
    await rt.close();
    rt = await ContainerRuntime.open({ stateDir, cgroupParent });
    for (const c of [...sleepers, printer]) assert.equal(rt.info(c.id).state, 'running', c.id);
    assert.equal(rt.info('ender').exit?.code, 7);
    assert.equal(rt.info('killed-later').exit?.code, 137);
  });

  test('kill -9 of the keeper leaves the monitor and its containers serving', async () => {
    const { monitor, keeper } = await monitorPids(stateDir);
    process.kill(keeper, 'SIGKILL');
    await waitFor('the keeper to be gone', async () => (await monitorPids(stateDir)).keeper === 0);
    assert.ok(processAlive(monitor));
    const late = await rt.run(containerConfig(['sh', '-c', 'exit 3'], { id: 'after-keeper' }));
    assert.equal((await rt.wait(late.id)).code, 3);
    assert.equal(rt.info('sleeper-0').state, 'running');
  });
});
