/**
 * `berth demo`: what `npm start` shows until the compute service exists —
 * one container on the test image taken through its lifecycle by the same
 * runtime the compute service uses, printing each step.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BerthConfig } from '../config/schema';
import { ImageCache } from '../driver/image/cache/image-cache';
import { rootfsLayers } from '../driver/image/cache/rootfs-source';
import { ContainerRuntime } from '../driver/runtime/runtime';

const say = (text: string) => process.stdout.write(`berth demo: ${text}\n`);

export async function demoCommand(image: string, config: BerthConfig): Promise<number> {
  const stateDir = config.DEFAULT.state_path;
  const [layer] = await rootfsLayers(new ImageCache(path.join(stateDir, 'images')), image);
  say(`image ${image} unpacked at ${layer}`);
  const rt = await ContainerRuntime.open({ stateDir, cgroupParent: config.compute.cgroup_parent });
  const id = `demo-${randomBytes(4).toString('hex')}`;
  try {
    const info = await rt.run({
      id,
      layers: [layer],
      command: [
        'sh',
        '-c',
        'echo "hello from $(hostname), I am pid $$"; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 1; done',
      ],
      hostname: 'demo',
      limits: { memoryBytes: 64 << 20, cpus: 0.5, pids: 64 },
      network: { mode: 'none' },
      consoleLog: {
        maxBytes: config.compute.console_log_max_bytes,
        backups: config.compute.console_log_backups,
      },
    });
    say(
      `container ${id} running as host pid ${info.pid} (memory 64 MiB, 0.5 cpu, 64 pids, no network)`,
    );
    await sleep(1500);
    const ps = await rt.exec(id, ['ps', '-o', 'pid,comm']);
    say(`exec ps inside it:\n${ps.stdout.trimEnd()}`);
    const stats = rt.stats(id);
    say(
      `cgroup usage: memory ${stats.memoryBytes} bytes, cpu ${stats.cpuNanos} ns, ${stats.pids} pids`,
    );
    await rt.pause(id);
    say(`paused: state=${rt.info(id).state}`);
    await rt.unpause(id);
    say(`unpaused: state=${rt.info(id).state}`);
    const exit = await rt.stop(id, 1000);
    say(`stopped: exit code ${exit.code}${exit.signal ? ` (signal ${exit.signal})` : ''}`);
    say(`console log:\n${(await rt.consoleOutput(id)).trimEnd()}`);
    await rt.delete(id);
    say('removed: no cgroups, mounts or files of it remain');
    return 0;
  } finally {
    if (rt.has(id)) {
      await rt.stop(id, 0).catch(() => undefined);
      await rt.delete(id).catch(() => undefined);
    }
    // The monitor stays only while it owns containers.
    if (rt.list().length === 0) await rt.shutdown();
    else await rt.close();
  }
}
