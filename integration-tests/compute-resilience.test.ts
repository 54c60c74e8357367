/**
 * The compute service under failure: kill -9 in the middle of builds, and
 * RabbitMQ restarted in the middle of builds. Afterwards every instance
 * exists exactly once and none is left in a task_state.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { detectCgroupLayout } from '../driver/runtime/cgroups';
import { AmqpTransport } from '../messaging/amqp-transport';
import { NOVA_FAULTS } from '../nova/faults';
import {
  allInstances,
  cleanUpNode,
  type ComputeNode,
  createVhost,
  importImage,
  novaInstance,
  rabbitmqctl,
  startCompute,
  stopProcess,
} from './compute-harness';
import { needsRoot, processAlive, tempStateDir, waitFor } from './harness';

const COMPUTE_VERSION = '6.0';

/** A node, a stand-in control plane on berth's own transport, and cleanup. */
async function withNode(
  name: string,
  durable: boolean,
  body: (ctx: {
    node: ComputeNode;
    api: AmqpTransport;
    imageId: string;
    restart: (signal?: NodeJS.Signals) => Promise<void>;
  }) => Promise<void>,
) {
  const vhost = `berth-it-${name}-${process.pid}`;
  const node: ComputeNode = {
    host: `berth-it-${name}-${process.pid}`,
    stateDir: tempStateDir(name),
    statusPort: 20000 + ((process.pid + name.length * 7) % 20000),
    cgroupParent: `berth-it-${name}-${process.pid}`,
    url: createVhost(vhost),
    durable,
  };
  const api = new AmqpTransport({
    transportUrl: node.url,
    controlExchange: 'nova',
    faults: NOVA_FAULTS,
    durableQueues: durable,
  });
  let compute: ChildProcess | undefined;
  try {
    await api.serve({ topic: 'conductor', server: 'it' }, [
      { version: '3.0', methods: { object_action: () => [{}, null] } },
    ]);
    const imageId = await importImage(node.stateDir, ['sh', '-c', 'while :; do sleep 1; done']);
    compute = await startCompute(node);
    const restart = async (signal: NodeJS.Signals = 'SIGKILL') => {
      await stopProcess(compute, signal);
      compute = await startCompute(node);
    };
    await body({ node, api, imageId, restart });
  } finally {
    await stopProcess(compute);
    await api.close();
    await cleanUpNode(node, vhost);
    fs.rmSync(node.stateDir, { recursive: true, force: true });
  }
}

async function castBuilds(api: AmqpTransport, node: ComputeNode, imageId: string, count: number) {
  const uuids = Array.from({ length: count }, () => randomUUID());
  for (const [i, uuid] of uuids.entries()) {
    await api.cast(
      { topic: 'compute', server: node.host, version: COMPUTE_VERSION },
      'build_and_run_instance',
      {
        instance: novaInstance(uuid, 1000 + i, imageId),
        image: { id: imageId, properties: {} },
      },
    );
  }
  return uuids;
}

/** Every instance settled, exactly once, with exactly one running container each and nothing else. */
async function assertSettled(node: ComputeNode, uuids: string[]) {
  const settled = await waitFor(
    'all instances active',
    async () => {
      const all = await allInstances(node.statusPort);
      return all.length === uuids.length &&
        all.every((i) => i.vm_state === 'active' && i.task_state === null)
        ? all
        : undefined;
    },
    120000,
  );
  assert.deepEqual(settled.map((i) => i.uuid).sort(), [...uuids].sort());
  const pids = settled.map((i) => i.pid!);
  assert.ok(pids.every(processAlive), 'an active instance has no running container');
  assert.equal(new Set(pids).size, uuids.length, 'two instances share a container');
  assert.deepEqual(
    fs.readdirSync(path.join(node.stateDir, 'containers')).sort(),
    [...uuids].sort(),
    'orphan or missing container',
  );
  const layout = detectCgroupLayout();
  const hierarchies = new Set([...layout.v1.values(), ...(layout.v2 ? [layout.v2.mount] : [])]);
  for (const mount of hierarchies) {
    // Only the hierarchies this host's containers use have the parent.
    if (!fs.existsSync(path.join(mount, node.cgroupParent))) continue;
    const groups = fs.readdirSync(path.join(mount, node.cgroupParent), { withFileTypes: true });
    const dirs = groups.filter((d) => d.isDirectory()).map((d) => d.name);
    assert.deepEqual(dirs.sort(), [...uuids].sort(), `orphan or missing cgroup under ${mount}`);
  }
}

describe('compute service resilience', { skip: needsRoot() }, () => {
  test('kill -9 during builds, then restart: no duplicate or orphan, nothing stuck in a task_state', async () => {
    await withNode('kill9', false, async ({ node, api, imageId, restart }) => {
      const uuids = await castBuilds(api, node, imageId, 12);
      await waitFor(
        'some builds done',
        async () =>
          (await allInstances(node.statusPort)).filter((i) => i.vm_state === 'active').length >= 3,
      );
      await restart('SIGKILL');
      await assertSettled(node, uuids);
    });
  });

  test('RabbitMQ restarted in the middle of 50 builds with durable queues: all 50 exist once and are active', async () => {
    await withNode('durable', true, async ({ node, api, imageId }) => {
      const uuids = await castBuilds(api, node, imageId, 50);
      await waitFor(
        'some builds done',
        async () =>
          (await allInstances(node.statusPort)).filter((i) => i.vm_state === 'active').length >= 5,
      );
      rabbitmqctl('stop_app');
      await sleep(1000);
      rabbitmqctl('start_app');
      rabbitmqctl('await_startup');
      await assertSettled(node, uuids);
    });
  });

  test('with non-durable queues the service reconnects by itself and serves new requests', async () => {
    await withNode('transient', false, async ({ node, api, imageId }) => {
      rabbitmqctl('stop_app');
      await sleep(1000);
      rabbitmqctl('start_app');
      rabbitmqctl('await_startup');
      await waitFor(
        'compute reconnected',
        async () => (await fetch(`http://127.0.0.1:${node.statusPort}/healthz`)).ok,
        30000,
      );
      const uuids = await waitFor(
        'a build after the restart',
        async () => {
          // The queues vanished with the broker; a cast sent before the server re-declared them is lost.
          const sent = await castBuilds(api, node, imageId, 1);
          await sleep(2000);
          const all = await allInstances(node.statusPort);
          return all.some((i) => i.uuid === sent[0] && i.vm_state === 'active') ? sent : undefined;
        },
        60000,
      );
      assert.equal(uuids.length, 1);
    });
  });
});
