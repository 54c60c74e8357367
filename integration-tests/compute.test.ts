/**
 * `berth compute` driven over a real RabbitMQ by Debian's oslo.messaging as
 * nova-api/nova-conductor would drive it: real containers start, print,
 * change state and are removed. Each run gets its own RabbitMQ vhost, so it
 * never meets a real deployment's queues, and deletes it at the end.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import {
  cleanUpNode,
  createVhost,
  importImage,
  instanceStatus,
  novaInstance,
  type RunningCompute,
  startCompute,
  stopProcess,
} from './compute-harness';
import { needsRoot, processAlive, tempStateDir, waitFor, runName } from './harness';

const PYTHON = '/usr/bin/python3';
const PEER = path.join(__dirname, '..', '..', 'integration-tests', 'fixtures', 'nova_peer.py');
const skip = needsRoot() ?? (fs.existsSync(PYTHON) ? undefined : 'Debian python3 missing');

type PeerLine = Record<string, unknown> & { kind: string };

describe('berth compute with oslo.messaging peers', { skip }, () => {
  const vhost = runName('compute');
  const exchange = 'nova';
  const host = runName('node');
  const stateDir = tempStateDir('compute');
  const seen: PeerLine[] = [];
  let controlPlane: ChildProcess;
  let compute: RunningCompute | undefined;
  let imageId: string;

  function peer(
    mode: 'cast' | 'call',
    method: string,
    args: Record<string, unknown>,
    timeout = 30,
  ): PeerLine {
    const out = execFileSync(
      PYTHON,
      [PEER, node.url, exchange, mode, host, method, JSON.stringify(args), String(timeout)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    return JSON.parse(out.trim().split('\n').at(-1)!) as PeerLine;
  }

  const status = async (uuid: string) => {
    const r = await instanceStatus(compute!.statusUrl, uuid);
    return { code: r.code, body: { instance: r.instance as unknown as Record<string, unknown> } };
  };
  const instance = (uuid: string, id: number) => novaInstance(uuid, id, imageId);

  const waitSeen = (what: string, match: (l: PeerLine) => boolean) =>
    waitFor(what, () => seen.find(match), 20000);

  const node = {
    host,
    stateDir,
    url: '',
    cgroupParent: runName('compute'),
  };

  before(async () => {
    node.url = createVhost(vhost);
    imageId = await importImage(stateDir, [
      'sh',
      '-c',
      'echo booted on $(hostname); while :; do sleep 1; done',
    ]);
    controlPlane = spawn(PYTHON, [PEER, node.url, exchange, 'control-plane'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    readline
      .createInterface({ input: controlPlane.stdout! })
      .on('line', (line) => seen.push(JSON.parse(line) as PeerLine));
    await waitSeen('control plane ready', (l) => l.kind === 'ready');
    compute = await startCompute(node);
  });

  after(async () => {
    await stopProcess(compute?.child);
    controlPlane?.stdin?.end();
    if (controlPlane && controlPlane.exitCode === null) await once(controlPlane, 'exit');
    await cleanUpNode(node, vhost);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('heartbeats with the host resources reach the conductor', async () => {
    await waitSeen('Service heartbeat', (l) => l.obj === 'Service' && Number(l.report_count) >= 1);
    await waitSeen('ComputeNode report', (l) => l.obj === 'ComputeNode');
  });

  test('build, console output, power actions and terminate, end to end on a real container', async () => {
    const uuid = randomUUID();
    const inst = instance(uuid, 101);
    assert.equal(
      peer('cast', 'build_and_run_instance', {
        instance: inst,
        image: { id: imageId, properties: {} },
      }).kind,
      'sent',
    );
    await waitSeen(
      'active reported',
      (l) => l.kind === 'object_action' && l.uuid === uuid && l.vm_state === 'active',
    );
    await waitSeen('create.end', (l) => l.event_type === 'instance.create.end' && l.uuid === uuid);
    const running = await status(uuid);
    assert.equal(running.body.instance!.power_state, 1);
    assert.ok(processAlive(Number(running.body.instance!.pid)), 'container process not running');

    const out = await waitFor('console output', () => {
      const r = peer('call', 'get_console_output', { instance: inst, tail_length: 5 });
      return r.kind === 'result' && String(r.result).includes('booted on vm-101') ? r : undefined;
    });
    assert.equal(out?.kind, 'result');

    const steps: [string, Record<string, unknown>, string, number][] = [
      ['stop_instance', { clean_shutdown: true }, 'stopped', 4],
      ['start_instance', {}, 'active', 1],
      ['pause_instance', {}, 'paused', 3],
      ['unpause_instance', {}, 'active', 1],
      ['suspend_instance', {}, 'suspended', 7],
      ['resume_instance', {}, 'active', 1],
      ['reboot_instance', { reboot_type: 'SOFT', block_device_info: null }, 'active', 1],
      ['reboot_instance', { reboot_type: 'HARD', block_device_info: null }, 'active', 1],
    ];
    for (const [method, args, vmState, power] of steps) {
      const r = peer('call', method, { instance: inst, ...args });
      assert.equal(r.kind, 'result', `${method}: ${JSON.stringify(r)}`);
      const s = (await status(uuid)).body.instance!;
      assert.deepEqual([s.vm_state, s.task_state, s.power_state], [vmState, null, power], method);
    }

    const refused = peer('call', 'unpause_instance', { instance: inst });
    assert.deepEqual([refused.kind, refused.exc_type], ['failure', 'InstanceInvalidState']);

    const diag = peer('call', 'get_instance_diagnostics', { instance: inst });
    assert.equal((diag.result as Record<string, string>)['nova_object.name'], 'Diagnostics');
    assert.equal(peer('call', 'get_host_uptime', {}).kind, 'result');

    assert.equal(peer('cast', 'terminate_instance', { instance: inst, bdms: null }).kind, 'sent');
    await waitSeen('delete.end', (l) => l.event_type === 'instance.delete.end' && l.uuid === uuid);
    await waitFor('instance gone', async () => (await status(uuid)).code === 404);
    assert.equal(fs.existsSync(path.join(stateDir, 'containers', uuid)), false);
    for (const phase of [
      'instance.create.start',
      'instance.power_off.end',
      'instance.pause.end',
      'instance.suspend.end',
      'instance.reboot.end',
      'instance.delete.start',
    ])
      assert.ok(
        seen.some((l) => l.event_type === phase && l.uuid === uuid),
        `no ${phase} notification`,
      );
    assert.ok(seen.some((l) => l.publisher_id === `nova-compute:${host}`));
  });

  test('malformed requests get failures for calls, and the service keeps serving', async () => {
    const missing = peer('call', 'stop_instance', {});
    assert.equal(missing.kind, 'failure');
    const wrongType = peer('call', 'stop_instance', { instance: 'not an object' });
    assert.deepEqual([wrongType.kind, wrongType.exc_type], ['failure', 'InvalidInput']);
    const newer = instance(randomUUID(), 7);
    newer['nova_object.version'] = '3.0';
    assert.deepEqual(
      peer('call', 'get_console_output', { instance: newer }).exc_type,
      'IncompatibleObjectVersion',
    );
    assert.equal(peer('call', 'no_such_method', {}).exc_type, 'NoSuchMethod');
    assert.equal(peer('cast', 'stop_instance', { instance: 42 }).kind, 'sent'); // logged and dropped
    assert.equal(peer('call', 'get_host_uptime', {}).kind, 'result');
  });

  test('a workload that cannot start: syscall, errno and path in the instance fault and the error notification', async () => {
    const uuid = randomUUID();
    peer('cast', 'build_and_run_instance', {
      instance: instance(uuid, 203),
      image: { id: imageId, properties: { os_command_line: '/bin/nope' } },
    });
    const saved = await waitSeen(
      'error reported',
      (l) => l.kind === 'object_action' && l.uuid === uuid && l.vm_state === 'error',
    );
    const notified = await waitSeen(
      'create.error',
      (l) => l.event_type === 'instance.create.error' && l.uuid === uuid,
    );
    const shown = (await status(uuid)).body.instance!.fault as { message: string };
    for (const [where, text] of [
      ['the instance saved to the conductor', JSON.stringify(saved?.fault)],
      ['the create.error notification', JSON.stringify(notified?.fault)],
      ['the status API', shown.message],
    ])
      assert.match(text, /execve '\/bin\/nope'.*No such file or directory \(ENOENT\)/, where);
    assert.equal(fs.existsSync(path.join(stateDir, 'containers', uuid)), false);
  });

  test('a build that fails leaves nothing behind and reports ERROR with a fault', async () => {
    const uuid = randomUUID();
    const inst = instance(uuid, 202);
    inst['nova_object.data'].image_ref = randomUUID();
    peer('cast', 'build_and_run_instance', {
      instance: inst,
      image: { id: inst['nova_object.data'].image_ref },
    });
    await waitSeen(
      'error reported',
      (l) => l.kind === 'object_action' && l.uuid === uuid && l.vm_state === 'error',
    );
    const err = await waitSeen(
      'create.error',
      (l) => l.event_type === 'instance.create.error' && l.uuid === uuid,
    );
    assert.ok(err?.fault, 'create.error carries the fault');
    const s = (await status(uuid)).body.instance!;
    assert.equal(s.vm_state, 'error');
    assert.ok((s.fault as { message: string }).message.length > 0);
    assert.equal(fs.existsSync(path.join(stateDir, 'containers', uuid)), false);
  });
});
