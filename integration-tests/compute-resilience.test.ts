/**
 * The compute service under failure: kill -9 in the middle of builds, and
 * RabbitMQ restarted in the middle of builds. Afterwards every instance
 * exists exactly once and none is left in a task_state.
 */
import assert from 'node:assert/strict';
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
  queueConsumers,
  rabbitmqctl,
  type RunningCompute,
  startCompute,
  stopProcess,
  statusGet,
} from './compute-harness';
import { needsRoot, processAlive, tempStateDir, waitFor, runName } from './harness';

const COMPUTE_VERSION = '6.0';

/** A node, a stand-in control plane on berth's own transport, and cleanup. */
async function withNode(
  name: string,
  durable: boolean,
  body: (ctx: {
    node: ComputeNode;
    api: AmqpTransport;
    imageId: string;
    /** the running compute's status API: a restart moves it to a new port */
    statusUrl: () => string;
    restart: (signal?: NodeJS.Signals) => Promise<void>;
  }) => Promise<void>,
) {
  const vhost = runName(name);
  const node: ComputeNode = {
    host: vhost,
    stateDir: tempStateDir(name),
    cgroupParent: vhost,
    url: createVhost(vhost),
    durable,
  };
  const api = new AmqpTransport({
    transportUrl: node.url,
    controlExchange: 'nova',
    faults: NOVA_FAULTS,
    durableQueues: durable,
  });
  let compute: RunningCompute | undefined;
  try {
    await api.serve({ topic: 'conductor', server: 'it' }, [
      { version: '3.0', methods: { object_action: () => [{}, null] } },
    ]);
    const imageId = await importImage(node.stateDir, ['sh', '-c', 'while :; do sleep 1; done']);
    compute = await startCompute(node);
    const restart = async (signal: NodeJS.Signals = 'SIGKILL') => {
      await stopProcess(compute?.child, signal);
      compute = await startCompute(node);
    };
    await body({ node, api, imageId, statusUrl: () => compute!.statusUrl, restart });
  } finally {
    await stopProcess(compute?.child);
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
async function assertSettled(node: ComputeNode, statusUrl: string, uuids: string[]) {
  const settled = await waitFor(
    'all instances active',
    async () => {
      const all = await allInstances(statusUrl);
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

/** Waits until `count` builds are active, generously: on a busy host each takes seconds. */
function someActive(statusUrl: string, count: number) {
  return waitFor(
    `${count} builds active`,
    async () =>
      (await allInstances(statusUrl)).filter((i) => i.vm_state === 'active').length >= count,
    60000,
  );
}

describe('compute service resilience', { skip: needsRoot() }, () => {
  test('kill -9 during builds, then restart: no duplicate or orphan, nothing stuck in a task_state', async () => {
    await withNode('kill9', false, async ({ node, api, imageId, statusUrl, restart }) => {
      const uuids = await castBuilds(api, node, imageId, 12);
      await someActive(statusUrl(), 3);
      await restart('SIGKILL');
      await assertSettled(node, statusUrl(), uuids);
    });
  });

  test('RabbitMQ restarted in the middle of 50 builds with durable queues: all 50 exist once and are active', async () => {
    await withNode('durable', true, async ({ node, api, imageId, statusUrl }) => {
      const uuids = await castBuilds(api, node, imageId, 50);
      await someActive(statusUrl(), 5);
      rabbitmqctl('stop_app');
      await sleep(1000);
      rabbitmqctl('start_app');
      rabbitmqctl('await_startup');
      await assertSettled(node, statusUrl(), uuids);
    });
  });

  test('with non-durable queues the service reconnects by itself and serves new requests', async () => {
    await withNode('transient', false, async ({ node, api, imageId, statusUrl }) => {
      rabbitmqctl('stop_app');
      await sleep(1000);
      rabbitmqctl('start_app');
      rabbitmqctl('await_startup');
      await waitFor(
        'compute reconnected',
        async () => (await statusGet(`${statusUrl()}/healthz`)).ok,
        30000,
      );
      // The queues vanished with the broker; a cast sent before the compute has
      // declared its queue again would be dropped, so wait until it consumes.
      await waitFor(
        'the compute consuming again',
        () => api.connected && queueConsumers(node.url, `compute.${node.host}`) > 0,
        30000,
      );
      const [uuid] = await castBuilds(api, node, imageId, 1);
      await waitFor(
        'the build after the restart',
        async () =>
          (await allInstances(statusUrl())).some((i) => i.uuid === uuid && i.vm_state === 'active'),
        60000,
      );
    });
  });
});
